"""Development stand-in for the binary's lexical vectors (NOT used for any reported figure):
hashed word 1-2 grams + char 3-5 grams, damped, each block L2, summed, L2. -> cache/<set>.lexdev.npy"""
import json, sys
from pathlib import Path
import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
HERE = Path(__file__).parent
for s in sys.argv[1:]:
    texts = [json.loads(l).get("response") or "" for l in open(HERE / "data" / f"{s}.jsonl")]
    out = np.zeros((len(texts), 2048), np.float32)
    for hv in (HashingVectorizer(n_features=2048, ngram_range=(1, 2), norm=None),
               HashingVectorizer(n_features=2048, analyzer="char_wb", ngram_range=(3, 5), norm=None)):
        X = hv.transform(texts).toarray()
        X = np.sign(X) * np.log1p(np.abs(X))
        n = np.linalg.norm(X, axis=1, keepdims=True); n[n == 0] = 1
        out += (X / n).astype(np.float32)
    n = np.linalg.norm(out, axis=1, keepdims=True); n[n == 0] = 1
    np.save(HERE / "cache" / f"{s}.lexdev.npy", out / n)
    print(s, flush=True)
