"""Side-by-side benchmark of cicada against wrk, oha, Goose and Locust (see bench/README.md).

Usually started through bench/run.sh, which sets the file-descriptor limit and finds binaries.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import callgrind
import report
import sections
from procfs import loadavg
from tools import all_tools

SECTIONS = ("throughput", "idle", "latency", "callgrind")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reps", type=int, default=3, help="repetitions per tool (default 3)")
    p.add_argument("--seconds", type=int, default=15, help="length of each throughput run")
    p.add_argument("--connections", type=int, default=50, help="connections / users")
    p.add_argument("--tools", default="wrk,oha,cicada,Goose,Locust",
                   help="comma-separated subset of wrk,oha,cicada,Goose,Locust")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="comma-separated subset of " + ",".join(SECTIONS))
    p.add_argument("--idle-users", default="1000,10000", help="user counts for the idle test")
    p.add_argument("--idle-wait", default="5-10", help="wait between requests, seconds MIN-MAX")
    p.add_argument("--idle-limit", type=float, default=60.0,
                   help="seconds to wait for all idle users to connect")
    p.add_argument("--latency-rate", type=int, default=200, help="req/s for the latency test")
    p.add_argument("--latency-seconds", type=int, default=20, help="length of each latency run")
    p.add_argument("--nice", type=int, default=0,
                   help="nice level of targets and generators in throughput and idle runs "
                        "(negative raises priority over other work on a shared machine; root only)")
    p.add_argument("--latency-nice", type=int, default=0,
                   help="nice level of the slow server and generators in latency runs")
    p.add_argument("--callgrind-iterations", type=int, default=20000,
                   help="iterations of the long cicada run under callgrind")
    p.add_argument("--before", default=os.environ.get("CICADA_BEFORE_BIN"),
                   help="another cicada build for the callgrind section (e.g. main's)")
    p.add_argument("--local-ips", default=None,
                   help="cicada --local-ips for the idle runs (more than ~28,000 users)")
    p.add_argument("--cicada", default=os.environ.get("CICADA_BIN"), help="cicada binary")
    p.add_argument("--goose", default=os.environ.get("GOOSE_BIN"), help="bench-goose binary")
    p.add_argument("--slow-server", default=os.environ.get("SLOW_SERVER_BIN"),
                   help="slow-server binary")
    p.add_argument("--out", default=f"/tmp/cicada-bench-{time.strftime('%Y%m%d-%H%M%S')}",
                   help="folder for raw outputs, results.json and summary.md")
    args = p.parse_args(argv)
    for name in args.sections.split(","):
        if name not in SECTIONS:
            p.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
    if args.reps < 1 or args.seconds < 1 or args.connections < 1:
        p.error("--reps, --seconds and --connections must be at least 1")
    return args


def machine():
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    return {"kernel": platform.release(), "cpu": model, "cores": os.cpu_count()}


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    tools = []
    for tool in all_tools(args.cicada, args.goose, args.local_ips):
        if tool.name in wanted:
            if tool.available():
                tools.append(tool)
            else:
                print(f"skipping {tool.name}: not available (see bench/README.md)", flush=True)
    order = [t.name for t in tools]
    which = args.sections.split(",")
    results = {"args": vars(args), "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "loadavg_start": loadavg()}
    md = [f"Run {results['started']} on {results['machine']['cpu']} ({results['machine']['cores']} cores), "
          f"load average at start {results['loadavg_start']}.", ""]

    if "throughput" in which:
        recs = sections.throughput(tools, args.reps, args.seconds, args.connections, args.out,
                                   args.nice)
        summary = report.throughput_summary(recs, order)
        results["throughput"] = {"runs": recs, "summary": summary}
        md += [f"### Throughput and cost ({args.connections} connections, {args.seconds} s, "
               f"medians of {args.reps})", "", report.throughput_table(summary), ""]
    if "idle" in which:
        idle_tools = [t for t in tools if t.has_users]
        counts = [int(n) for n in args.idle_users.split(",")]
        recs = sections.idle_memory(idle_tools, counts, args.idle_wait, args.idle_limit, 3.0, args.out,
                                    args.nice)
        summary = report.idle_summary(recs, order)
        results["idle"] = {"runs": recs, "summary": summary}
        md += [f"### Memory per idle user (waits {args.idle_wait} s, users asked at N/s)", "",
               report.idle_table(summary), ""]
    if "latency" in which:
        if not args.slow_server or not os.access(args.slow_server, os.X_OK):
            print("skipping latency: slow-server binary not found (--slow-server)", flush=True)
        else:
            recs = sections.latency(tools, args.reps, args.latency_seconds, args.latency_rate,
                                    args.slow_server, args.out, args.latency_nice)
            summary = report.latency_summary(recs, order)
            results["latency"] = {"runs": recs, "summary": summary}
            md += [f"### Latency overhead (10 ms server, ~{args.latency_rate} req/s, "
                   f"{args.latency_seconds} s, medians of {args.reps})", "",
                   report.latency_table(summary), ""]

    if "callgrind" in which and args.cicada:
        cg_args = argparse.Namespace(cicada=args.cicada, before=args.before,
                                     iterations=args.callgrind_iterations, wrk_seconds=8)
        cg_out = os.path.join(args.out, "callgrind")
        os.makedirs(cg_out, exist_ok=True)
        rows_cg = callgrind.measure(cg_args, cg_out)
        results["callgrind"] = rows_cg
        md += ["### Instructions per request (callgrind; 50 users / connections against nginx)", "",
               callgrind.table(rows_cg), ""]
    rows = report.goals(results.get("throughput", {}).get("summary"),
                        results.get("idle", {}).get("summary"),
                        results.get("latency", {}).get("summary"))
    if rows:
        md += ["### cicada against the goals", "", report.goals_table(rows), ""]
    results["loadavg_end"] = loadavg()
    md.append(f"Load average at end: {results['loadavg_end']}.")
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, default=str)
    with open(os.path.join(args.out, "summary.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nraw outputs, results.json and summary.md in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
