#!/usr/bin/env bash
# Benchmark: peak memory of embedding a run of 2,000, 10,000 and 100,000 responses (streamed
# in chunks of 1,024 rows), and throughput through the whole stage (Parquet in and out, cache
# writes included).
#
#   benches/embed_memory.sh
#
# Collects three runs from the simulator (50 endpoints x 10, 50 or 500 probes x 4 samples), then
# times `hivewatch analyze --embedder lexical` on each with an emptied cache, with GNU time; and
# `--embedder minilm` on the two smaller runs when $HIVEWATCH_MINILM_DIR names the model folder
# (scripts/test.sh's venv has it).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
start_simulator

for probes in 10 50 500; do
    dir="$work/p$probes"
    mkdir -p "$dir/suite"
    printf '[suite]\nname = "mem"\nversion = "1"\n' > "$dir/suite/suite.toml"
    for i in $(seq 1 "$probes"); do
        printf '[[probes]]\nid = "m-%05d"\ncategory = "c%d"\nprompt = "Question %d: what should a city do about housing, transport number %d and climate?"\n\n' "$i" $((i % 10)) "$i" "$i"
    done > "$dir/suite/probes.toml"
    {
        printf '[run]\nsuite = "suite"\nsamples = 4\noutput = "reports"\n\n[sampling]\nseed = 1\n\n[limits]\nmax_concurrency = 8\n'
        for i in $(seq 0 49); do
            printf '\n[[endpoints]]\nname = "fam%s-m%s"\nprovider = "openai"\nbase_url = "%s/v1"\nmodel = "fam%s-m%s"\n' $((i % 9)) "$i" "$url" $((i % 9)) "$i"
        done
    } > "$dir/hivewatch.toml"
    "$bin" -q run --config "$dir/hivewatch.toml" > /dev/null
    n=$((50 * probes * 4))
    for embedder in lexical minilm; do
        args=(--embedder "$embedder")
        if [ "$embedder" = minilm ]; then
            [ -n "${HIVEWATCH_MINILM_DIR:-}" ] && [ "$probes" -le 50 ] || continue
            args+=(--model-dir "$HIVEWATCH_MINILM_DIR")
        fi
        rm -rf "$dir/reports/.hivewatch/embed-cache"
        /usr/bin/time -f '%e %M' -o "$dir/time" "$bin" -q analyze --output "$dir/reports" "${args[@]}" > /dev/null
        read -r wall rss < "$dir/time"
        echo "analyze --embedder $embedder: $n responses in ${wall} s = $(python3 -c "print(round($n / $wall))") texts/s, peak RSS $((rss / 1024)) MiB"
    done
done
