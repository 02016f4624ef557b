"""What each style group adds: the style signal with one group left out (no selection is made
from this table), and the fused signal with it. Usage: python ablation.py CONTENT"""
import sys
from pathlib import Path
import numpy as np
import core, evaluate, run, truth
HERE = Path(__file__).parent
content = sys.argv[1]
GROUPS = ["length", "layout", "markup", "punct", "chars", "lexicon", "refusal", "person", "opener", "closer", "identity"]
rows = ["| style variant | style: nearest same vendor (pooled) | style: model AUC mtbench / wildbench / justeval / alpaca / pooled | fused: nearest same vendor | fused: model AUC pooled |", "|---|---|---|---|---|"]
zc = {s: core.calibrate(np.load(HERE / "cache" / f"{s}.{content}.E.npy"))["z"] for s in core.SETS}
for g in ["(all)"] + GROUPS:
    res = {"style": {}, "fused": {}}
    for s in core.SETS:
        if g == "(all)":
            kw = {}
        elif g == "identity":
            kw = dict(ident=False)
        else:
            kw = dict(drop=(g,))
        E = core.double_centre(core.probe_S_style(s, **kw))
        zs = core.calibrate(E)["z"]
        models = core.load(s)[0]
        for name, Z in (("style", zs), ("fused", core.fuse([zc[s], zs])[0])):
            r = evaluate.eval_set(s, models, Z, {})
            res[name][s] = r
    def pool(name, key):
        return np.mean(sum((res[name][s][key] for s in core.SETS), []))
    aucs = " / ".join(f"{np.mean(res['style'][s]['model_auc']):.3f}" for s in core.SETS)
    label = g if g == "(all)" else f"without {g}"
    rows.append(f"| {label} | {pool('style','top1_vendor'):.3f} | {aucs} / {pool('style','model_auc'):.3f} | {pool('fused','top1_vendor'):.3f} | {pool('fused','model_auc'):.3f} |")
    print(rows[-1], flush=True)
(HERE / "results" / f"ablation_{content}.md").write_text("# Style groups left out one at a time\n\n" + "\n".join(rows) + "\n")
