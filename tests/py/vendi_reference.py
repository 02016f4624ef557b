"""Vendi scores from the reference implementation (PyPI vendi-score) for the Rust tests.

stdin: JSON {"cases": [{"x": [[...], ...]}, ...]} (rows already unit length).
stdout: JSON list, per case: {"k": [q1, q2, qinf], "dual": [q1, q2, qinf]}.
score_K on K = X X^T and score_dual on X; never score_X, which ignores q (a known bug).
"""

import json
import sys

import numpy as np
from vendi_score import vendi

cases = json.load(sys.stdin)["cases"]
out = []
for case in cases:
    x = np.array(case["x"], dtype=np.float64)
    k = x @ x.T
    orders = [1, 2, "inf"]
    out.append({
        "k": [float(vendi.score_K(k, q=q)) for q in orders],
        "dual": [float(vendi.score_dual(x, q=q, normalize=False)) for q in orders],
    })
json.dump(out, sys.stdout)
