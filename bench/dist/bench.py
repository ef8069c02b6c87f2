#!/usr/bin/env python3
"""The distributed run's costs, against nginx on 127.0.0.1 (bench/nginx/nginx.conf):

  coordinator  `cicada run --master --expect-workers 8` and 8 `cicada run --worker`s: the
               coordinator's CPU (it runs no users: it merges every worker's second) per second
               of run and per 1,000 merged requests.
  share        one worker's throughput under a coordinator vs a standalone `cicada run` of the
               same load (the whole of it: one worker takes all of the run), alternating order,
               median of the reps; the worker and the standalone run pinned to the same core.

    bench/dist/bench.py --cicada target/release/cicada [--reps 5] [--workers 8] [--users 16]
                        [--run-time 15s] [--only coordinator|share]

nginx is pinned to core 0, the generators (workers, standalone run) to core 1 (`taskset`, as
docs/performance.md describes), the coordinator to core 0 beside nginx. CPU is each process's
user+system time from the kernel (os.wait4 rusage of that child); requests, rates and durations
come from cicada's own JSON reports (read by the parsers below, tested in test_dist_bench.py).
Standard library only.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCENARIO = os.path.join(ROOT, "bench/cicada/hello.toml")


class ParseError(RuntimeError):
    """A report did not hold the figures the benchmark reads."""


def read_report(text, source="report"):
    """The figures the benchmark reads from a cicada JSON report: requests, failures, run
    seconds, requests per second and, for a coordinator's report, its workers (requests each)."""
    try:
        r = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"{source}: not JSON: {e}") from None
    try:
        agg = r["aggregated"]
        out = {
            "requests": int(agg["requests"]),
            "failures": int(agg["failures"]),
            "duration_s": float(r["run"]["duration_s"]),
            "rps": float(agg["rps"]),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ParseError(f"{source}: not a cicada run report (missing {e})") from None
    if out["duration_s"] <= 0:
        raise ParseError(f"{source}: run of {out['duration_s']:g} s")
    merged = r.get("merged") or {}
    out["workers"] = [int(w["requests"]) for w in merged.get("workers", [])]
    return out


def coordinator_cost(cpu_s, report):
    """Coordinator CPU seconds per second of run and per 1,000 merged requests."""
    if report["requests"] == 0:
        raise ParseError("the run made no requests")
    return cpu_s / report["duration_s"], cpu_s / report["requests"] * 1000


def share_ratio(coordinated_rps, standalone_rps):
    """Median over reps of coordinated / standalone throughput, from paired runs."""
    if not coordinated_rps or len(coordinated_rps) != len(standalone_rps):
        raise ValueError("paired runs expected")
    ratios = [c / s for c, s in zip(coordinated_rps, standalone_rps)]
    return statistics.median(ratios), ratios


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(core, args):
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *args] if taskset else args


def start_nginx(tmp):
    port = free_port()
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf = open(os.path.join(ROOT, "bench/nginx/nginx.conf")).read().replace("@PORT@", str(port))
    open(os.path.join(prefix, "nginx.conf"), "w").write(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(pinned(0, [nginx, "-p", prefix, "-c", os.path.join(prefix, "nginx.conf")]),
                            stderr=subprocess.DEVNULL)
    wait_port(port, proc, "nginx")
    return proc, port


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited ({proc.returncode}) before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{what} did not listen on {port} within {timeout} s")


def wait_log(path, needle, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"exited ({proc.returncode}) before logging {needle!r}: see {path}")
        if needle in open(path, errors="replace").read():
            return
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"no {needle!r} in {path} within {timeout} s")


def wait_cpu(proc, timeout):
    """Wait for a child; its exit code and user+system CPU seconds (its own rusage)."""
    deadline = time.time() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, ru.ru_utime + ru.ru_stime
        if time.time() > deadline:
            proc.kill()
            sys.exit(f"pid {proc.pid} ({proc.args[:4]}) still running after {timeout} s: killed")
        time.sleep(0.05)


def load_args(host, users, run_time):
    return [SCENARIO, "-H", host, "-u", str(users), "-r", str(users * 100), "-t", run_time, "-q"]


def seconds(run_time):
    units = {"s": 1, "m": 60, "h": 3600}
    return float(run_time[:-1]) * units[run_time[-1]] if run_time[-1] in units else float(run_time)


