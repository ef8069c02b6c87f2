"""Running one generator process, bounded, and measuring what it cost.

CPU seconds come from the kernel's rusage of the waited-for process (every thread, start-up and
shut-down included); resident memory is sampled from /proc while it runs.
"""

import os
import signal
import subprocess
import time

from procfs import cpu_seconds, established, rss_bytes


class Finished:
    """What one generator run cost, and where its output went."""

    def __init__(self, rc, wall_s, cpu_s, samples, max_rss, stdout, stderr):
        self.rc = rc
        self.wall_s = wall_s
        self.cpu_s = cpu_s
        # Every tick: {"t": seconds since start, "rss": bytes, "cpu": generator CPU-s, **probe()}
        self.samples = samples
        self.max_rss = max_rss
        self.stdout = stdout
        self.stderr = stderr


def pinned(cmd, core, nice=0):
    """`cmd` pinned to one core with taskset, at a nice level when asked (0: unchanged)."""
    prefix = ["nice", "-n", str(nice)] if nice else []
    return prefix + ["taskset", "-c", str(core)] + list(cmd)


def _spawn(cmd, core, out, env, nice):
    stdout = os.path.join(out, "stdout.txt")
    stderr = os.path.join(out, "stderr.txt")
    full = pinned(cmd, core, nice)
    with open(os.path.join(out, "command.txt"), "w", encoding="utf-8") as f:
        f.write(" ".join(full) + "\n")
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(stdout, "wb") as so, open(stderr, "wb") as se:
        # nice and taskset exec the tool, so the PID is the tool's own.
        proc = subprocess.Popen(full, stdout=so, stderr=se, stdin=subprocess.DEVNULL,
                                env=full_env, cwd=out)
    return proc, stdout, stderr


def _reap(proc, started, deadline, stop_signal, probe, tick):
    """Wait for the process, sampling it each tick; stop it if it outlives `deadline`."""
    samples = []
    signalled = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage, samples
        now = time.monotonic()
        rss = rss_bytes(proc.pid)
        cpu = cpu_seconds(proc.pid)
        if rss is not None and cpu is not None:
            sample = {"t": round(now - started, 3), "rss": rss, "cpu": cpu}
            if probe:
                sample.update(probe())
            samples.append(sample)
        if now > deadline and signalled is None:
            proc.send_signal(getattr(signal, stop_signal))
            signalled = now
        elif signalled is not None and now > signalled + 15:
            proc.kill()
        time.sleep(tick)


def run_bounded(cmd, core, out, seconds, stop_signal="SIGINT", env=None, grace=30, probe=None,
                tick=0.25, nice=0):
    """Run `cmd` pinned to `core`; it should stop by itself after `seconds`, else it is stopped.

    CPU seconds are the kernel's rusage of the reaped process: all threads, whole lifetime.
    """
    os.makedirs(out, exist_ok=True)
    started = time.monotonic()
    proc, stdout, stderr = _spawn(cmd, core, out, env, nice)
    usage, samples = _reap(proc, started, started + seconds + grace, stop_signal, probe, tick)
    wall = time.monotonic() - started
    return Finished(proc.returncode, wall, usage.ru_utime + usage.ru_stime, samples,
                    usage.ru_maxrss * 1024, stdout, stderr)


def steady_window(samples, seconds, skip_s=2.0, tail_s=1.0):
    """The samples of the steady part of a run: from `skip_s` after the first connection the
    target saw (sample key "conns") to `tail_s` before the run's nominal end. None if too short."""
    first = next((s["t"] for s in samples if s.get("conns")), None)
    if first is None:
        return None
    lo, hi = first + skip_s, first + seconds - tail_s
    window = [s for s in samples if lo <= s["t"] <= hi]
    if len(window) < 2 or window[-1]["t"] - window[0]["t"] < 1.0:
        return None
    return window


def run_until_connected(cmd, core, out, port, users, limit_s, settle_s, stop_signal, env=None,
                        nice=0):
    """Start `cmd`, watch the target's established connections until `users` are open (or
    `limit_s` passes), let it settle `settle_s`, read RSS, then stop it.

    Returns a dict: first/all-connected times (s after start), connections reached, RSS.
    """
    os.makedirs(out, exist_ok=True)
    started = time.monotonic()
    proc, stdout, stderr = _spawn(cmd, core, out, env, nice)
    first = full = None
    reached = 0
    samples = []
    while True:
        now = time.monotonic() - started
        if proc.poll() is not None:
            break
        reached = established(port)
        samples.append((round(now, 3), reached))
        if reached and first is None:
            first = now
        if reached >= users:
            full = now
            break
        if now > limit_s:
            break
        time.sleep(0.02)
    if proc.poll() is None:
        time.sleep(settle_s)
    rss = rss_bytes(proc.pid)
    cpu = cpu_seconds(proc.pid)
    after_settle = established(port) if proc.poll() is None else 0
    if proc.poll() is None:
        proc.send_signal(getattr(signal, stop_signal))
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return {
        "rc": proc.returncode,
        "first_connected_s": first,
        "all_connected_s": full,
        "connected": max(reached, after_settle),
        "rss_bytes": rss,
        "cpu_s_at_sample": cpu,
        "connection_samples": samples[:: max(1, len(samples) // 200)],
        "stdout": stdout,
        "stderr": stderr,
    }


def wait_for_no_connections(port, timeout=30.0):
    """Between runs: wait until the previous generator's connections are gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if established(port) == 0:
            return True
        time.sleep(0.2)
    return False
