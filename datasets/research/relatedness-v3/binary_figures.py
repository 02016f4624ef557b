"""The research's figures (README sections 1 and 3) from the tables the BINARY writes, for the
port: today's build against the relatedness-v3 build, one `hivewatch import` per set each.

Usage (the hivewatch test venv has duckdb, numpy, scipy, scikit-learn):
    python binary_figures.py TODAY_ROOT V3_ROOT > figures.md
where ROOT/<set> is an `hivewatch import --output` folder for each set (mtbench, wildbench,
justeval, alpaca). Nothing is fitted here: the v3 build's cuts are its own (SPEC.md T: the
vendor-line FDR 0.3 was chosen leave-one-set-out by the research, every fold chose it), so every
figure is already a held-out one. The truth is truth.py's (never a feature).

Rows: today (v2 as it landed: content z, one cut, read from today's `pair_similarity.z` and
`families`); v3 content only and style only (the v3 build's `z_content` / `z_style`, cut into a
tree here with the spec's cuts, core.py), and v3 as built (`z`, `families.level`).
"""
import sys
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import core  # noqa: E402
import evaluate  # noqa: E402
import truth  # noqa: E402

SETS = ["mtbench", "wildbench", "justeval", "alpaca"]


def q(root, sql):
    return duckdb.sql(sql.replace("{out}", str(root))).fetchall()


def has_column(root, table, column):
    return q(root, f"SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet('{{out}}/{table}/*/*.parquet')) "
                   f"WHERE column_name = '{column}'")[0][0] > 0


def matrices(root):
    signals = "z_content, z_style, carried_by" if has_column(root, "pair_similarity", "z_content") else "z, NULL, NULL"
    rows = q(root, f"SELECT model_a, model_b, z, {signals}, q_value "
                   "FROM read_parquet('{out}/pair_similarity/*/*.parquet') WHERE category IS NULL")
    models = sorted({r[0] for r in rows} | {r[1] for r in rows})
    ix = {m: i for i, m in enumerate(models)}
    M = len(models)
    mats = {k: np.full((M, M), np.nan) for k in ("z", "z_content", "z_style", "q")}
    carried = []
    for a, b, z, zc, zs, cb, qv in rows:
        for k, v in (("z", z), ("z_content", zc), ("z_style", zs), ("q", qv)):
            if v is not None:
                mats[k][ix[a], ix[b]] = mats[k][ix[b], ix[a]] = v
        if qv is not None and qv <= 0.05:
            carried.append((a, b, cb, zc, zs, z))
    return models, mats, carried


def families(root, models, level=None):
    where = f"WHERE level = '{level}'" if level and has_column(root, "families", "level") else ""
    fam = dict(q(root, f"SELECT endpoint, family FROM read_parquet('{{out}}/families/*/*.parquet') {where}"))
    names = sorted(set(fam.values()))
    return [names.index(fam[m]) for m in models]


def tree_levels(Z, M):
    """The spec's tree on one z (T): cuts at BH 1e-6 / 0.05 / 0.3."""
    Lk, top = core.dendrogram(Z)
    zc, zn, zv = core.z_at_q(Z, 0.05), core.z_at_q(Z, 1e-6), core.z_at_q(Z, 0.3)
    if zc is not None and zn is not None:
        zn = max(zn, zc)
    return dict(near=core.cut(Lk, top, M, zn), close=core.cut(Lk, top, M, zc), vendor=core.cut(Lk, top, M, zv))


