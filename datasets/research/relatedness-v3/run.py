"""All figures: today (v2: content only, one cut) against v3 (style, fusion, tree), per set,
leave-one-set-out wherever something is fitted. Usage: python run.py CONTENT [TAG]
(CONTENT: lexical | minilm | lexdev). Writes results/figures_<CONTENT><TAG>.md and .json."""
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

import core
import evaluate
import signals
import truth

HERE = Path(__file__).parent
ALPHA_CLOSE = 0.05
ALPHA_NEAR = 1e-6
ALPHA_GRID = [0.05, 0.1, 0.2, 0.3, 0.5]
THETA_GRID = np.radians(np.arange(0, 90.1, 2.5))


SUFFIX = os.environ.get("SUFFIX", "")  # "_short": the short-answer stress test


def zs_of(s, content, style="style"):
    """z per signal; CONTENT may name several embedding signals joined by '+' (each its own
    signal); "content" is then their Stouffer-R fusion, "all" the list of every signal's z."""
    out = {"all": []}
    cs = []
    for sig in content.split("+"):
        z = core.calibrate(signals.residuals(s + SUFFIX, sig))["z"]
        out[sig] = z
        cs.append(z)
    out["content"] = cs[0] if len(cs) == 1 else core.fuse(cs)[0]
    out["style"] = core.calibrate(signals.residuals(s + SUFFIX, style))["z"]
    out["all"] = cs + [out["style"]]
    return out


def tree(Z, M, alpha_vendor):
    Lk, top = core.dendrogram(Z)
    zc = core.z_at_q(Z, ALPHA_CLOSE)
    zn = core.z_at_q(Z, ALPHA_NEAR)
    zv = core.z_at_q(Z, alpha_vendor)
    # Levels nest: a stricter level's cut is never below a looser one's.
    if zc is not None and zn is not None:
        zn = max(zn, zc)
    if zv is not None and zc is not None:
        zv = min(zv, zc)
    return dict(near=core.cut(Lk, top, M, zn), close=core.cut(Lk, top, M, zc), vendor=core.cut(Lk, top, M, zv),
                cuts=(zn, zc, zv))


def fused(z, w):
    if w is None:
        return z["content"]
    if w == "style":
        return z["style"]
    if w == "empirical":
        return core.fuse_empirical(z["all"])[0]
    if w == "hier":
        return core.fuse([z["content"], z["style"]])[0]
    if isinstance(w, str) and w in z:
        return z[w]
    if len(z["all"]) > 2 and list(w) == [1.0, 1.0]:
        return core.fuse(z["all"])[0]
    return core.fuse([z["content"], z["style"]], w=w)[0]


def objective_auc(sets, Zs):
    return float(np.mean([np.mean(evaluate.model_auc(core.load(s)[0], Zs[s],
                                                     [truth.vendor(m) for m in core.load(s)[0]])) for s in sets]))


def ari_vendor(s, Z, alpha):
    models = core.load(s)[0]
    t = tree(Z, len(models), alpha)
    return evaluate.family_stats(t["vendor"], [truth.vendor(m) for m in models])["ari"]


def main(content, tag=""):
    Z = {s: zs_of(s, content) for s in core.SETS}
    methods = {}
    # today: content only, one cut at BH 0.05 (v2)
    methods["today (v2: content z, one cut)"] = {s: dict(Z=Z[s]["content"], alpha_v=ALPHA_CLOSE, note="") for s in core.SETS}
    methods["content only, tree"] = {}
    methods["style only, tree"] = {}
    methods["fused: Stouffer-R, tree"] = {}
    methods["fused: Stouffer, empirical null, tree"] = {}
    methods["fused: LOSO weights, tree"] = {}
    multi = "+" in content
    if multi:
        methods["fused: Stouffer-R over content (embeddings fused first) and style, tree"] = {}
    for s in core.SETS:
        if multi:
            train = [t for t in core.SETS if t != s]
            a = max(ALPHA_GRID, key=lambda al: (np.mean([ari_vendor(t, fused(Z[t], "hier"), al) for t in train]), -al))
            methods["fused: Stouffer-R over content (embeddings fused first) and style, tree"][s] = dict(Z=fused(Z[s], "hier"), alpha_v=a, note=f"alpha_v {a}")
        train = [t for t in core.SETS if t != s]
        for name, w in (("content only, tree", None), ("style only, tree", "style"), ("fused: Stouffer-R, tree", [1.0, 1.0]),
                        ("fused: Stouffer, empirical null, tree", "empirical")):
            a = max(ALPHA_GRID, key=lambda al: (np.mean([ari_vendor(t, fused(Z[t], w), al) for t in train]), -al))
            methods[name][s] = dict(Z=fused(Z[s], w), alpha_v=a, note=f"alpha_v {a}")
        # fitted weights: angle maximising the training sets' mean model AUC
        best = max(THETA_GRID, key=lambda th: (objective_auc(train, {t: fused(Z[t], [math.cos(th), math.sin(th)]) for t in train}),
                                               -abs(th - math.pi / 4)))
        w = [math.cos(best), math.sin(best)]
        a = max(ALPHA_GRID, key=lambda al: (np.mean([ari_vendor(t, fused(Z[t], w), al) for t in train]), -al))
        methods["fused: LOSO weights, tree"][s] = dict(Z=fused(Z[s], w), alpha_v=a,
                                                       note=f"w_style/w_content = {math.tan(best):.2f}, alpha_v {a}")
    rows = {}
    for name, per in methods.items():
        rows[name] = {}
        for s in core.SETS:
            models = core.load(s)[0]
            t = tree(per[s]["Z"], len(models), per[s]["alpha_v"])
            if name.startswith("today"):
                levels = dict(close=t["close"], vendor=t["close"])
            else:
                levels = dict(near=t["near"], close=t["close"], vendor=t["vendor"])
            r = evaluate.eval_set(s, models, per[s]["Z"], levels)
            r["cuts"] = t["cuts"]
            r["note"] = per[s]["note"]
            rows[name][s] = r
    write(rows, content, tag)