def distributed(cicada, host, tmp, workers, users, run_time, worker_core=1):
    """One coordinated run: (coordinator CPU s, its report, worker CPU s each)."""
    out = os.path.join(tmp, "master.json")
    if os.path.exists(out):
        os.remove(out)
    port = free_port()
    log = os.path.join(tmp, "master.log")
    master = subprocess.Popen(
        pinned(0, [cicada, "run", *load_args(host, users, run_time), "--json", out,
                   "--master", "--expect-workers", str(workers),
                   "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]),
        stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    # Not a probe of the port: the coordinator would log a peer that is not a worker.
    wait_log(log, "coordinator listening on", master)
    procs = [subprocess.Popen(
        pinned(worker_core, [cicada, "run", SCENARIO, "--worker", "--master-host", "127.0.0.1",
                             "--master-port", str(port), "-q"]),
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"worker-{i}.log"), "w"))
        for i in range(workers)]
    limit = seconds(run_time) + 120
    code, cpu = wait_cpu(master, limit)
    worker_cpu = [wait_cpu(p, 60)[1] for p in procs]
    if not os.path.exists(out):
        sys.exit(f"the coordinator exited {code} without a report: see {tmp}/master.log")
    return cpu, read_report(open(out).read(), out), worker_cpu


def standalone(cicada, host, tmp, users, run_time, core=1):
    out = os.path.join(tmp, "standalone.json")
    proc = subprocess.Popen(pinned(core, [cicada, "run", *load_args(host, users, run_time), "--json", out]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, cpu = wait_cpu(proc, seconds(run_time) + 120)
    return cpu, read_report(open(out).read(), out)


def bench_coordinator(a, host, tmp):
    per_s, per_k = [], []
    for rep in range(a.reps):
        cpu, r, wcpu = distributed(a.cicada, host, tmp, a.workers, a.users, a.run_time)
        s, k = coordinator_cost(cpu, r)
        per_s.append(s)
        per_k.append(k)
        print(f"coordinator rep {rep + 1}: {a.workers} workers, cpu {cpu:6.3f} s over "
              f"{r['duration_s']:.1f} s, {r['requests']} merged requests "
              f"(workers {r['workers'] or '?'}, their CPU {sum(wcpu):.2f} s) -> "
              f"{s:.4f} CPU-s per run-second, {k:.4f} CPU-s per 1,000 requests", flush=True)
    print(f"median coordinator CPU with {a.workers} workers: {statistics.median(per_s):.4f} s per "
          f"run-second ({statistics.median(per_s) * 100:.2f} % of a core), "
          f"{statistics.median(per_k):.4f} s per 1,000 merged requests")


def bench_share(a, host, tmp):
    rps = {"coordinated": [], "standalone": []}
    # The generator's CPU per request: what the worker pays for being coordinated, less
    # sensitive than req/s to other processes taking the core.
    cost = {"coordinated": [], "standalone": []}
    for rep in range(a.reps):
        # Alternate the order so drift in the machine's load hits both alike.
        order = ["coordinated", "standalone"] if rep % 2 == 0 else ["standalone", "coordinated"]
        for mode in order:
            if mode == "coordinated":
                _, r, wcpu = distributed(a.cicada, host, tmp, 1, a.users, a.run_time)
                cpu = wcpu[0]
            else:
                cpu, r = standalone(a.cicada, host, tmp, a.users, a.run_time)
            rps[mode].append(r["rps"])
            cost[mode].append(cpu / r["requests"] * 1e6)
            print(f"share rep {rep + 1} {mode:11} {r['requests']:9d} requests, {r['rps']:10.1f} req/s, "
                  f"generator CPU {cpu:6.2f} s = {cost[mode][-1]:6.2f} µs/request", flush=True)
    median, ratios = share_ratio(rps["coordinated"], rps["standalone"])
    print(f"one worker under a coordinator / standalone, same load, same core: median {median:.4f} "
          f"({(median - 1) * 100:+.2f} %; reps {', '.join(f'{x:.3f}' for x in ratios)}) "
          f"{'within' if abs(median - 1) <= 0.03 else 'NOT within'} 3 %")
    median, ratios = share_ratio(cost["coordinated"], cost["standalone"])
    print(f"generator CPU per request, coordinated / standalone: median {median:.4f} "
          f"({(median - 1) * 100:+.2f} %; reps {', '.join(f'{x:.3f}' for x in ratios)})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cicada", default=os.path.join(ROOT, "target/release/cicada"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--users", type=int, default=16, help="users of the whole run")
    p.add_argument("--run-time", default="15s")
    p.add_argument("--only", choices=["coordinator", "share"])
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="cicada-dist-bench-")
    nginx, port = start_nginx(tmp)
    host = f"http://127.0.0.1:{port}"
    try:
        if a.only in (None, "coordinator"):
            bench_coordinator(a, host, tmp)
        if a.only in (None, "share"):
            bench_share(a, host, tmp)
    finally:
        nginx.terminate()
        nginx.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
