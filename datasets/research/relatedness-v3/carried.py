"""Which signal carried each verdict: every pair significant (BH q <= 0.05) by the fused z or by
content alone, with z_content, z_style, z_fused and the carrying signal (the largest share of the
fused z). Also the paired per-model comparison of model AUC, fused against content only.
Usage: python carried.py CONTENT"""
import sys
from pathlib import Path
import numpy as np
from scipy.stats import wilcoxon
import core, evaluate, run, truth
HERE = Path(__file__).parent
content = sys.argv[1]
out = [f"# Significant pairs and the signal that carried them (content = {content}{run.SUFFIX})", "",
       "`rel`: same vendor by the name rule (V), a same-model/derived pair (D), a distilled->teacher pair (T), else blank.", ""]
auc_c, auc_f = [], []
for s in core.SETS:
    models = core.load(s)[0]; M = len(models); v = [truth.vendor(m) for m in models]
    z = run.zs_of(s, content)
    Zf, R, _ = core.fuse(z["all"])
    den = float(np.sqrt(R.sum()))
    Qf, Qc = core.q_matrix(Zf), core.q_matrix(z["content"])
    D = {frozenset(p) for p in truth.DERIVED.get(s, []) + truth.SAME_MODEL.get(s, [])}
    T = {frozenset(p) for p in truth.TEACHER.get(s, [])}
    out += [f"## {s} (R off-diagonal {R[0, 1]:.2f})", "", "| pair | rel | z_content | z_style | z_fused | q fused | q content | carried by (share) |", "|---|---|---|---|---|---|---|---|"]
    rows = []
    for a in range(M):
        for b in range(a + 1, M):
            if Qf[a, b] <= 0.05 or Qc[a, b] <= 0.05:
                cc, cs = z["content"][a, b] / den, z["style"][a, b] / den
                if len(z["all"]) > 2:
                    cc = sum(x[a, b] for x in z["all"][:-1]) / den
                car = "content" if cc >= cs else "style"
                share = max(cc, cs) / Zf[a, b]
                rel = "D" if frozenset((models[a], models[b])) in D else "T" if frozenset((models[a], models[b])) in T else "V" if v[a] == v[b] else ""
                rows.append((-Zf[a, b], f"| {models[a]} / {models[b]} | {rel} | {z['content'][a, b]:.2f} | {z['style'][a, b]:.2f} | {Zf[a, b]:.2f} | {Qf[a, b]:.3g} | {Qc[a, b]:.3g} | {car} ({share:.2f}) |"))
    out += [r for _, r in sorted(rows)] + [""]
    auc_c += evaluate.model_auc(models, z["content"], v)
    auc_f += evaluate.model_auc(models, Zf, v)
auc_c, auc_f = np.array(auc_c), np.array(auc_f)
w = wilcoxon(auc_f, auc_c) if (auc_f != auc_c).any() else None
out += [f"Per-model AUC of same-vendor relatives, fused against content only, {len(auc_c)} models: mean {auc_f.mean():.3f} vs {auc_c.mean():.3f}; "
        f"better {int((auc_f > auc_c).sum())}, equal {int((auc_f == auc_c).sum())}, worse {int((auc_f < auc_c).sum())}; Wilcoxon p = {w.pvalue:.3f}" if w else ""]
(HERE / "results" / f"carried_{content}{run.SUFFIX}.md").write_text("\n".join(out) + "\n")
print("\n".join(out))
