#!/usr/bin/env bash
# Benchmark: the features stage on 100,000 responses (real answers, cycled) with each refusal
# detector (benches/features.rs), and the whole process's CPU time and peak memory with GNU time.
#
#   benches/features.sh [CSV [ROWS]]
#
# CSV defaults to ../shared/data/xstest_dev/labelled_completions.csv (any CSV with a
# `completion` column will do).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hivewatch-target}"
cargo bench --bench features --no-run --quiet
/usr/bin/time -f 'process: %e s wall, %U s user, %S s system, peak RSS %M KiB' \
    cargo bench --bench features --quiet -- "$@"
