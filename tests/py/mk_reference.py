"""Mann-Kendall and Sen's slope from the reference implementation (PyPI pymannkendall) for the
Rust tests.

stdin: JSON {"series": [[...], ...]}; stdout: JSON list, per series, of
{"s", "var_s", "z", "p", "tau", "slope", "intercept"} from pymannkendall.original_test.
"""

import json
import sys

import pymannkendall as mk

out = []
for x in json.load(sys.stdin)["series"]:
    r = mk.original_test(x)
    out.append({
        "s": float(r.s), "var_s": float(r.var_s), "z": float(r.z), "p": float(r.p),
        "tau": float(r.Tau), "slope": float(r.slope), "intercept": float(r.intercept),
    })
json.dump(out, sys.stdout)
