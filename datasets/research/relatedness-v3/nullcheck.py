"""Null check: model labels permuted per probe (one permutation per probe, the same for every
signal, so an answer keeps its content and style together). No pair is related by construction:
the fused z must stay calibrated (median ~0, lower-half robust SD ~1), about 0 pairs at q < 0.05,
and the tree must be all singletons. Usage: python nullcheck.py CONTENT [REPS]"""
import sys
from pathlib import Path

import numpy as np

import core
import run
import signals

HERE = Path(__file__).parent


def permute(E, perms):
    out = np.empty_like(E)
    for p, pi in enumerate(perms):
        out[p] = E[p][np.ix_(pi, pi)]
    return out


def main(content, reps=20):
    lines = [f"# Null check (labels permuted per probe), content = {content}, {reps} permutations per set", "",
             "| set | pairs | signal | median z | lower-half robust SD of z | share q<0.05 (mean, max) | z > 3 share | non-singleton families near/close/vendor (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    for s in core.SETS:
        Ec, Es = signals.residuals(s, content), signals.residuals(s, "style")
        P, M, _ = Ec.shape
        iu = np.triu_indices(M, 1)
        acc = {k: [] for k in ("content", "style", "fused")}
        for _ in range(reps):
            perms = [rng.permutation(M) for _ in range(P)]
            zc = core.calibrate(permute(Ec, perms))["z"]
            zs = core.calibrate(permute(Es, perms))["z"]
            zf = core.fuse([zc, zs])[0]
            for k, Z in (("content", zc), ("style", zs), ("fused", zf)):
                z = Z[iu]
                z = z[~np.isnan(z)]
                q = core.bh(core.norm_sf(z))
                med = np.median(z)
                rsd = (med - np.quantile(z, 0.25)) / core.Q3N
                t = run.tree(Z, M, 0.2)
                nfam = [sum(1 for l in set(t[lev]) if (t[lev] == l).sum() > 1) for lev in ("near", "close", "vendor")]
                acc[k].append((med, rsd, (q < 0.05).mean(), (z > 3).mean(), *nfam))
        for k, v in acc.items():
            v = np.array(v)
            lines.append(f"| {s} | {len(iu[0])} | {k} | {v[:, 0].mean():+.3f} | {v[:, 1].mean():.3f} | "
                         f"{v[:, 2].mean():.4f}, {v[:, 2].max():.4f} | {v[:, 3].mean():.4f} | "
                         f"{v[:, 4].mean():.2f}/{v[:, 5].mean():.2f}/{v[:, 6].mean():.2f} |")
        print("\n".join(lines[-3:]), flush=True)
    (HERE / "results" / f"nullcheck_{content}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20)
