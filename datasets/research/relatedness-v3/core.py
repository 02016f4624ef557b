"""Core of relatedness v3: loading, per-probe similarity per signal, double centring, pair
statistics, the random-effects null, BH, fusion, the family tree. Pure numpy/scipy, f64."""
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.special import erfc

HERE = Path(__file__).parent
SETS = [s for s in __import__("os").environ.get("SETS", "mtbench,wildbench,justeval,alpaca").split(",")]
MIN_COMMON = 30
MIN_MODELS = 12
FDR = 0.05
Q3N = 0.6744897501960817


# ---------------------------------------------------------------- data
@lru_cache(None)
def load(s):
    """rows: list of (model, probe, text); models sorted; probes sorted; idx[p, m] = row or -1
    (missing or empty answers are missing)."""
    rows = []
    with open(HERE / "data" / f"{s}.jsonl") as f:
        for line in f:
            r = json.loads(line)
            rows.append((r["model"], str(r["prompt_id"]), r.get("response") or ""))
    models = sorted({r[0] for r in rows})
    probes = sorted({r[1] for r in rows})
    mi = {m: i for i, m in enumerate(models)}
    pi = {p: i for i, p in enumerate(probes)}
    idx = -np.ones((len(probes), len(models)), dtype=np.int64)
    for k, (m, p, t) in enumerate(rows):
        if t.strip():
            idx[pi[p], mi[m]] = k
    return models, probes, idx


def probe_S_from_vectors(V, idx):
    """S[p] = V[rows] V[rows]^T (one sample per model and probe), NaN where missing."""
    P, M = idx.shape
    S = np.full((P, M, M), np.nan)
    for p in range(P):
        present = np.where(idx[p] >= 0)[0]
        X = V[idx[p, present]].astype(np.float64)
        S[p][np.ix_(present, present)] = X @ X.T
    return S


# ---------------------------------------------------------------- style signal
def style_matrix(s, weighting="group", clip=4.0, ident=True, drop=()):
    """The per-answer style vectors of a run, scaled: each numeric column minus its mean, divided
    by its SD over all ok answers of the run (zero-SD columns dropped), clipped to [-clip, clip],
    times sqrt(w_f) (w_f = 1 / (number of groups * size of f's group) for 'group', 1 / F for
    'equal'). Returns (Xw, opener, closer, w_ident) with w_ident the weight of each identity block."""
    d = np.load(HERE / "cache" / f"{s}.style.npz")
    X, groups = d["X"].copy(), list(d["groups"])
    _, _, idx = load(s)
    ok = idx[idx >= 0]
    mu = X[ok].mean(0)
    sd = X[ok].std(0)
    keep = sd > 1e-12
    keep &= np.array([g not in drop for g in groups])
    X = (X[:, keep] - mu[keep]) / sd[keep]
    X = np.clip(X, -clip, clip)
    groups = [g for g, k in zip(groups, keep) if k]
    ng = len(set(groups)) + (2 if ident else 0)
    if weighting == "group":
        size = {g: groups.count(g) for g in set(groups)}
        w = np.array([1.0 / (ng * size[g]) for g in groups])
    else:
        w = np.full(len(groups), 1.0 / (len(groups) + (2 if ident else 0)))
    w_ident = (1.0 / ng) if weighting == "group" else (1.0 / (len(groups) + 2))
    # An identity block is a one-hot over words; scaled so its per-answer variance is comparable
    # to a standardised column: weight w_ident / (1 - sum_k p_k^2) (its one-hot "variance").
    Xw = X * np.sqrt(w)
    return Xw, d["opener"], d["closer"], (w_ident if ident else 0.0)


