"""sentence-transformers on the same texts, for benches/embed_throughput.sh.

usage: st_reference.py TEXTS.jsonl MODEL_DIR OUR_VECTORS.jsonl THREADS
Prints texts/s of SentenceTransformer.encode on the CPU (batch 32, THREADS torch threads) and
the lowest cosine between its vectors and ours.
"""

import json
import sys
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

texts_path, model_dir, ours_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
texts = [json.loads(line)["text"] for line in open(texts_path)]
model = SentenceTransformer(model_dir, device="cpu")
model.encode(texts[:32], batch_size=32)  # warm-up
start = time.perf_counter()
theirs = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
secs = time.perf_counter() - start
print(f"sentence-transformers: {len(texts)} texts in {secs:.2f} s = {len(texts) / secs:.1f} texts/s "
      f"(torch {torch.__version__}, {threads} threads)")
ours = np.array([json.loads(line) for line in open(ours_path)], dtype=np.float32)
cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
print(f"agreement: min cosine {cos.min():.6f}, mean {cos.mean():.6f} over {len(texts)} texts")
