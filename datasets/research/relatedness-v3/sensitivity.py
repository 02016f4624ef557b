"""Vendor-line ARI and mixed families at fixed alpha_v (no selection), fused Stouffer-R and content only;
and the families of the recommended tree. Usage: python sensitivity.py CONTENT"""
import os, sys
from pathlib import Path
import numpy as np
import core, evaluate, run, truth
content = sys.argv[1]
HERE = Path(__file__).parent
out = [f"# Vendor-line level against alpha_v (content = {content}{run.SUFFIX})", "",
       "| method | set | " + " | ".join(f"alpha {a}: ARI / mixed / families" for a in run.ALPHA_GRID) + " |",
       "|---|---|" + "---|" * len(run.ALPHA_GRID)]
for name, w in (("content only", None), ("style only", "style"), ("fused Stouffer-R", [1.0, 1.0])):
    for s in core.SETS:
        models = core.load(s)[0]; v = [truth.vendor(m) for m in models]
        Z = run.fused(run.zs_of(s, content), w)
        cells = []
        for a in run.ALPHA_GRID:
            f = evaluate.family_stats(run.tree(Z, len(models), a)["vendor"], v)
            cells.append(f"{f['ari']:.2f} / {f['mixed']} / {f['families']}")
        out.append(f"| {name} | {s} | " + " | ".join(cells) + " |")
out += ["", f"## Families of the recommended tree (fused Stouffer-R; near 1e-6, close 0.05, vendor 0.3)", ""]
for s in core.SETS:
    models = core.load(s)[0]
    Z = run.fused(run.zs_of(s, content), [1.0, 1.0])
    t = run.tree(Z, len(models), 0.3)
    out.append(f"**{s}** (cuts z near/close/vendor " + "/".join("-" if c is None else f"{c:.2f}" for c in t["cuts"]) + ")")
    for lev in ("near", "close", "vendor"):
        fam = {}
        for m, l in zip(models, t[lev]):
            fam.setdefault(l, []).append(m)
        groups = [f for f in fam.values() if len(f) > 1]
        txt = "; ".join("{" + ", ".join(g) + "}" + (" (mixed)" if len({truth.vendor(x) for x in g}) > 1 else "") for g in groups)
        out.append(f"- {lev}: {txt or 'none'}; {len(fam)} families")
    out.append("")
(HERE / "results" / f"sensitivity_{content}{run.SUFFIX}.md").write_text("\n".join(out) + "\n")
print("\n".join(out))
