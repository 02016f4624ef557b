#!/usr/bin/env bash
# The report at 500 models: one simulated night (500 endpoints in 25 name families, 30 probes,
# 1 sample, lexical embedder), then the page's size and its load in headless Chromium.
#
#   benches/report500.sh [ENDPOINTS]    (default 500)
#
# Load time two ways, three times each: the wall time of a 1400 x 2600 screenshot (Chromium's
# start included: an empty page's is printed beside it), and the page's `load` event timed from a
# wrapper page that loads it in an iframe (`--dump-dom`, the time written into the title).
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints=${1:-500}
chromium=${HIVEWATCH_CHROMIUM:-chromium}

. benches/common.sh
start_simulator

python3 - "$work" "$url" "$endpoints" <<'PY'
import sys
work, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
import os
os.makedirs(f"{work}/suite", exist_ok=True)
open(f"{work}/suite/suite.toml", "w").write('[suite]\nname = "small"\nversion = "1"\ndescription = "report500"\n')
probes = ""
for i in range(30):
    cat = ["policy", "refusal", "creative"][i % 3]
    probes += f'[[probes]]\nid = "p-{i:03}"\ncategory = "{cat}"\nprompt = "Question {i}: should cities favour trains or cars, and why? Consider cost, climate and fairness."\n\n'
open(f"{work}/suite/probes.toml", "w").write(probes)
fams = "acme borealis cirrus delta ember fjord gala helix ion juno kestrel lumen mistral nova orbit pico quill raven sable tundra umbra vega wren xeno yarrow".split()
eps = ""
for i in range(n):
    name = f"{fams[i % len(fams)]}-m{i}"
    eps += f'\n[[endpoints]]\nname = "{name}"\nprovider = "openai"\nbase_url = "{url}/v1"\nmodel = "{name}"\n'
open(f"{work}/hivewatch.toml", "w").write(f'[run]\nsuite = "{work}/suite"\nsamples = 1\noutput = "{work}/reports"\n\n{eps}')
PY

( cd "$work" && /usr/bin/time -f "night: %e s wall, %M KiB peak" "$bin" -q run --config hivewatch.toml --run-date 2026-03-01 > run.out ) || true
page=$(ls "$work"/reports/html/2026-03-01/*.html)
echo "page: $(stat -c %s "$page") bytes"
cp "$page" "$work/page.html"
echo '<html><body>x</body></html>' > "$work/empty.html"
cat > "$work/timed.html" <<'HTML'
<!doctype html><html><head><title>pending</title></head><body><iframe id="f" style="width:1400px;height:2600px"></iframe>
<script>const f = document.getElementById('f'); const t0 = performance.now();
f.onload = () => { document.title = 'load event after ' + (performance.now() - t0).toFixed(0) + ' ms'; };
f.src = 'page.html';</script></body></html>
HTML
for f in empty page; do
    for _ in 1 2 3; do
        /usr/bin/time -f "$f screenshot: %e s wall" "$chromium" --headless --no-sandbox --disable-gpu \
            --window-size=1400,2600 --screenshot="$work/$f.png" "file://$work/$f.html" 2>&1 >/dev/null | grep wall
    done
done
for _ in 1 2 3; do
    "$chromium" --headless --no-sandbox --disable-gpu --window-size=1400,2600 --allow-file-access-from-files \
        --dump-dom "file://$work/timed.html" 2>/dev/null | grep -o 'load event after [0-9]* ms'
done
