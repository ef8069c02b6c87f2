"""The local targets: nginx (throughput, idle memory) and slow_server (latency overhead).

Both bind 127.0.0.1 only, are pinned to one core with taskset and are stopped when the run ends.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from procfs import children
from runner import pinned


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_accepting(port, proc, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before accepting connections")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept connections on 127.0.0.1:{port} within {timeout}s")


class Nginx:
    """nginx from the conf in bench/nginx, in a temporary prefix, one worker pinned to `core`."""

    def __init__(self, conf_template, core, nice=0):
        self.prefix = tempfile.mkdtemp(prefix="cicada-bench-nginx-")
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        self.port = free_port()
        with open(conf_template, encoding="utf-8") as f:
            conf = f.read().replace("@PORT@", str(self.port))
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(conf)
        self.log = open(os.path.join(self.prefix, "stderr.log"), "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            pinned(["nginx", "-p", self.prefix, "-c", self.conf], core, nice),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_accepting(self.port, self.proc, "nginx")
        workers = children(self.proc.pid)
        if len(workers) != 1:
            raise RuntimeError(f"expected one nginx worker, found {workers}")
        self.worker = workers[0]
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.prefix, ignore_errors=True)


class SlowServer:
    """bench/slow_server: answers after a fixed delay and reports its own latency at /__stats."""

    def __init__(self, binary, core, delay_ms=10, nice=0):
        self.proc = subprocess.Popen(
            pinned([binary, "--addr", "127.0.0.1:0", "--delay-ms", str(delay_ms)], core, nice),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"slow_server did not start: {first!r}")
        self.port = int(first.rsplit(":", 1)[1])
        _wait_accepting(self.port, self.proc, "slow_server")
        self.url = f"http://127.0.0.1:{self.port}/"

    def served(self, reset):
        """The server's own latency since the last reset: count, p50_ms, p99_ms, …"""
        query = "?reset" if reset else ""
        with urllib.request.urlopen(f"{self.url}__stats{query}", timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
