"""A/B the CPU cost per request of cicada builds (or of cicada and wrk), robust on a busy machine.

    python3 bench/harness/ab.py NAME=BINARY [NAME=BINARY ...] [--rounds 3] [--seconds 6]
                                [--connections 50] [--callgrind ITERATIONS] [--wrk]

Each round runs every binary once, in turn, against the same local nginx (one worker pinned to
core 0), the generator pinned to core 1 under `perf stat`: CPU time (task-clock) per request and
context switches per 1,000 requests, whatever share of the core the tool got. Medians per binary
at the end. `--callgrind N` also counts the instructions of N iterations (50 users, no think time)
under valgrind's callgrind: instructions per request, the most noise-free figure there is (it
includes start-up; use the same N for every binary). `--wrk` adds wrk as a reference.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from profile import perf_stat
from servers import Nginx
from tools import BENCH, Cicada, Wrk


def callgrind(binary, url, iterations, out):
    """Instructions per request of `iterations` iterations with 50 users (valgrind callgrind)."""
    report = os.path.join(out, "cicada.json")
    cmd = ["taskset", "-c", "1", "valgrind", "--tool=callgrind",
           f"--callgrind-out-file={out}/callgrind.out", binary, "run",
           os.path.join(BENCH, "cicada", "hello.toml"), "-u", "50", "-r", "1000", "--iterations",
           str(iterations), "-t", "120s", "-H", url.rstrip("/"), "--quiet", "--json", report]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    total = None
    for line in res.stderr.splitlines():
        if "Collected :" in line:
            total = int(line.split(":")[-1].strip())
    return total, iterations


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("builds", nargs="+", help="NAME=BINARY")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--callgrind", type=int, default=0, metavar="ITERATIONS")
    p.add_argument("--wrk", action="store_true")
    args = p.parse_args(argv)
    tools = []
    for spec in args.builds:
        name, _, binary = spec.partition("=")
        tool = Cicada(binary)
        tool.name = name
        tools.append(tool)
    if args.wrk:
        tools.append(Wrk())
    out = tempfile.mkdtemp(prefix="cicada-ab-")
    nginx = Nginx(os.path.join(BENCH, "nginx", "nginx.conf"), 0)
    costs = {t.name: [] for t in tools}
    switches = {t.name: [] for t in tools}
    try:
        for r in range(args.rounds):
            for tool in tools:
                tool_out = os.path.join(out, f"{tool.name}-{r}")
                os.makedirs(tool_out, exist_ok=True)
                cmd = tool.throughput_cmd(nginx.url, args.connections, args.seconds, tool_out)
                values, stdout = perf_stat(tool.name, cmd, tool_out)
                with open(os.path.join(tool_out, "stdout.txt"), "w", encoding="utf-8") as f:
                    f.write(stdout)
                parsed = tool.parse(tool_out, os.path.join(tool_out, "stdout.txt"))
                n = parsed["requests"] or 1
                us = values.get("task-clock", 0) * 1000 / n
                cs = values.get("context-switches", 0) / n * 1000
                costs[tool.name].append(us)
                switches[tool.name].append(cs)
                print(f"round {r + 1} {tool.name}: {parsed['rps']:,.0f} req/s, {n:,} requests, "
                      f"{us:.2f} µs CPU/request, {cs:.1f} cs/1000 req, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        print("medians:")
        for tool in tools:
            print(f"  {tool.name}: {statistics.median(costs[tool.name]):.2f} µs CPU/request "
                  f"(runs {', '.join(f'{c:.2f}' for c in costs[tool.name])}), "
                  f"{statistics.median(switches[tool.name]):.1f} cs/1000 req")
        if args.callgrind:
            for tool in tools:
                if not isinstance(tool, Cicada):
                    continue
                cg_out = os.path.join(out, f"{tool.name}-callgrind")
                os.makedirs(cg_out, exist_ok=True)
                total, n = callgrind(tool.binary, nginx.url, args.callgrind, cg_out)
                if total:
                    print(f"  {tool.name}: callgrind {total:,} instructions for {n:,} iterations "
                          f"= {total / n:,.0f} per request (start-up included)")
                else:
                    print(f"  {tool.name}: callgrind gave no total (see {cg_out})")
    finally:
        nginx.stop()
    print(f"raw outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
