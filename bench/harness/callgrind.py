"""Instructions per request under valgrind's callgrind: the comparison that does not depend on
what else the machine is doing (docs/performance.md, "The engine's own HTTP/1.1 client").

Every tool runs twice against the same nginx (bench/nginx/nginx.conf, one worker on core 0), the
generator on core 1 under callgrind: a short run and a long one. Instructions per request =
(instructions of the long run - of the short one) / (requests of the long run - of the short
one), so start-up and shut-down cancel out. cicada runs are bounded by iterations, wrk's by
time (it has no request bound); requests come from each tool's own output.

    python3 bench/harness/callgrind.py [--cicada BIN] [--before BIN] [--iterations 20000]

`--before` adds another cicada build (e.g. main's, on hyper's client) to compare with.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from servers import Nginx
from tools import BENCH

GENERATOR_CORE = "1"
SHORT_ITERATIONS = 500


def _valgrind(cmd, out, name):
    """Run `cmd` under callgrind pinned to the generator core; (instructions, stdout)."""
    full = ["taskset", "-c", GENERATOR_CORE, "valgrind", "--tool=callgrind",
            f"--callgrind-out-file={out}/{name}.callgrind"] + cmd
    res = subprocess.run(full, capture_output=True, text=True, check=False, cwd=out)
    with open(os.path.join(out, f"{name}.stderr"), "w", encoding="utf-8") as f:
        f.write(res.stderr)
    m = re.search(r"Collected : (\d+)", res.stderr)
    if not m:
        raise RuntimeError(f"{name}: no callgrind total (rc {res.returncode}): {res.stderr[-500:]}")
    return int(m.group(1)), res.stdout


def cicada(binary, scenario, url, iterations, out, name):
    report = os.path.join(out, f"{name}.json")
    cmd = [binary, "run", os.path.join(BENCH, "cicada", scenario), "-u", "50", "-r", "1000",
           "--iterations", str(iterations), "-t", "600s", "-H", url.rstrip("/"), "--quiet",
           "--json", report]
    total, _ = _valgrind(cmd, out, name)
    with open(report, encoding="utf-8") as f:
        agg = json.load(f)["aggregated"]
    if agg["failures"]:
        raise RuntimeError(f"{name}: {agg['failures']} failed requests")
    return total, int(agg["requests"])


def wrk(url, seconds, out, name):
    total, stdout = _valgrind(["wrk", "-t1", "-c50", f"-d{seconds}s", url], out, name)
    m = re.search(r"(\d+) requests in", stdout)
    if not m:
        raise RuntimeError(f"{name}: wrk summary missing: {stdout[-300:]}")
    return total, int(m.group(1))


def per_request(short, long):
    (i0, r0), (i1, r1) = short, long
    return (i1 - i0) / (r1 - r0), r1 - r0


def measure(args, out):
    nginx = Nginx(os.path.join(BENCH, "nginx", "nginx.conf"), 0)
    rows = []
    try:
        builds = [("cicada", args.cicada)] + ([("before", args.before)] if args.before else [])
        for label, binary in builds:
            for scenario in ("hello.toml", "dryad-like.toml"):
                name = f"{label}-{scenario.split('.')[0]}"
                short = cicada(binary, scenario, nginx.url, SHORT_ITERATIONS, out, f"{name}-short")
                long = cicada(binary, scenario, nginx.url, args.iterations, out, f"{name}-long")
                ipr, n = per_request(short, long)
                rows.append({"tool": label, "scenario": scenario, "instructions_per_request": ipr,
                             "requests": n})
                print(f"{label} {scenario}: {ipr:,.0f} instructions/request over {n:,} requests",
                      flush=True)
        if shutil.which("wrk"):
            short = wrk(nginx.url, 2, out, "wrk-short")
            long = wrk(nginx.url, args.wrk_seconds, out, "wrk-long")
            ipr, n = per_request(short, long)
            rows.append({"tool": "wrk", "scenario": "GET /", "instructions_per_request": ipr,
                         "requests": n})
            print(f"wrk GET /: {ipr:,.0f} instructions/request over {n:,} requests", flush=True)
    finally:
        nginx.stop()
    return rows


def table(rows):
    ref = next((r["instructions_per_request"] for r in rows if r["tool"] == "wrk"), None)
    plain = {r["tool"]: r["instructions_per_request"] for r in rows if r["scenario"] == "hello.toml"}
    lines = ["| tool | scenario | instructions per request | × wrk | × plain GET |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        ipr = r["instructions_per_request"]
        vs_wrk = f"{ipr / ref:.2f}" if ref else "—"
        vs_plain = f"{ipr / plain[r['tool']]:.2f}" if r["tool"] in plain else "—"
        lines.append(f"| {r['tool']} | {r['scenario']} | {ipr:,.0f} | {vs_wrk} | {vs_plain} |")
    return "\n".join(lines)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cicada", default=os.environ.get("CICADA_BIN"), required=False)
    p.add_argument("--before", help="another cicada build to compare with")
    p.add_argument("--iterations", type=int, default=20000)
    p.add_argument("--wrk-seconds", type=int, default=8)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if not args.cicada:
        p.error("--cicada BIN (or CICADA_BIN) is required")
    out = args.out or tempfile.mkdtemp(prefix="cicada-callgrind-")
    os.makedirs(out, exist_ok=True)
    rows = measure(args, out)
    print()
    print(table(rows))
    with open(os.path.join(out, "callgrind.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    print(f"\nraw outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
