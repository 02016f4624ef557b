"""Judging a score matrix and a tree against the truth of truth.py."""
import numpy as np
from sklearn.metrics import adjusted_rand_score

import truth


def ranked(models, Z, a):
    """Partners of model index a, best first (score desc, ties by name); untested pairs last."""
    M = len(models)
    sc = [(-(Z[a, b] if np.isfinite(Z[a, b]) else -1e9), models[b], b) for b in range(M) if b != a]
    sc.sort()
    return [b for _, _, b in sc]


def rank_of(models, Z, a, b):
    return ranked(models, Z, a).index(b) + 1


def model_auc(models, Z, vend):
    aucs = []
    for a in range(len(models)):
        rel = [b for b in range(len(models)) if b != a and vend[b] == vend[a]]
        oth = [b for b in range(len(models)) if b != a and vend[b] != vend[a]]
        if not rel or not oth:
            continue
        x = np.nan_to_num(Z[a], nan=-1e9)
        wins = sum((x[r] > x[o]) + 0.5 * (x[r] == x[o]) for r in rel for o in oth)
        aucs.append(wins / (len(rel) * len(oth)))
    return aucs


def family_stats(labels, vend):
    fam = {}
    for i, l in enumerate(labels):
        fam.setdefault(l, []).append(i)
    mixed = sum(1 for f in fam.values() if len({vend[i] for i in f}) > 1)
    cross_pairs = sum(1 for f in fam.values() for x in range(len(f)) for y in range(x + 1, len(f))
                      if vend[f[x]] != vend[f[y]])
    return dict(families=len(fam), mixed=mixed, cross_pairs=cross_pairs,
                ari=adjusted_rand_score(vend, labels))


def eval_set(s, models, Z, levels):
    """levels: dict level name -> labels. Returns a dict of figures and raw counts for pooling."""
    vend = [truth.vendor(m) for m in models]
    ix = {m: i for i, m in enumerate(models)}
    out = {}
    # derived -> base
    ranks = [rank_of(models, Z, ix[d], ix[b]) for d, b in truth.DERIVED.get(s, [])]
    out["derived_ranks"] = ranks
    # same model: mutual top
    mutual = []
    for a, b in truth.SAME_MODEL.get(s, []):
        mutual.append(rank_of(models, Z, ix[a], ix[b]) == 1 and rank_of(models, Z, ix[b], ix[a]) == 1)
    out["same_mutual"] = mutual
    must = []
    for a, b in truth.MUST.get(s, []):
        must.append(rank_of(models, Z, ix[a], ix[b]) == 1 and rank_of(models, Z, ix[b], ix[a]) == 1)
    out["must_mutual"] = must
    # nearest relative same vendor
    hits = []
    for a in range(len(models)):
        if sum(v == vend[a] for v in vend) > 1:
            hits.append(vend[ranked(models, Z, a)[0]] == vend[a])
    out["top1_vendor"] = hits
    out["model_auc"] = model_auc(models, Z, vend)
    out["teacher_ranks"] = [rank_of(models, Z, ix[d], ix[b]) for d, b in truth.TEACHER.get(s, [])]
    grp = []
    for g in truth.GROUPS.get(s, []):
        gi = [ix[m] for m in g]
        for a in gi:
            top = ranked(models, Z, a)[: len(gi) - 1]
            grp.append(len(set(top) & set(gi)) / (len(gi) - 1))
    out["group"] = grp
    for name, lab in levels.items():
        out[name] = family_stats(lab, vend)
        if truth.GROUPS.get(s):
            gi = [ix[m] for m in truth.GROUPS[s][0]]
            out[name]["group_families"] = len({lab[i] for i in gi})
    return out
