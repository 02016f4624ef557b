"""The SPEC's worked example: 5 models x 6 probes, made-up style features and content
similarities, every intermediate value printed to 1e-9. The minimums (30 common probes, 12
models) are waived for the example. Usage: python worked_example.py > results/worked_example.txt"""
import math

import numpy as np

import core

np.set_printoptions(precision=9, suppress=True, linewidth=160, floatmode="fixed")
M, P = 5, 6
MODELS = ["m0", "m1", "m2", "m3", "m4"]

# Raw style features per (probe, model): three numeric columns, f1 and f2 in group "A", f3 in group "B".
F = np.array([
    # m0              m1              m2              m3              m4
    [[1.0, 0.0, 2.0], [1.1, 0.0, 2.2], [3.0, 1.0, 0.0], [0.5, 2.0, 1.0], [2.0, 1.0, 1.0]],
    [[2.0, 1.0, 1.0], [2.2, 1.0, 1.1], [0.0, 3.0, 2.0], [1.0, 1.0, 0.0], [1.0, 2.0, 0.5]],
    [[0.0, 2.0, 3.0], [0.2, 2.0, 2.8], [1.0, 0.0, 1.0], [2.0, 0.0, 2.0], [0.5, 0.5, 2.5]],
    [[1.5, 0.5, 0.0], [1.4, 0.7, 0.2], [2.0, 2.0, 2.0], [0.0, 1.0, 3.0], [1.0, 1.5, 0.0]],
    [[3.0, 0.0, 1.0], [2.8, 0.2, 1.0], [0.0, 1.0, 0.0], [1.0, 3.0, 1.0], [2.5, 0.0, 1.5]],
    [[0.5, 1.5, 2.0], [0.6, 1.4, 2.0], [2.5, 0.5, 0.5], [3.0, 0.0, 0.0], [0.0, 2.0, 1.0]],
])
GROUPS = ["A", "A", "B"]
OPENER = [["sure", "sure", "the", "here", "the"],
          ["the", "the", "sure", "the", "here"],
          ["here", "here", "the", "the", "sure"],
          ["sure", "the", "the", "here", "the"],
          ["the", "the", "here", "sure", "the"],
          ["sure", "sure", "the", "the", "here"]]
CLOSER = [["hope", "hope", "the", "it", "it"],
          ["let", "let", "it", "the", "the"],
          ["the", "hope", "it", "it", "the"],
          ["hope", "hope", "the", "let", "it"],
          ["it", "it", "the", "the", "hope"],
          ["hope", "let", "it", "the", "the"]]
# Content similarity per probe (the mean cosine of the two models' answers), made up, symmetric.
rng = np.random.default_rng(7)
SC = np.zeros((P, M, M))
for p in range(P):
    A = np.round(rng.uniform(0.30, 0.60, size=(M, M)), 3)
    A = np.triu(A, 1)
    A = A + A.T
    A[0, 1] = A[1, 0] = round(A[0, 1] + 0.40, 3)   # m0 ~ m1 in content too
    A[2, 4] = A[4, 2] = round(A[2, 4] + 0.15, 3)   # m2 ~ m4 a little
    np.fill_diagonal(A, 1.0)
    SC[p] = A


def show(name, x):
    print(f"{name} =")
    print(np.array2string(np.asarray(x, float), precision=9, floatmode="fixed"))


