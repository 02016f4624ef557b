#!/usr/bin/env bash
# Benchmark: a whole consortium night at scale on this machine, every stage of the coordinator's
# analysis timed (wall, CPU, peak RSS), at several sizes, and the night's stored size per table.
#
#   benches/consortium_scale.sh [ENDPOINTS ...]        (default: 100 250 500)
#
# Settings, by environment variable:
#   MODE=coordinator|member   who embeds: the coordinator everything (default), or each member
#                             its own answers (`[consortium] embed = "member"`, issue 28 item 1;
#                             a binary without that key refuses the configuration)
#   EMBEDDING_MEMBERS=K       in member mode, only the first K members embed their own (a
#                             mixed night: the coordinator embeds the others'); default all
#   EMBEDDER=lexical|minilm   (minilm reads the model folder from $HIVEWATCH_MINILM_DIR)
#   SAMPLES=2  MEMBERS=5  SIMULATORS=3  LATENCY_MS=300  CONCURRENCY=128 (a member's in flight)
#   OUTPUT_EXTRA='...'        TOML added after every configuration's [run] section, e.g.
#                             OUTPUT_EXTRA='[output]\nlexical_embeddings = "recomputed"'
#   HIVEWATCH_BIN=path        a built binary instead of building the release one
#   KEEP=dir                  keep each size's output folder under dir (to query it after)
#
# For each size N: N endpoints spread evenly over the members (families shared across members,
# so the union has structure to find), round-robin over SIMULATORS `hivewatch simulate serve`
# processes with LATENCY_MS per answer, the core suite (200 probes), SAMPLES samples. The
# members run `run --collect-only` at once (as on their own machines), each under GNU time; then
# the coordinator's `analyze --date` under benches/stage_profile.py, which splits its time by the
# stage lines the tail logs. Output is a folder (a shared disk); per table, the bytes of the night.
# Every process runs under `timeout` (TIMEOUT_S, default 1800 s each).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100 250 500}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
mode=${MODE:-coordinator}
embedder=${EMBEDDER:-lexical}
samples=${SAMPLES:-2}
n_members=${MEMBERS:-5}
n_sims=${SIMULATORS:-3}
latency=${LATENCY_MS:-300}
concurrency=${CONCURRENCY:-128}
limit=${TIMEOUT_S:-1800}

. benches/common.sh
hivewatch_binary
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

urls=()
for s in $(seq "$n_sims"); do
    "$bin" -q simulate serve --port 0 --latency-ms "$latency" > "$work/sim$s.out" &
    pids+=($!)
    for _ in $(seq 100); do grep -q listening "$work/sim$s.out" 2>/dev/null && break; sleep 0.1; done
    u=$(sed -n 's/.*listening on //p' "$work/sim$s.out")
    [ -n "$u" ] || { echo "simulator $s did not start" >&2; exit 1; }
    urls+=("$u")
done

case $embedder in
    lexical) embed_toml='[embed]\nembedder = "lexical"\n' ;;
    minilm) embed_toml="[embed]\nembedder = \"minilm\"\nmodel_dir = \"${HIVEWATCH_MINILM_DIR:?set HIVEWATCH_MINILM_DIR to the MiniLM folder}\"\n" ;;
    *) echo "EMBEDDER is lexical or minilm" >&2; exit 2 ;;
esac
embedding_members=0
[ "$mode" = member ] && embedding_members=${EMBEDDING_MEMBERS:-$n_members}
members=()
for m in $(seq "$n_members"); do members+=("lab-$m"); done
export HIVEWATCH_BENCH_SECRET=bench-secret-0123456789abcdef

make_configs() { # $1 folder, $2 endpoints in all
    local dir=$1 total=$2 out="$1/out" providers=(openai anthropic gemini) m i k p base secrets=""
    mkdir -p "$dir"
    for k in "${!members[@]}"; do
        m=${members[$k]}
        member_embed=""
        [ "$k" -lt "$embedding_members" ] && member_embed='embed = "member"\n'
        secrets+="${secrets:+, }$m = \"HIVEWATCH_BENCH_SECRET\""
        {
            printf '[run]\nsuite = "core"\nsamples = %s\noutput = "%s"\nstate_dir = "state-%s"\nmax_concurrency = %s\n%b\n' \
                "$samples" "$out" "$m" "$concurrency" "${OUTPUT_EXTRA:-}"
            printf '[sampling]\nseed = 1\n\n[limits]\nmax_concurrency = 8\n\n%b\n' "$embed_toml"
            printf '[consortium]\nmember = "%s"\nsecret_env = "HIVEWATCH_BENCH_SECRET"\n%b' "$m" "$member_embed"
            # Endpoint i of the night belongs to member i % MEMBERS.
            for ((i = k; i < total; i += n_members)); do
                p=${providers[$((i % 3))]}
                base=${urls[$((i % n_sims))]}
                [ "$p" = openai ] && base="$base/v1"
                printf '\n[[endpoints]]\nname = "fam%s-e%s"\nprovider = "%s"\nbase_url = "%s"\nmodel = "fam%s-e%s"\n' \
                    $((i % 25)) "$i" "$p" "$base" $((i % 25)) "$i"
            done
        } > "$dir/$m.toml"
    done
    # `embed = "member"` is each member's setting; the coordinator uses what they publish.
    printf '[run]\nsuite = "core"\noutput = "%s"\nstate_dir = "state-coordinator"\n%b\n%b\n[consortium]\nmembers = [%s]\nsecrets_env = { %s }\n' \
        "$out" "${OUTPUT_EXTRA:-}" "$embed_toml" "$(printf '"%s", ' "${members[@]}" | sed 's/, $//')" "$secrets" \
        > "$dir/coordinator.toml"
}

