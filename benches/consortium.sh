#!/usr/bin/env bash
# Benchmark: a consortium's night against a local S3 server, the same night on local disk, and
# the cost of history.
#
#   benches/consortium.sh [ENDPOINTS_PER_MEMBER] [SAMPLES] [HISTORY_NIGHTS]
#   (default 20 2 365: 3 members x 20 endpoints x probes/core (200) x 2 samples = 24,000 requests)
#
# Builds the release binary, starts `hivewatch simulate serve` and moto's S3 server (from the venv
# scripts/test.sh makes, $HIVEWATCH_S3_PYTHON) on 127.0.0.1, and times with GNU time (wall time,
# peak RSS) each member's `run --collect-only` and the coordinator's `analyze --date`:
#
#   1. the night with a folder as the output (a consortium on a shared disk);
#   2. the same night with s3://bench/night as the output, the coordinator's mirror empty;
#   3. 8 earlier nights (a full trend window) generated from it (benches/consortium_history.py),
#      then the next night; then HISTORY_NIGHTS earlier nights, and the next night: members
#      again, the coordinator with an empty state folder each time (a new machine: it pulls the
#      whole window it reads); then the night after that with the coordinator's state kept, as
#      a nightly coordinator runs it (only what changed since last night is pulled).
#
# PROFILE=dir: each `analyze` under benches/stage_profile.py, its stages' wall, CPU and peak
# memory in dir/<night>.json and its log (info level, timestamped) in dir/<night>.log.
#
# Members run one after another here (on their own machines they run at once); the simulator
# and moto share the machine's cores with hivewatch.
set -euo pipefail
cd "$(dirname "$0")/.."
per=${1:-20}
samples=${2:-2}
history=${3:-365}

. benches/common.sh
start_simulator
s3py=${HIVEWATCH_S3_PYTHON:-$HOME/.cache/hivewatch-s3-venv/bin/python}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$s3py" -m moto.server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $sim_pid $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2> /dev/null && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true NO_PROXY=127.0.0.1
"$s3py" tests/py/s3_tool.py bucket "$AWS_ENDPOINT" bench
suite="$PWD/probes/core"
members=(lab-a lab-b lab-c)
# Every member signs its publications, the coordinator checks them (one secret for all here).
export HIVEWATCH_BENCH_SECRET=bench-secret-0123456789abcdef

make_configs() { # $1 folder, $2 output
    mkdir -p "$1"
    local providers=(openai anthropic gemini) m i p base
    for m in "${members[@]}"; do
        {
            printf '[run]\nsuite = "%s"\nsamples = %s\noutput = "%s"\nstate_dir = "state-%s"\nmax_concurrency = 64\n\n[sampling]\nseed = 1\n\n[limits]\nmax_concurrency = 8\n\n[consortium]\nmember = "%s"\nsecret_env = "HIVEWATCH_BENCH_SECRET"\n' "$suite" "$samples" "$2" "$m" "$m"
            for i in $(seq 0 $((per - 1))); do
                p=${providers[$((i % 3))]}
                base=$url
                [ "$p" = openai ] && base="$url/v1"
                # Families shared across members, so the union has structure to find.
                printf '\n[[endpoints]]\nname = "fam%s-m%s"\nprovider = "%s"\nbase_url = "%s"\nmodel = "fam%s-%s-m%s"\n' $((i % 7)) "$i" "$p" "$base" $((i % 7)) "$m" "$i"
            done
        } > "$1/$m.toml"
    done
    printf '[run]\nsuite = "%s"\noutput = "%s"\nstate_dir = "state-coordinator"\n\n[consortium]\nmembers = ["lab-a", "lab-b", "lab-c"]\nsecrets_env = { lab-a = "HIVEWATCH_BENCH_SECRET", lab-b = "HIVEWATCH_BENCH_SECRET", lab-c = "HIVEWATCH_BENCH_SECRET" }\n' "$suite" "$2" > "$1/coordinator.toml"
}

results="$work/results"
timed() { # $1 label, then the command; analyze's exit 1 (an alert) counts as success
    local label=$1
    shift
    local code=0
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/last.log" 2>&1 || code=$?
    if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
        cat "$work/last.log" >&2
        exit "$code"
    fi
    read -r wall rss < "$work/time"
    echo "$label $wall $rss" >> "$results"
    printf '%-34s %8.1f s %8.0f MiB\n' "$label" "$wall" "$(echo "$rss / 1024" | bc -l)"
}