def main():
    print("# inputs")
    for p in range(P):
        print(f"probe {p}: style rows (f1, f2, f3, opener, closer) per model:")
        for m in range(M):
            print(f"  {MODELS[m]}: {F[p, m].tolist()} {OPENER[p][m]!r} {CLOSER[p][m]!r}")
        show(f"  content S_{p}", SC[p])
    print("\n# step S1: style scaling over all P*M answers")
    X = F.reshape(P * M, 3)
    mu, sd = X.mean(0), X.std(0)
    show("mean", mu)
    show("population SD", sd)
    Xs = np.clip((X - mu) / sd, -4, 4)
    show("standardised, clipped x (rows: probe-major, model-minor)", Xs)
    G = len(set(GROUPS)) + 2
    size = {g: GROUPS.count(g) for g in set(GROUPS)}
    w = np.array([1.0 / (G * size[g]) for g in GROUPS])
    print(f"G (groups incl. 2 identity blocks) = {G}")
    show("w_f", w)
    ops = [o for row in OPENER for o in row]
    cls = [c for row in CLOSER for c in row]

    def ident_w(vals):
        _, cnt = np.unique(vals, return_counts=True)
        pk = cnt / cnt.sum()
        het = 1.0 - (pk ** 2).sum()
        print(f"  word shares {dict(zip(*np.unique(vals, return_counts=True)))} -> 1 - sum p^2 = {het:.9f}")
        return (1.0 / G) / het if het > 1e-9 else 0.0
    w_op, w_cl = ident_w(ops), ident_w(cls)
    print(f"w_opener = {w_op:.9f}, w_closer = {w_cl:.9f}")
    Xs = Xs.reshape(P, M, 3)
    SS = np.zeros((P, M, M))
    for p in range(P):
        Xw = Xs[p] * np.sqrt(w)
        o = np.array(OPENER[p])
        c = np.array(CLOSER[p])
        SS[p] = Xw @ Xw.T + w_op * (o[:, None] == o[None, :]) + w_cl * (c[:, None] == c[None, :])
    print("\n# step S2: per-probe style similarity S_p(a,b) = sum_f w_f x_af x_bf + w_op [op_a = op_b] + w_cl [cl_a = cl_b]")
    for p in range(P):
        show(f"S_style_{p}", SS[p])
    print("\n# step 1: double centring per probe (diagonal ignored)")
    out = {}
    for name, S in (("content", SC), ("style", SS)):
        E = core.double_centre(S.copy())
        for p in range(P):
            show(f"e_{name}_{p}", np.nan_to_num(E[p]))
        n, d, se = core.pair_stats(E)
        print(f"\n# steps 2-3: pair statistics, {name}")
        show(f"n_{name}", n)
        show(f"d_{name}", np.nan_to_num(d))
        show(f"se_{name}", np.nan_to_num(se))
        iu = np.triu_indices(M, 1)
        mu0, tau0 = core.re_null(d[iu], se[iu])
        print(f"\n# step 4: null, {name}: mu0 = {mu0:.9f}, tau0 = {tau0:.9f}")
        z = (d - mu0) / np.sqrt(tau0 ** 2 + se ** 2)
        np.fill_diagonal(z, np.nan)
        show(f"z_{name}", np.nan_to_num(z))
        out[name] = z
    print("\n# step 5: fusion (Stouffer with the run's correlation of the signals' z over pairs)")
    Z, R, wv = core.fuse([out["content"], out["style"]])
    iu = np.triu_indices(M, 1)
    r = R[0, 1]
    print(f"r = corr(z_content, z_style) over the {len(iu[0])} pairs, clamped to [0, 1] = {r:.9f}")
    print(f"denominator sqrt(1' R 1) = sqrt(2 + 2 r) = {math.sqrt(2 + 2 * min(max(r, 0), 1)):.9f}")
    show("z_fused", np.nan_to_num(Z))
    p = core.norm_sf(Z[iu])
    q = core.bh(p)
    print("pairs (a, b): z_content, z_style, z_fused, p, q, carried by (share of z_fused)")
    den = math.sqrt(2 + 2 * min(max(r, 0), 1))
    for k, (a, b) in enumerate(zip(*iu)):
        cc, cs = out["content"][a, b] / den, out["style"][a, b] / den
        carried = "content" if cc >= cs else "style"
        share = max(cc, cs) / Z[a, b] if Z[a, b] > 0 else float("nan")
        print(f"  ({MODELS[a]}, {MODELS[b]}): {out['content'][a, b]:.9f} {out['style'][a, b]:.9f} {Z[a, b]:.9f} "
              f"{p[k]:.9e} {q[k]:.9e} " + (f"{carried} ({share:.9f})" if Z[a, b] > 0 else "-"))
    print("\n# step 6: tree (average linkage on D = zmax + 1 - z_fused)")
    Lk, top = core.dendrogram(Z)
    print(f"zmax + 1 = {top:.9f}")
    for k, (a, b, h, c) in enumerate(Lk):
        print(f"  merge {k}: clusters {int(a)} + {int(b)} -> {M + k}, height {h:.9f}, mean z {top - h:.9f}, size {int(c)}")
    order = np.argsort(p, kind="stable")
    print("BH: pairs by p ascending (rank, pair, p, p*K/rank, q)")
    K = len(p)
    for i, k in enumerate(order):
        print(f"  {i + 1}: ({MODELS[iu[0][k]]}, {MODELS[iu[1][k]]}) {p[k]:.9e} {p[k] * K / (i + 1):.9e} {q[k]:.9e}")
    for name, alpha in (("near", 1e-6), ("close", 0.05), ("vendor", 0.3)):
        zc = core.z_at_q(Z, alpha)
        print(f"  level {name}: alpha {alpha}, z cut {('%.9f' % zc) if zc is not None else 'none'}, "
              f"labels {core.cut(Lk, top, M, zc).tolist()}")


if __name__ == "__main__":
    main()