def probe_S_style(s, **kw):
    _, _, idx = load(s)
    Xw, op, cl, wi = style_matrix(s, **kw)
    only_ident = kw.get("drop") == "numeric"
    if only_ident:
        Xw = Xw[:, :0]
    ok = idx[idx >= 0]
    scale = {}
    for name, arr in (("op", op), ("cl", cl)):
        _, counts = np.unique(arr[ok], return_counts=True)
        pk = counts / counts.sum()
        het = 1.0 - (pk ** 2).sum()
        scale[name] = wi / het if het > 1e-9 else 0.0  # one word for every answer: the block says nothing
    P, M = idx.shape
    S = np.full((P, M, M), np.nan)
    for p in range(P):
        present = np.where(idx[p] >= 0)[0]
        r = idx[p, present]
        X = Xw[r]
        T = X @ X.T
        if wi > 0:
            T = T + scale["op"] * (op[r][:, None] == op[r][None, :]) + scale["cl"] * (cl[r][:, None] == cl[r][None, :])
        S[p][np.ix_(present, present)] = T
    return S


# ---------------------------------------------------------------- centring and pair statistics
def double_centre(S):
    """Per probe: e = S - g - u_a - u_b over present models (m >= 3); NaN elsewhere."""
    P, M, _ = S.shape
    E = np.full_like(S, np.nan)
    for p in range(P):
        present = np.where(~np.isnan(S[p]).all(1))[0]
        m = len(present)
        if m < 3:
            continue
        A = S[p][np.ix_(present, present)].copy()
        np.fill_diagonal(A, 0.0)
        r = A.sum(1) / (m - 1)
        g = r.mean()
        u = (m - 1) / (m - 2) * (r - g)
        e = A - g - u[:, None] - u[None, :]
        np.fill_diagonal(e, np.nan)
        E[p][np.ix_(present, present)] = e
    return E


def pair_stats(E):
    """n, mean d, se per pair (M x M), over probes where both are present."""
    ok = ~np.isnan(E)
    n = ok.sum(0).astype(float)
    X = np.where(ok, E, 0.0)
    s1 = X.sum(0)
    d = np.where(n > 0, s1 / np.maximum(n, 1), np.nan)
    dev = np.where(ok, E - d[None], 0.0)
    var = np.where(n > 1, (dev ** 2).sum(0) / np.maximum(n - 1, 1), np.nan)
    se = np.sqrt(var / np.maximum(n, 1))
    return n, d, se


def quantile(x, q):
    return float(np.quantile(x, q))  # numpy linear interpolation = the Rust `quantile`


def re_null(d, se, steps=60):
    mu0 = quantile(d, 0.5)

    def spread(tau):
        z = (d - mu0) / np.sqrt(tau * tau + se * se)
        return (quantile(z, 0.5) - quantile(z, 0.25)) / Q3N

    if spread(0.0) <= 1.0:
        return mu0, 0.0
    lo, hi = 0.0, float(np.max(np.abs(d - mu0))) + 1e-9
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if spread(mid) > 1.0:
            lo = mid
        else:
            hi = mid
    return mu0, 0.5 * (lo + hi)


def norm_sf(z):
    return 0.5 * erfc(np.asarray(z) / math.sqrt(2.0))


def bh(p):
    p = np.asarray(p, dtype=float)
    K = len(p)
    order = np.argsort(p, kind="stable")
    q = np.empty(K)
    running = 1.0
    for i in range(K - 1, -1, -1):
        running = min(running, p[order[i]] * K / (i + 1))
        q[order[i]] = min(running, 1.0)
    return q


def calibrate(E, min_common=MIN_COMMON):
    """Signal z per pair (M x M, NaN where untested), and the pieces."""
    n, d, se = pair_stats(E)
    M = E.shape[1]
    iu = np.triu_indices(M, 1)
    tested = (n[iu] >= min_common)
    dd, ss = d[iu][tested], se[iu][tested]
    mu0, tau0 = re_null(dd, ss)
    z = np.full((M, M), np.nan)
    zt = (dd - mu0) / np.sqrt(tau0 ** 2 + ss ** 2)
    a, b = iu[0][tested], iu[1][tested]
    z[a, b] = zt
    z[b, a] = zt
    return dict(n=n, d=d, se=se, z=z, mu0=mu0, tau0=tau0)


