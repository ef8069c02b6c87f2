"""Profile cicada where it misses a goal, with evidence for the engine engineer.

    python3 bench/harness/profile.py --cicada BIN [--seconds 8] [--out DIR]

1. `perf stat` (software counters) on wrk and on cicada, same setup as the throughput section:
   CPU time and context switches per request.
2. `perf record` (cpu-clock, DWARF call graphs) on cicada at 50 connections: flat and
   inclusive reports (perf-flat.txt, perf-children.txt).
3. `heaptrack` on cicada holding 1,000 idle users: who owns the memory at the peak
   (heaptrack.txt).
Everything targets a local nginx pinned to core 0; the profiled tool runs on core 1.
"""

import argparse
import os
import re
import subprocess
import sys
import time

from servers import Nginx
from tools import BENCH, Cicada, Wrk


def sh(cmd, out_file=None, **kw):
    print("+ " + " ".join(cmd), flush=True)
    if out_file:
        with open(out_file, "w", encoding="utf-8") as f:
            return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False, **kw)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def perf_stat(name, cmd, out):
    """Run `cmd` on core 1 under perf stat; return (task-clock ms, context switches)."""
    stat_file = os.path.join(out, f"perf-stat-{name}.txt")
    res = sh(["perf", "stat", "-x", ",", "-o", stat_file, "-e",
              "task-clock,context-switches,cpu-migrations,page-faults", "--",
              "taskset", "-c", "1"] + cmd, cwd=out)
    with open(os.path.join(out, f"stdout-{name}.txt"), "w", encoding="utf-8") as f:
        f.write(res.stdout)
    values = {}
    with open(stat_file, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0] and not line.startswith("#"):
                try:
                    values[parts[2]] = float(parts[0])
                except ValueError:
                    pass
    return values, res.stdout


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cicada", default=os.environ.get("CICADA_BIN"), required=not os.environ.get("CICADA_BIN"))
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--out", default=f"/tmp/cicada-profile-{time.strftime('%Y%m%d-%H%M%S')}")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    cicada = Cicada(args.cicada)
    nginx = Nginx(os.path.join(BENCH, "nginx", "nginx.conf"), 0)
    summary = []
    try:
        # 1. perf stat: CPU and context switches per request, wrk vs cicada.
        for tool in (Wrk(), cicada):
            tool_out = os.path.join(args.out, tool.name)
            os.makedirs(tool_out, exist_ok=True)
            cmd = tool.throughput_cmd(nginx.url, 50, args.seconds, tool_out)
            values, stdout = perf_stat(tool.name, cmd, tool_out)
            with open(os.path.join(tool_out, "stdout.txt"), "w", encoding="utf-8") as f:
                f.write(stdout)
            parsed = tool.parse(tool_out, os.path.join(tool_out, "stdout.txt"))
            n = parsed["requests"] or 1
            line = (f"{tool.name}: {parsed['rps']:,.0f} req/s, {n:,} requests, "
                    f"{values.get('task-clock', 0) * 1000 / n:.2f} µs CPU per request, "
                    f"{values.get('context-switches', 0) / n * 1000:.1f} context switches per 1000 requests, "
                    f"{values.get('page-faults', 0):,.0f} page faults")
            print(line, flush=True)
            summary.append(line)
        # 2. perf record on cicada.
        rec_out = os.path.join(args.out, "record")
        os.makedirs(rec_out, exist_ok=True)
        data = os.path.join(args.out, "perf.data")
        cmd = cicada.throughput_cmd(nginx.url, 50, args.seconds, rec_out)
        sh(["perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
            "-o", data, "--", "taskset", "-c", "1"] + cmd, cwd=rec_out)
        sh(["perf", "report", "-i", data, "--no-children", "--sort", "symbol", "--stdio",
            "--percent-limit", "0.5", "-g", "none"], os.path.join(args.out, "perf-flat.txt"))
        sh(["perf", "report", "-i", data, "--children", "--sort", "symbol", "--stdio",
            "--percent-limit", "3", "-g", "none"], os.path.join(args.out, "perf-children.txt"))
        # 3. heaptrack on cicada with 1,000 idle users.
        idle_out = os.path.join(args.out, "idle")
        os.makedirs(idle_out, exist_ok=True)
        cmd = cicada.idle_cmd(nginx.url, 1000, 1000, args.seconds, idle_out)
        sh(["taskset", "-c", "1", "heaptrack", "-o", os.path.join(args.out, "heaptrack.cicada")] + cmd,
           os.path.join(args.out, "heaptrack-run.txt"), cwd=idle_out)
        traces = [f for f in os.listdir(args.out) if f.startswith("heaptrack.cicada")]
        if traces:
            sh(["heaptrack_print", "--print-peaks=1", "--print-allocators=0",
                "--print-temporary=0", "--print-leaks=0", "--peak-limit=15",
                os.path.join(args.out, traces[0])], os.path.join(args.out, "heaptrack.txt"))
    finally:
        nginx.stop()
    with open(os.path.join(args.out, "summary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(summary) + "\n")
    print(f"profiles in {args.out}: perf-flat.txt, perf-children.txt, heaptrack.txt, summary.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