def figures(today, v3):
    out = {}
    for s in SETS:
        models, Zt, _ = matrices(Path(today) / s)
        models3, Z3, carried = matrices(Path(v3) / s)
        assert models == models3, s
        M = len(models)
        diff = np.nanmax(np.abs(Zt["z"] - Z3["z_content"]))
        t1 = families(Path(today) / s, models)
        rows = {
            "today (v2: content z, one cut)": (Zt["z"], dict(close=t1, vendor=t1)),
            "v3 content only (z_content), tree": (Z3["z_content"], tree_levels(Z3["z_content"], M)),
            "v3 style only (z_style), tree": (Z3["z_style"], tree_levels(Z3["z_style"], M)),
            "**v3 as built (z fused, families.level)**": (
                Z3["z"],
                {lv: families(Path(v3) / s, models, name)
                 for lv, name in (("near", "near_copy"), ("close", "close"), ("vendor", "vendor_line"))},
            ),
        }
        out[s] = dict(rows={k: evaluate.eval_set(s, models, Z, lv) for k, (Z, lv) in rows.items()},
                      diff=diff, carried=carried, models=M)
    return out


def cells(r):
    der = r["derived_ranks"]
    d = f"{sum(x == 1 for x in der)}/{len(der)}, {sum(x <= 3 for x in der)}/{len(der)}" if der else "-"
    same = f"{sum(r['same_mutual'])}/{len(r['same_mutual'])}" if r["same_mutual"] else "-"
    c, v = r["close"], r["vendor"]
    return [d, same, f"{np.mean(r['top1_vendor']):.3f}", f"{np.mean(r['model_auc']):.3f}",
            f"{c['ari']:.2f}", f"{v['ari']:.2f}", f"{c['mixed']}/{v['mixed']}", f"{c['families']}/{v['families']}"]


HEAD = ["derived -> base top-1, top-3", "same model mutual top", "nearest same vendor", "model AUC",
        "ARI close", "ARI vendor line", "mixed families close/vendor", "families close/vendor"]


def pooled(rs):
    der = sum((r["derived_ranks"] for r in rs), [])
    same = sum((r["same_mutual"] for r in rs), [])
    top1 = sum((r["top1_vendor"] for r in rs), [])
    auc = sum((r["model_auc"] for r in rs), [])
    return [f"{sum(x == 1 for x in der)}/{len(der)}, {sum(x <= 3 for x in der)}/{len(der)}",
            f"{sum(same)}/{len(same)}", f"{np.mean(top1):.3f}", f"{np.mean(auc):.3f}",
            f"{np.mean([r['close']['ari'] for r in rs]):.2f}", f"{np.mean([r['vendor']['ari'] for r in rs]):.2f}",
            f"{sum(r['close']['mixed'] for r in rs)}/{sum(r['vendor']['mixed'] for r in rs)}",
            f"{sum(r['close']['families'] for r in rs)}/{sum(r['vendor']['families'] for r in rs)}"]


def main(today, v3):
    f = figures(today, v3)
    lines = []
    for s in SETS + ["pooled"]:
        title = f"**{s}** ({f[s]['models']} models)" if s != "pooled" else "**pooled** (nearest and AUC over models with a same-vendor model; ARI the mean of the four sets)"
        lines += [title, "", "| method | " + " | ".join(HEAD) + " |", "|" + "---|" * (len(HEAD) + 1)]
        for name in f[SETS[0]]["rows"]:
            c = pooled([f[t]["rows"][name] for t in SETS]) if s == "pooled" else cells(f[s]["rows"][name])
            lines.append(f"| {name} | " + " | ".join(c) + " |")
        lines.append("")
    lines.append("Check: largest |today's z - v3's z_content| per set (the content signal is unchanged): " +
                 ", ".join(f"{s} {f[s]['diff']:.1e}" for s in SETS) + ".")
    lines += ["", "Pairs with q <= 0.05 (v3), by the signal that carried them:", ""]
    for s in SETS:
        by = {}
        for a, b, cb, zc, zs, z in f[s]["carried"]:
            show = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
            by.setdefault(cb, []).append(f"{a} / {b} ({show(zc)}, {show(zs)} -> {show(z)})")
        lines.append(f"- {s}: " + "; ".join(f"{k} {len(v)}: " + ", ".join(v) for k, v in sorted(by.items())))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
