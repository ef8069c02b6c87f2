"""The three measurements: throughput and cost, memory per idle user (+ spawn speed), latency
overhead. Each returns plain per-run records; report.py turns them into medians and tables."""

import os
import time

from procfs import cpu_seconds, established, loadavg
from runner import run_bounded, run_until_connected, steady_window, wait_for_no_connections
from servers import Nginx, SlowServer
from tools import BENCH, ParseError

TARGET_CORE = 0
GENERATOR_CORE = 1


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _parsed(tool, out, finished):
    try:
        return tool.parse(out, finished.stdout), None
    except (ParseError, KeyError, ValueError, TypeError) as e:
        return None, f"{type(e).__name__}: {e}"


def _rss_early_late(window):
    """RSS at the start and at the end of the steady window (flat memory check)."""
    if not window:
        return None, None
    return window[0]["rss"], window[-1]["rss"]


def _steady_rates(window):
    """Generator and target CPU use (CPU-s per s) over the steady window."""
    if not window:
        return None, None
    dt = window[-1]["t"] - window[0]["t"]
    gen = (window[-1]["cpu"] - window[0]["cpu"]) / dt
    target = (window[-1]["target_cpu"] - window[0]["target_cpu"]) / dt
    return gen, target


def _probe(nginx):
    """Per tick: the target's CPU seconds and how many connections it has."""
    def probe():
        return {"target_cpu": cpu_seconds(nginx.worker) or 0.0, "conns": established(nginx.port)}
    return probe


def throughput(tools, reps, seconds, connections, out_root, nice=0):
    """Every tool against nginx, `reps` rounds, tools interleaved within a round."""
    records = []
    nginx = Nginx(os.path.join(BENCH, "nginx", "nginx.conf"), TARGET_CORE, nice)
    try:
        _log(f"nginx on {nginx.url} (worker pid {nginx.worker}, core {TARGET_CORE})")
        for rep in range(1, reps + 1):
            for tool in tools:
                wait_for_no_connections(nginx.port)
                out = os.path.join(out_root, "throughput", f"{tool.name}-{rep}")
                load = loadavg()
                target0 = cpu_seconds(nginx.worker)
                cmd = tool.throughput_cmd(nginx.url, connections, seconds, out)
                probe = _probe(nginx)
                finished = run_bounded(cmd, GENERATOR_CORE, out, seconds, tool.stop_signal,
                                       tool.env, probe=probe, nice=nice)
                target_cpu = cpu_seconds(nginx.worker) - target0
                parsed, error = _parsed(tool, out, finished)
                window = steady_window(finished.samples, seconds)
                early, late = _rss_early_late(window)
                gen_rate, target_rate = _steady_rates(window)
                rec = {
                    "section": "throughput", "tool": tool.name, "rep": rep, "loadavg": load,
                    "command": " ".join(cmd), "rc": finished.rc, "wall_s": finished.wall_s,
                    "cpu_s": finished.cpu_s, "target_cpu_s": target_cpu,
                    "rss_early": early, "rss_late": late, "max_rss": finished.max_rss,
                    "steady_generator_cpu": gen_rate, "steady_target_cpu": target_rate,
                    "samples": finished.samples, "error": error,
                }
                if parsed:
                    rec.update(parsed)
                    # Whole process (start-up and shut-down included), from the kernel's rusage.
                    rec["req_per_cpu_s_total"] = (parsed["requests"] / finished.cpu_s
                                                  if finished.cpu_s else None)
                    # Steady state: the tool's rate over the CPU it used per second meanwhile.
                    rec["req_per_cpu_s"] = parsed["rps"] / gen_rate if gen_rate else None
                    rec["generator_cpu_pct"] = 100.0 * gen_rate if gen_rate is not None else None
                    rec["target_cpu_pct"] = 100.0 * target_rate if target_rate is not None else None
                records.append(rec)
                if parsed:
                    _log(f"throughput {tool.name} #{rep}: {parsed['rps']:,.0f} req/s, "
                         f"generator {rec['generator_cpu_pct'] or 0:.0f} % → "
                         f"{rec['req_per_cpu_s'] or 0:,.0f} req/CPU-s (whole process "
                         f"{finished.cpu_s:.2f} CPU-s → {rec['req_per_cpu_s_total'] or 0:,.0f}), "
                         f"nginx {rec['target_cpu_pct'] or 0:.0f} %, load {load}")
                else:
                    _log(f"throughput {tool.name} #{rep}: FAILED rc={finished.rc} {error}")
    finally:
        nginx.stop()
    return records


