#!/usr/bin/env python3
"""Generator CPU per request of `cicada run` headless vs `cicada run --web` with the page's
stream open (one snapshot with the page's markup a second), against nginx on 127.0.0.1.

    bench/web/bench.py --cicada target/release/cicada [--reps 5] [--users 20] [--run-time 15s]

Prints one line per run and the medians; CPU is the cicada process's user+system time
(rusage of the child), requests come from its JSON report. Standard library only.
"""
import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(tmp):
    port = free_port()
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf = open(os.path.join(ROOT, "bench/nginx/nginx.conf")).read().replace("@PORT@", str(port))
    open(os.path.join(prefix, "nginx.conf"), "w").write(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-p", prefix, "-c", os.path.join(prefix, "nginx.conf")],
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("nginx did not start")


def read_stream(port, stop, counter):
    """The page's stream: GET /api/stream?html=true, read until told to stop."""
    deadline = time.time() + 30
    while not stop.is_set() and time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    else:
        return
    s.sendall(b"GET /api/stream?html=true HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(1)
    while not stop.is_set():
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        counter[0] += data.count(b"event: snapshot")
    s.close()


def one_run(cicada, host, tmp, users, run_time, web):
    out = os.path.join(tmp, "run.json")
    args = [cicada, "run", os.path.join(ROOT, "bench/cicada/hello.toml"), "-H", host,
            "-u", str(users), "-r", str(users * 100), "-t", run_time, "-q", "--json", out]
    events = [0]
    stop = threading.Event()
    reader = None
    if web:
        port = free_port()
        args += ["--web", "--web-port", str(port), "--autostart", "--autoquit", "0"]
        reader = threading.Thread(target=read_stream, args=(port, stop, events))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if reader:
        reader.start()
    proc.wait()
    stop.set()
    if reader:
        reader.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.load(open(out))
    requests = report["aggregated"]["requests"]
    return cpu, requests, events[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cicada", default=os.path.join(ROOT, "target/release/cicada"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--run-time", default="15s")
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="cicada-web-bench-")
    nginx, port = start_nginx(tmp)
    host = f"http://127.0.0.1:{port}"
    per = {"headless": [], "web": []}
    try:
        for rep in range(a.reps):
            # Alternate the order so drift in the machine's load hits both alike.
            modes = ["headless", "web"] if rep % 2 == 0 else ["web", "headless"]
            for mode in modes:
                cpu, requests, events = one_run(a.cicada, host, tmp, a.users, a.run_time, mode == "web")
                us = cpu / requests * 1e6
                per[mode].append(us)
                print(f"rep {rep + 1} {mode:8} cpu {cpu:6.2f} s  requests {requests:9d}  "
                      f"{us:6.3f} µs/request  snapshots read {events}", flush=True)
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    h = statistics.median(per["headless"])
    w = statistics.median(per["web"])
    print(f"median µs of generator CPU per request: headless {h:.3f}, web with the page's stream {w:.3f}, "
          f"web/headless {w / h:.3f} ({(w / h - 1) * 100:+.1f} %)")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
