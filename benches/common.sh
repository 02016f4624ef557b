# Shared by the benchmark scripts: source it, then call start_simulator.
# Builds the release binary into $bin (or takes $HIVEWATCH_BIN, a binary built before: on a
# shared machine, build under its lock and benchmark a copy), starts `hivewatch simulate serve`
# on a free port of 127.0.0.1, sets $url and $work (a temporary folder removed on exit with the
# simulator).

# Sets $bin: $HIVEWATCH_BIN, or the release binary built here.
hivewatch_binary() {
    if [ -n "${HIVEWATCH_BIN:-}" ]; then
        bin=$HIVEWATCH_BIN
    else
        export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hivewatch-target}"
        cargo build --release --quiet
        bin="$CARGO_TARGET_DIR/release/hivewatch"
    fi
}

start_simulator() {
    hivewatch_binary
    work=$(mktemp -d)
    "$bin" -q simulate serve --port 0 > "$work/sim.out" &
    sim_pid=$!
    trap 'kill $sim_pid 2>/dev/null || true; rm -rf "$work"' EXIT
    for _ in $(seq 100); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
    url=$(sed -n 's/.*listening on //p' "$work/sim.out")
    [ -n "$url" ] || { echo "the simulator did not start" >&2; exit 1; }
}