night() { # $1 label, $2 folder, $3 date
    local m
    for m in "${members[@]}"; do
        timed "$1 $m" "$bin" -q run --collect-only --config "$2/$m.toml" --run-date "$3"
    done
    if [ -n "${PROFILE:-}" ]; then
        mkdir -p "$PROFILE"
        timed "$1 analyze" python3 benches/stage_profile.py "$PROFILE/${1// /_}.json" -- \
            "$bin" analyze --config "$2/coordinator.toml" --date "$3"
    else
        timed "$1 analyze" "$bin" -q analyze --config "$2/coordinator.toml" --date "$3"
    fi
}

echo "== $((3 * per)) endpoints in 3 members x $(ls probes/core/*.toml | wc -l) suite files x $samples samples"
# The first night early enough that the night after the history is not in the future.
first=$(python3 -c "import datetime; print(datetime.date.today() - datetime.timedelta(days=$history + 2))")
make_configs "$work/local" "$work/local/out"
night local "$work/local" "$first"
make_configs "$work/s3" "s3://bench/night"
night s3 "$work/s3" "$first"

# The cost of history: a night after a full trend window of earlier nights, then a night after
# a year of them; the coordinator's state folder emptied before each (a new machine).
window=8
after() { # $1 label, $2 earlier nights already there
    local day
    day=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$first') + datetime.timedelta(days=$2 + 1))")
    rm -rf "$work/s3/state-coordinator"
    night "$1" "$work/s3" "$day"
}
echo "== $window earlier nights"
"$s3py" benches/consortium_history.py "$AWS_ENDPOINT" bench night "$first" "$window" "$work/history"
after "s3+$window" "$window"
echo "== $history earlier nights"
gen_start=$(date +%s)
"$s3py" benches/consortium_history.py "$AWS_ENDPOINT" bench night "$first" "$history" "$work/history" $((window + 1))
echo "generated in $(($(date +%s) - gen_start)) s"
after "s3+history" "$history"
# Again, alternating: the window's night re-analysed in a bucket that now holds the year, then
# the year's night again (what the year costs, on the same bucket, twice).
after "s3+8 again" "$window"
after "s3+history again" "$history"
# And the next night as a nightly coordinator runs it: its state folder (the mirror of what it
# read and wrote last night) kept, so only what changed since is pulled.
next_day=$(python3 -c "import datetime; print(datetime.date.fromisoformat('$first') + datetime.timedelta(days=$history + 2))")
night "s3+history next" "$work/s3" "$next_day"

python3 - "$results" "$((3 * per * 200 * samples))" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    *label, wall, rss = line.split()
    rows[" ".join(label)] = (float(wall), int(rss) / 1024)
requests = int(sys.argv[2])
def night_of(label):  # "s3+8 again lab-a" -> "s3+8 again"
    return label.rsplit(" ", 1)[0]
def total(prefix):
    return sum(v[0] for k, v in rows.items() if night_of(k) == prefix)
def collect(prefix):
    return sum(v[0] for k, v in rows.items() if night_of(k) == prefix and k.rsplit(" ", 1)[1].startswith("lab-"))
print()
for p in ["local", "s3", "s3+8", "s3+history", "s3+8 again", "s3+history again", "s3+history next"]:
    print(f"{p:<12} night {total(p):7.1f} s   members {collect(p):7.1f} s ({requests / collect(p):6.0f} requests/s)   analyze {rows[p + ' analyze'][0]:6.1f} s   peak RSS {max(v[1] for k, v in rows.items() if night_of(k) == p):6.0f} MiB")
print(f"s3 / local, whole night:               {total('s3') / total('local'):.2f}x")
print(f"s3 / local, the analysis:              {rows['s3 analyze'][0] / rows['local analyze'][0]:.2f}x")
print(f"with history / first night, whole:     {total('s3+history') / total('s3'):.2f}x")
print(f"with history / first night, analysis:  {rows['s3+history analyze'][0] / rows['s3 analyze'][0]:.2f}x (the coordinator's mirror empty both times)")
print(f"a year / a full window, whole:         {total('s3+history') / total('s3+8'):.2f}x")
print(f"a year / a full window, analysis:      {rows['s3+history analyze'][0] / rows['s3+8 analyze'][0]:.2f}x (what history adds past the window)")
print(f"same bucket, a year / a window, analysis: {rows['s3+history analyze'][0] / rows['s3+8 again analyze'][0]:.2f}x, {rows['s3+history again analyze'][0] / rows['s3+8 again analyze'][0]:.2f}x")
print(f"a year, the next night (mirror kept) / first night, whole: {total('s3+history next') / total('s3'):.2f}x, analysis: {rows['s3+history next analyze'][0] / rows['s3 analyze'][0]:.2f}x")
PY