def fmt_row(r):
    der = r["derived_ranks"]
    d1 = f"{sum(x == 1 for x in der)}/{len(der)}" if der else "-"
    d3 = f"{sum(x <= 3 for x in der)}/{len(der)}" if der else "-"
    same = f"{sum(r['same_mutual'])}/{len(r['same_mutual'])}" if r["same_mutual"] else "-"
    must = f"{sum(r['must_mutual'])}/{len(r['must_mutual'])}" if r["must_mutual"] else "-"
    top1 = f"{np.mean(r['top1_vendor']):.3f}"
    auc = f"{np.mean(r['model_auc']):.3f}"
    c, v = r["close"], r["vendor"]
    return [d1, d3, same, must, top1, auc, f"{c['ari']:.2f}", f"{v['ari']:.2f}", f"{c['mixed']}/{v['mixed']}",
            f"{c['families']}/{v['families']}"]


HEAD = ["derived top-1", "top-3", "same-model mutual", "must-pass mutual", "nearest same vendor", "model AUC",
        "ARI close", "ARI vendor line", "mixed families close/vendor", "families close/vendor"]


def pooled(rs):
    der = sum((r["derived_ranks"] for r in rs), [])
    same = sum((r["same_mutual"] for r in rs), [])
    must = sum((r["must_mutual"] for r in rs), [])
    top1 = sum((r["top1_vendor"] for r in rs), [])
    auc = sum((r["model_auc"] for r in rs), [])
    return [f"{sum(x == 1 for x in der)}/{len(der)}", f"{sum(x <= 3 for x in der)}/{len(der)}",
            f"{sum(same)}/{len(same)}", f"{sum(must)}/{len(must)}", f"{np.mean(top1):.3f}", f"{np.mean(auc):.3f}",
            f"{np.mean([r['close']['ari'] for r in rs]):.2f} (mean)", f"{np.mean([r['vendor']['ari'] for r in rs]):.2f} (mean)",
            f"{sum(r['close']['mixed'] for r in rs)}/{sum(r['vendor']['mixed'] for r in rs)}",
            f"{sum(r['close']['families'] for r in rs)}/{sum(r['vendor']['families'] for r in rs)}"]


def write(rows, content, tag):
    lines = [f"# Figures, content signal = {content}{tag}{', answers cut to 30 words' if SUFFIX else ''}", ""]
    for s in core.SETS + ["pooled"]:
        lines += [f"## {s}", "", "| method | " + " | ".join(HEAD) + " | cuts z near/close/vendor | fitted |",
                  "|" + "---|" * (len(HEAD) + 3)]
        for name, per in rows.items():
            if s == "pooled":
                cells = pooled([per[t] for t in core.SETS])
                cuts, note = "", ""
            else:
                r = per[s]
                cells = fmt_row(r)
                cuts = "/".join("-" if c is None else f"{c:.2f}" for c in r["cuts"])
                note = r["note"]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {cuts} | {note} |")
        lines.append("")
    extra = ["## Details", ""]
    for name, per in rows.items():
        for s in core.SETS:
            r = per[s]
            extra.append(f"- {name} / {s}: derived ranks {r['derived_ranks']}, teacher ranks {r['teacher_ranks']}, "
                         f"Llama-3-8B group {np.mean(r['group']) if r['group'] else '-'}"
                         + (f", group split into close/vendor families {r['close'].get('group_families')}/{r['vendor'].get('group_families')}" if r['group'] else ""))
    (HERE / "results" / f"figures_{content}{SUFFIX}{tag}.md").write_text("\n".join(lines + extra) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