def q_matrix(z):
    M = z.shape[0]
    iu = np.triu_indices(M, 1)
    zz = z[iu]
    t = ~np.isnan(zz)
    q = np.full(len(zz), np.nan)
    q[t] = bh(norm_sf(zz[t]))
    Q = np.full((M, M), np.nan)
    Q[iu] = q
    Q.T[iu] = q
    return Q


# ---------------------------------------------------------------- fusion
def fuse(zs, w=None, R=None):
    """Stouffer with correlation: sum_k w_k z_k / sqrt(w' R w); R = Pearson correlation of the
    signals' z over the pairs every signal tested (estimated on the run). Returns (Z, R, w)."""
    M = zs[0].shape[0]
    iu = np.triu_indices(M, 1)
    V = np.stack([z[iu] for z in zs])  # k x K
    t = ~np.isnan(V).any(0)
    k = len(zs)
    if w is None:
        w = np.ones(k)
    w = np.asarray(w, float)
    if R is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            R = np.corrcoef(V[:, t]) if (k > 1 and t.sum() >= 3) else np.ones((k, k))
        R = np.atleast_2d(R)
        R = np.where(np.isnan(R), 1.0, R)  # undefined (too few pairs, zero variance): 1, conservative
        R = np.clip(R, 0.0, 1.0)  # a negative correlation is taken as 0 (never inflates z)
        np.fill_diagonal(R, 1.0)
    den = math.sqrt(float(w @ R @ w))
    f = np.full(V.shape[1], np.nan)
    f[t] = (w @ V[:, t]) / den
    Z = np.full((M, M), np.nan)
    Z[iu] = f
    Z.T[iu] = f
    return Z, R, w


def fuse_empirical(zs, w=None):
    """Stouffer against the fused sum's own empirical null: T = sum_k w_k z_k over the pairs every
    signal tested; m = median(T); s = (m - Q1(T)) / Phi^-1(0.75) (the lower half's robust SD, as
    in the per-signal null); z_F = (T - m) / s. s^2 estimates w' R0 w with R0 the signals'
    correlation among unrelated pairs (the bulk), not among all pairs."""
    M = zs[0].shape[0]
    iu = np.triu_indices(M, 1)
    V = np.stack([z[iu] for z in zs])
    t = ~np.isnan(V).any(0)
    w = np.ones(len(zs)) if w is None else np.asarray(w, float)
    T = w @ V[:, t]
    m = quantile(T, 0.5)
    s = (m - quantile(T, 0.25)) / Q3N
    f = np.full(V.shape[1], np.nan)
    f[t] = (T - m) / s
    Z = np.full((M, M), np.nan)
    Z[iu] = f
    Z.T[iu] = f
    return Z, m, s


# ---------------------------------------------------------------- tree
def z_at_q(z, alpha):
    """Smallest z among pairs with BH q <= alpha (None if none)."""
    M = z.shape[0]
    iu = np.triu_indices(M, 1)
    zz = z[iu]
    t = ~np.isnan(zz)
    q = bh(norm_sf(zz[t]))
    sel = zz[t][q <= alpha]
    return float(sel.min()) if len(sel) else None


def dendrogram(z):
    """Average linkage on D = zmax + 1 - z (untested pairs: z = 0). Returns (Lk, top)."""
    M = z.shape[0]
    Z0 = np.where(np.isnan(z), 0.0, z)
    iu = np.triu_indices(M, 1)
    top = max(float(Z0[iu].max()), 0.0) + 1.0
    D = top - Z0[iu]
    return linkage(D, method="average"), top


def cut(Lk, top, M, zcut):
    """Labels (0.. in order of first appearance) merging while the merge's mean z >= zcut."""
    parent = list(range(2 * M))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if zcut is not None:
        for k, (a, b, h, _) in enumerate(Lk):
            if h <= top - zcut + 1e-12:
                parent[find(int(a))] = M + k
                parent[find(int(b))] = M + k
                parent[M + k] = M + k
    lab, out = {}, []
    for i in range(M):
        r = find(i)
        lab.setdefault(r, len(lab))
        out.append(lab[r])
    return np.array(out)
