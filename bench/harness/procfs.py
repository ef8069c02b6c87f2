"""Reading /proc and ss: CPU time, resident memory, process children, established connections."""

import os
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    """User + system CPU seconds of a live process (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" the fields start at field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    """Resident set size of a live process in bytes, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return None


def children(pid):
    """PIDs of the direct children of a process."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                out.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return out


def established(port):
    """Established TCP connections whose local port is `port` (the server side of each)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True, text=True, check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def loadavg():
    """The 1-, 5- and 15-minute load averages, as /proc/loadavg says."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])
