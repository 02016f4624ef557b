#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs them.
#
#   scripts/test.sh
#
# Needs: the Rust toolchain (cargo), python3 with venv and pip (PyPI reachable).
# Build artifacts go to $CARGO_TARGET_DIR (default ~/.cache/hivewatch-target, outside the clone,
# so repeated runs reuse them) and the Python venv to $HIVEWATCH_VENV (default
# ~/.cache/hivewatch-venv). Neither is relied on for correctness: both are rebuilt as needed.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hivewatch-target}"
venv="${HIVEWATCH_VENV:-$HOME/.cache/hivewatch-venv}"

echo "== python venv with DuckDB ($venv)"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
"$venv/bin/python" -c "import duckdb; print('duckdb', duckdb.__version__)"
export HIVEWATCH_PYTHON="$venv/bin/python"

# Tests talk to 127.0.0.1 only; never through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
unset RUST_LOG

echo "== format and lints"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

echo "== tests"
cargo test --locked
