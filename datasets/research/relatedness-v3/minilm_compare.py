"""README section 7: lexical against MiniLM, alone and fused with style (flat three-way or
embeddings fused first), vendor line at alpha 0.3; nothing fitted. Sets with MiniLM vectors only.
Usage: SETS=mtbench,justeval python minilm_compare.py"""
import numpy as np
import core, evaluate, run, truth
print("| set | content signal(s) | content only: model AUC / nearest same vendor / vendor ARI | fused with style: model AUC / nearest / vendor ARI |")
print("|---|---|---|---|")
for s in core.SETS:
    m = core.load(s)[0]; v = [truth.vendor(x) for x in m]
    def figs(Z):
        r = evaluate.eval_set(s, m, Z, {})
        f = evaluate.family_stats(run.tree(Z, len(m), 0.3)["vendor"], v)
        return f"{np.mean(r['model_auc']):.3f} / {np.mean(r['top1_vendor']):.3f} / {f['ari']:.2f}"
    for c, label in (("lexical", "lexical"), ("minilm", "MiniLM")):
        z = run.zs_of(s, c)
        print(f"| {s} | {label} | {figs(z['content'])} | {figs(run.fused(z, [1.0, 1.0]))} |")
    z = run.zs_of(s, "lexical+minilm")
    print(f"| {s} | both, flat three-way Stouffer-R | - | {figs(core.fuse(z['all'])[0])} |")
    print(f"| {s} | both, embeddings fused first | {figs(z['content'])} | {figs(run.fused(z, 'hier'))} |")
    iu = np.triu_indices(len(m), 1)
    R = core.fuse(z["all"])[1]
    print(f"<!-- {s}: corr(z_lexical, z_minilm) {R[0, 1]:.2f}; style with them {R[0, 2]:.2f}, {R[1, 2]:.2f} -->")
