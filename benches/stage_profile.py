"""Runs one hivewatch command and says what each stage of its tail cost: wall time, CPU time
(user + system, every thread) and peak resident memory, from /proc sampled every 50 ms and the
stage lines the pipeline logs (tracing, info level).

    python3 benches/stage_profile.py OUT.json -- hivewatch analyze --config c.toml --date D

A stage runs from the previous stage's line (or the start) to its own line; `publish` from the
report's line to the exit. Writes OUT.json ({"stages": [[name, wall_s, cpu_s, peak_mib], ...],
"exit": code, "wall_s", "cpu_s", "peak_mib"}) and the command's stderr to OUT.json's name with
`.log`. Exit 0 and 1 (an alert raised) count as success; any other code is passed on.
Standard library only; Linux only (/proc).
"""

import json
import os
import subprocess
import sys
import threading
import time

# (the substring of the log line that ends a stage, the stage's name), in the tail's order.
MARKS = [
    ("wrote the union of the members' responses", "union"),
    # An object-store output: what the night reads of earlier runs, listed and pulled.
    ("pulled what the night reads of earlier runs", "history"),
    ("embedded the responses", "embed"),
    ("extracted behavioural features", "features"),
    ("read what the identity answers claim", "identity"),
    ("measured diversity and convergence", "measures"),
    ("compared declared with measured lineage", "lineage"),
    ("compared with earlier runs", "trends+alerts"),
    ("wrote the report", "report"),
]
TICK = os.sysconf("SC_CLK_TCK")


def sample(pid):
    """(cpu seconds, resident MiB) of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, rss / 1024


def main():
    out, cmd = sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info,hyper=warn,reqwest=warn"))
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    marks, log = [], []

    def read():
        for line in proc.stderr:
            log.append(line)
            for needle, name in MARKS:
                if needle in line:
                    marks.append((time.monotonic(), name))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    samples = []  # (time, cpu, rss)
    while proc.poll() is None:
        s = sample(proc.pid)
        if s:
            samples.append((time.monotonic(), *s))
        time.sleep(0.05)
    end = time.monotonic()
    reader.join(5)
    # The last sample before exit stands for the CPU at the end (what the process used after it
    # is at most one tick).
    bounds = [(start, "start")] + marks + [(end, "publish")]
    stages = []
    for (t0, _), (t1, name) in zip(bounds, bounds[1:]):
        inside = [s for s in samples if t0 <= s[0] <= t1] or [min(samples, key=lambda s: abs(s[0] - t1), default=(t1, 0, 0))]
        before = [s for s in samples if s[0] <= t0]
        cpu0 = before[-1][1] if before else 0.0
        cpu1 = inside[-1][1]
        stages.append([name, round(t1 - t0, 2), round(max(cpu1 - cpu0, 0.0), 2), round(max(s[2] for s in inside))])
    result = {
        "command": cmd,
        "exit": proc.returncode,
        "wall_s": round(end - start, 2),
        "cpu_s": round(samples[-1][1], 2) if samples else 0.0,
        "peak_mib": round(max((s[2] for s in samples), default=0)),
        "stages": stages,
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    with open(out.rsplit(".", 1)[0] + ".log", "w") as f:
        f.writelines(log)
    if proc.returncode not in (0, 1):
        sys.stderr.writelines(log[-30:])
        sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
