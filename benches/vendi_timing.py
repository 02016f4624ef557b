"""Times the reference Vendi implementation (PyPI vendi-score) on the matrices that
`cargo bench --bench measures -- generate DIR` wrote, for the side-by-side in
benches/measures_scale.sh. Usage: python vendi_timing.py DIR

score_dual on each probe's rows (normalised), orders q = 1, 2 and inf as a user of the library
computes them (one call per order). score_X is not used: it ignores q (a known bug).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from vendi_score import vendi

root = Path(sys.argv[1])
shape = json.loads((root / "shape.json").read_text())
rows, dim = shape["models"] * shape["samples"], shape["dim"]
data = np.fromfile(root / "vectors.f32", dtype="<f4").reshape(shape["probes"], rows, dim)

start = time.perf_counter()
q1 = []
for x in data:
    x = x.astype(np.float64)
    scores = [vendi.score_dual(x, q=q, normalize=True) for q in (1, 2, "inf")]
    q1.append(scores[0])
wall = time.perf_counter() - start
print(f"vendi-score (q = 1, 2, inf) of {len(q1)} probes of {rows} x {dim}: {wall:.2f} s (mean q1 {np.mean(q1):.6f})")