date=$(date -u +%F)
summary="$work/summary.tsv"
for n in "${sizes[@]}"; do
    dir="$work/n$n"
    make_configs "$dir" "$n"
    echo "== $n endpoints, $n_members members, core suite x $samples samples ($((n * 200 * samples)) requests), $embedder, embedding by the $mode ($embedding_members of $n_members members embed); load: $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s.%N)
    mpids=()
    for m in "${members[@]}"; do
        /usr/bin/time -f '%e %U %S %M' -o "$dir/$m.time" timeout "$limit" \
            "$bin" -q run --collect-only --config "$dir/$m.toml" --run-date "$date" > "$dir/$m.log" 2>&1 &
        mpids+=($!)
    done
    for k in "${!mpids[@]}"; do
        wait "${mpids[$k]}" || { cat "$dir/${members[$k]}.log" >&2; echo "member ${members[$k]} failed" >&2; exit 1; }
    done
    collect_wall=$(echo "$(date +%s.%N) - $start" | bc)
    read -r mwall mcpu mrss < <(cat "$dir"/lab-*.time | awk '{w = $1 > w ? $1 : w; c += $2 + $3; r = $4 > r ? $4 : r} END {print w, c, r / 1024}')
    printf '%-16s %8.1f s wall %8.1f s CPU (all members) %7.0f MiB peak (one member)\n' members "$collect_wall" "$mcpu" "$mrss"
    timeout "$limit" python3 benches/stage_profile.py "$dir/analyze.json" -- \
        "$bin" analyze --config "$dir/coordinator.toml" --date "$date"
    python3 - "$dir/analyze.json" "$n" "$collect_wall" "$mcpu" "$mrss" "$dir/out" "$date" >> "$summary" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
n, cwall, ccpu, crss, out, date = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7]
print(f"{n}\tmembers (collect)\t{cwall:.1f}\t{ccpu:.1f}\t{crss:.0f}")
for name, wall, cpu, rss in r["stages"]:
    print(f"{n}\t{name}\t{wall}\t{cpu}\t{rss}")
print(f"{n}\tanalyze (all)\t{r['wall_s']}\t{r['cpu_s']}\t{r['peak_mib']}")
# The night's stored bytes, per table (and the members' published copies, and the report).
for entry in sorted(os.listdir(out)):
    path = os.path.join(out, entry)
    if entry.startswith(".") or not os.path.isdir(path):
        continue
    size = 0
    for root, _, files in os.walk(path):
        if entry in ("members", "html") or f"run_date={date}" in root:
            size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"{n}\tbytes:{entry}\t{size}\t\t")
PY
    awk -F'\t' -v n="$n" '$1 == n && $2 !~ /^bytes:/ {printf "%-18s %8.1f s wall %8.1f s CPU %7.0f MiB peak\n", $2, $3, $4, $5}' "$summary" | tail -n +2
    awk -F'\t' -v n="$n" '$1 == n && $2 ~ /^bytes:/ {t += $3; printf "  %-22s %9.1f MB\n", substr($2, 7), $3 / 1e6} END {printf "  %-22s %9.1f MB\n", "night, in all", t / 1e6}' "$summary"
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; rm -rf "$KEEP/n$n"; cp -r "$dir" "$KEEP/n$n"; fi
    rm -rf "$dir"
done

echo
echo "== growth (each stage's wall time over the smallest size's; answers grow ${sizes[*]} / ${sizes[0]}, model pairs as the square)"
python3 - "$summary" "${sizes[0]}" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
base = sys.argv[2]
sizes = sorted({r[0] for r in rows}, key=int)
stages = list(dict.fromkeys(r[1] for r in rows if not r[1].startswith("bytes:")))
val = {(r[0], r[1]): float(r[2]) for r in rows}
print("stage".ljust(20) + "".join(f"{s:>10}" for s in sizes) + "   ratio per size (answers x, pairs x)")
for st in stages:
    cells = [val.get((s, st)) for s in sizes]
    ratios = [f"{val[(s, st)] / val[(base, st)]:.1f}x" if val.get((base, st)) and val.get((s, st)) is not None else "-" for s in sizes]
    print(st.ljust(20) + "".join(f"{c:>10.1f}" if c is not None else f"{'-':>10}" for c in cells) + "   " + " ".join(ratios))
print("(answers x: " + " ".join(f"{int(s) / int(base):.1f}" for s in sizes) + "; model pairs x: "
      + " ".join(f"{int(s) * (int(s) - 1) / (int(base) * (int(base) - 1)):.1f}" for s in sizes) + ")")
PY
