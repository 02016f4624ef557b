#!/usr/bin/env bash
# How good the alerts are: false alarms per 365 stable nights, detection delay of sudden drops
# in effective diversity, nights until a converging pair is flagged. The whole nightly pipeline
# runs against the simulated ecosystem (release build); see benches/alert_quality.rs.
#
#   benches/alert_quality.sh [STABLE_SEEDS [STABLE_NIGHTS]]     # default 3 seeds x 365 nights
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hivewatch-target}"
echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1); $(date -u +%F)"
RUST_LOG=warn cargo bench --quiet --bench alert_quality -- "$@"
