"""Per-probe residuals E (P x M x M) per signal and set, cached in cache/<set>.<signal>.E.npy.
Signals: lexical (binary vectors), minilm (if cache/<set>.minilm.npy exists), style (style-v1,
group weights), style_eq (equal weights: ablation), style_noid (no opener/closer identity)."""
import sys
from pathlib import Path

import numpy as np

import core

HERE = Path(__file__).parent


def residuals(s, signal):
    f = HERE / "cache" / f"{s}.{signal}.E.npy"
    if f.exists():
        return np.load(f)
    _, _, idx = core.load(s)
    if signal in ("lexical", "minilm", "lexdev"):
        V = np.load(HERE / "cache" / f"{s}.{signal}.npy")
        S = core.probe_S_from_vectors(V, idx)
    elif signal == "style":
        S = core.probe_S_style(s)
    elif signal == "style_eq":
        S = core.probe_S_style(s, weighting="equal")
    elif signal == "style_noid":
        S = core.probe_S_style(s, ident=False)
    else:
        raise ValueError(signal)
    E = core.double_centre(S)
    np.save(f, E)
    return E


if __name__ == "__main__":
    for s in sys.argv[2:]:
        for sig in sys.argv[1].split(","):
            E = residuals(s, sig)
            print(s, sig, E.shape, flush=True)
