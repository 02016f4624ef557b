#!/usr/bin/env bash
# Benchmark: a zero-latency run against the simulator.
#
#   benches/collect_throughput.sh [ENDPOINTS] [PROBES] [SAMPLES]    (default 50 150 4 = 30,000 requests)
#
# Builds the release binary, starts `hivewatch simulate serve` on 127.0.0.1, and times
# `hivewatch run` with GNU time: wall time, requests/s, CPU time and peak RSS of the run
# process. The simulator runs on the same machine and competes for the same cores; its CPU
# time is reported too. A second, 10x smaller run shows whether memory grows with the run.
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints=${1:-50}
probes=${2:-150}
samples=${3:-4}

. benches/common.sh
start_simulator

make_suite() { # $1 folder, $2 probes: the first N probes of probes/core
    python3 - "$1" "$2" <<'PY'
import sys, tomllib, glob, os, json
out, n = sys.argv[1], int(sys.argv[2])
probes = []
for f in sorted(glob.glob("probes/core/*.toml")):
    probes += tomllib.load(open(f, "rb")).get("probes", [])
probes = sorted(probes, key=lambda p: p["id"])
probes = (probes * (n // len(probes) + 1))[:n]
os.makedirs(out, exist_ok=True)
open(f"{out}/suite.toml", "w").write('[suite]\nname = "bench"\nversion = "1"\n')
with open(f"{out}/probes.toml", "w") as fh:
    for i, p in enumerate(probes):
        fh.write(f'[[probes]]\nid = "b-{i:05d}"\ncategory = {json.dumps(p["category"])}\nprompt = {json.dumps(p["prompt"])}\n\n')
PY
}

make_config() { # $1 folder, $2 endpoints, $3 samples
    {
        printf '[run]\nsuite = "suite"\nsamples = %s\noutput = "reports"\nmax_concurrency = 64\n\n[sampling]\nseed = 1\n\n[limits]\nmax_concurrency = 8\n' "$3"
        providers=(openai anthropic gemini)
        for i in $(seq 0 $(($2 - 1))); do
            p=${providers[$((i % 3))]}
            base=$url; [ "$p" = openai ] && base="$url/v1"
            printf '\n[[endpoints]]\nname = "fam%s-m%s"\nprovider = "%s"\nbase_url = "%s"\nmodel = "fam%s-m%s"\n' $((i % 9)) "$i" "$p" "$base" $((i % 9)) "$i"
        done
    } > "$1/hivewatch.toml"
}

measure() { # $1 label, $2 endpoints, $3 probes, $4 samples
    local dir="$work/$1"
    mkdir -p "$dir"
    make_suite "$dir/suite" "$3"
    make_config "$dir" "$2" "$4"
    local requests=$(($2 * $3 * $4))
    local sim_cpu_before sim_cpu_after
    sim_cpu_before=$(awk '{print $14 + $15}' "/proc/$sim_pid/stat")
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin" -q run --config "$dir/hivewatch.toml" > /dev/null
    sim_cpu_after=$(awk '{print $14 + $15}' "/proc/$sim_pid/stat")
    read -r wall user sys rss < "$dir/time"
    local tck; tck=$(getconf CLK_TCK)
    python3 - "$1" "$requests" "$wall" "$user" "$sys" "$rss" "$(( (sim_cpu_after - sim_cpu_before) ))" "$tck" <<'PY'
import sys
label, n, wall, user, sys_, rss, sim_ticks, tck = sys.argv[1:]
n, wall, cpu, rss = int(n), float(wall), float(user) + float(sys_), int(rss)
print(f"{label:>6}: {n:>7} requests in {wall:6.2f} s = {n / wall:8.0f} req/s; "
      f"hivewatch CPU {cpu:6.2f} s ({1e6 * cpu / n:5.0f} us/request), peak RSS {rss / 1024:6.1f} MiB; "
      f"simulator CPU {int(sim_ticks) / int(tck):6.2f} s")
PY
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
echo "hivewatch $("$bin" --version | cut -d' ' -f2), $endpoints endpoints x $probes probes x $samples samples"
measure small "$endpoints" $((probes / 10 > 0 ? probes / 10 : 1)) "$samples"
measure full "$endpoints" "$probes" "$samples"
