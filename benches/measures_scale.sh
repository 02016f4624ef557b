#!/usr/bin/env bash
# Benchmark: the measure stage on 100 models x 1,000 probes x 5 samples of 384-d vectors
# (synthetic, families of five), wall time and peak memory with GNU time; then the Vendi part
# alone side by side with the Python reference (vendi-score) on the same matrices.
#
#   benches/measures_scale.sh [MODELS PROBES SAMPLES DIM]
#
# Needs a Python with numpy, scipy and vendi-score: $HIVEWATCH_PYTHON, or the test venv that
# scripts/test.sh makes (~/.cache/hivewatch-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hivewatch-target}"
python="${HIVEWATCH_PYTHON:-$HOME/.cache/hivewatch-venv/bin/python}"
shape=("${@:-100 1000 5 384}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bin=$(cargo bench --bench measures --no-run --message-format=json 2>/dev/null \
    | "$python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "measures" and m.get("executable"):
        print(m["executable"])')
# shellcheck disable=SC2086
"$bin" generate "$work" ${shape[*]}
/usr/bin/time -f '%e %M' -o "$work/time" "$bin" measure "$work"
read -r wall rss < "$work/time"
echo "measure stage process: ${wall} s wall, peak RSS $((rss / 1024)) MiB"
"$bin" vendi "$work"
"$python" benches/vendi_timing.py "$work"