def idle_memory(tools, user_counts, wait, limit_s, settle_s, out_root, nice=0):
    """RSS with N idle users (waits of `wait` seconds) minus RSS with one, per user."""
    records = []
    nginx = Nginx(os.path.join(BENCH, "nginx", "nginx.conf"), TARGET_CORE, nice)
    try:
        for tool in tools:
            env = dict(tool.env or {})
            env["BENCH_WAIT"] = wait
            for users in [1] + list(user_counts):
                wait_for_no_connections(nginx.port, timeout=60)
                out = os.path.join(out_root, "idle", f"{tool.name}-{users}")
                load = loadavg()
                cmd = tool.idle_cmd(nginx.url, users, users, int(limit_s + settle_s + 30), out)
                res = run_until_connected(cmd, GENERATOR_CORE, out, nginx.port, users, limit_s,
                                          settle_s, tool.stop_signal, env, nice)
                rec = {"section": "idle", "tool": tool.name, "users": users, "spawn_rate": users,
                       "loadavg": load, "command": " ".join(cmd), **res}
                records.append(rec)
                _log(f"idle {tool.name} {users} users: {res['connected']} connected, "
                     f"first {res['first_connected_s']}, all {res['all_connected_s']}, "
                     f"RSS {(res['rss_bytes'] or 0) / 2**20:.1f} MiB, load {load}")
    finally:
        nginx.stop()
    return records


def latency(tools, reps, seconds, rate, slow_server_bin, out_root, nice=0):
    """Every tool against the 10 ms server at about `rate` req/s: its p50/p99 minus the server's."""
    records = []
    server = SlowServer(slow_server_bin, TARGET_CORE, nice=nice)
    try:
        _log(f"slow_server on {server.url}")
        for rep in range(1, reps + 1):
            for tool in tools:
                wait_for_no_connections(server.port)
                out = os.path.join(out_root, "latency", f"{tool.name}-{rep}")
                load = loadavg()
                server.served(reset=True)
                cmd = tool.latency_cmd(server.url, rate, seconds, out)
                finished = run_bounded(cmd, GENERATOR_CORE, out, seconds, tool.stop_signal,
                                       tool.env, nice=nice)
                served = server.served(reset=True)
                parsed, error = _parsed(tool, out, finished)
                rec = {"section": "latency", "tool": tool.name, "rep": rep, "loadavg": load,
                       "command": " ".join(cmd), "rc": finished.rc, "cpu_s": finished.cpu_s,
                       "server": served, "error": error}
                if parsed:
                    rec.update(parsed)
                    for p in ("p50", "p99"):
                        mine = parsed.get(f"{p}_ms")
                        rec[f"{p}_overhead_ms"] = None if mine is None else mine - served[f"{p}_ms"]
                    _log(f"latency {tool.name} #{rep}: {parsed['rps']:.0f} req/s, "
                         f"p50 {parsed['p50_ms']} p99 {parsed['p99_ms']} ms; server p50 "
                         f"{served['p50_ms']} p99 {served['p99_ms']} ms; load {load}")
                else:
                    _log(f"latency {tool.name} #{rep}: FAILED rc={finished.rc} {error}")
                records.append(rec)
    finally:
        server.stop()
    return records
