"""Short-answer stress test (a proxy for sets of short factual answers): every answer cut to
its first 30 whitespace-separated words, keeping the original characters up to the end of the
30th word. -> data/<set>_short.jsonl"""
import json, re, sys
from pathlib import Path
HERE = Path(__file__).parent
for s in sys.argv[1:]:
    with open(HERE / "data" / f"{s}.jsonl") as f, open(HERE / "data" / f"{s}_short.jsonl", "w") as g:
        for line in f:
            r = json.loads(line)
            t = r.get("response") or ""
            m = list(re.finditer(r"\S+", t))
            if len(m) > 30:
                t = t[: m[29].end()]
            r["response"] = t
            g.write(json.dumps(r) + "\n")
