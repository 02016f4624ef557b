"""Lexical vectors from the hivewatch binary (`hivewatch embed --embedder lexical`), one per
row of data/<set>.jsonl (empty answers get a zero vector and are treated as missing).
Usage: python lexical_binary.py BINARY SET...  -> cache/<set>.lexical.npy (float32)"""
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def main(binary, sets):
    for s in sets:
        texts = [json.loads(l).get("response") or "" for l in open(HERE / "data" / f"{s}.jsonl")]
        proc = subprocess.Popen([binary, "embed", "--embedder", "lexical"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1 << 20)

        def feed():
            for t in texts:
                proc.stdin.write(json.dumps({"text": t}) + "\n")
            proc.stdin.close()

        th = threading.Thread(target=feed)
        th.start()
        out = []
        for line in proc.stdout:
            out.append(np.asarray(json.loads(line)["embedding"], dtype=np.float32))
        th.join()
        proc.wait()
        assert len(out) == len(texts), (s, len(out), len(texts))
        np.save(HERE / "cache" / f"{s}.lexical.npy", np.stack(out))
        print(s, len(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
