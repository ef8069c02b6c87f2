#!/usr/bin/env python3
"""Run the distributed load's manifests' own shell scripts, on this machine: the coordinator's
(deploy/k8s/cicada-master.yaml) and N workers' (deploy/k8s/cicada-worker-job.yaml) `sh -c`
scripts, with the environment Kubernetes would give them (the Secret's tokens, the completion
index), against a counting HTTP server on 127.0.0.1. Then it reads the reports the way the docs
say (the coordinator's log through the documented `sed`, the workers' logs through `cicada
merge`) and checks them against the server's count.

    scripts/k8s_smoke.py [--cicada target/debug/cicada]

What is changed from the manifests, and only that: the scenario (a one-request scenario in a
temporary /scenario, not the DRYAD one, which needs dryad and its database), the target
(`--host`), the load (`--stage`s and `--run-time` shortened to a few seconds), the paths
(/scenario, /reports, /tmp), the coordinator's address (127.0.0.1 and a free port instead of
0.0.0.0:5557 and the Service name: nothing here listens beyond loopback), the web port (free)
and `--autoquit 0`. Every other flag is the manifests'. Exit 0 when everything checks, 1 with the
reason otherwise. Needs PyYAML (kubernetes-validate brings it).
"""
import argparse
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy/k8s")
SCENARIO = """name = "k8s-smoke"
[[users]]
wait = { constant = "2ms" }
[[users.tasks]]
method = "GET"
path = "/"
"""


def fail(msg):
    sys.exit(f"k8s_smoke: FAIL: {msg}")


def job(file):
    with open(os.path.join(K8S, file)) as f:
        docs = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "Job"]
    return docs[0]


def container(j):
    return next(c for c in j["spec"]["template"]["spec"]["containers"] if c["name"] == "cicada")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def do_GET(self):
        with Counting.lock:
            Counting.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def env_of(c, secret, index=None):
    """The container's environment as Kubernetes would set it."""
    env = dict(os.environ)
    for e in c.get("env", []):
        ref = e.get("valueFrom", {})
        if "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            env[e["name"]] = secret[(r["name"], r["key"])]
        elif "fieldRef" in ref:
            env[e["name"]] = str(index)
        else:
            env[e["name"]] = e["value"]
    return env


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cicada", default=os.path.join(ROOT, "target/debug/cicada"))
    a = p.parse_args()
    cicada = os.path.abspath(a.cicada)
    if not os.access(cicada, os.X_OK):
        fail(f"{cicada} is not an executable cicada (cargo build -p cicada-cli)")
    master_job, worker_job = job("cicada-master.yaml"), job("cicada-worker-job.yaml")
    workers = worker_job["spec"]["parallelism"]
    mc, wc = container(master_job), container(worker_job)
    tmp = tempfile.mkdtemp(prefix="cicada-k8s-smoke-")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    link, web = free_port(), free_port()
    bin_dir = os.path.join(tmp, "bin")
    os.makedirs(bin_dir)
    os.symlink(cicada, os.path.join(bin_dir, "cicada"))
    for d in ["scenario", "reports"]:
        os.makedirs(os.path.join(tmp, d))
    with open(os.path.join(tmp, "scenario", "dryad.toml"), "w") as f:
        f.write(SCENARIO)
    secret = {("cicada-master", "master-token"): "smoke-master-token",
              ("cicada-master", "web-token"): "smoke-web-token"}

    def local(script, worker_index=None):
        s = script
        if worker_index is not None:
            # First: the temporary directory is itself under /tmp.
            s = s.replace("/tmp/", f"{tmp}/worker-{worker_index}-")
        s = s.replace("/scenario/", f"{tmp}/scenario/").replace("/reports/", f"{tmp}/reports/")
        s = re.sub(r"--host \S+", f"--host {host}", s)
        s = re.sub(r"--stage \S+ *", "", s)
        s = re.sub(r"--run-time \S+", "-u 8 -r 100 --run-time 4s", s)
        s = re.sub(r"--master-bind-host \S+", "--master-bind-host 127.0.0.1", s)
        s = re.sub(r"--master-bind-port \S+", f"--master-bind-port {link}", s)
        s = re.sub(r"--master-host \S+", "--master-host 127.0.0.1", s)
        s = re.sub(r"--master-port \S+", f"--master-port {link}", s)
        s = re.sub(r"--web-host \S+", "--web-host 127.0.0.1", s)
        s = re.sub(r"--web-port \S+", f"--web-port {web}", s)
        return re.sub(r"--autoquit \S+", "--autoquit 0", s)

    def start(c, script, log, index=None):
        env = env_of(c, secret, index)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        return subprocess.Popen([c["command"][0], *c["command"][1:], script], env=env, cwd=tmp,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT)

    master_log = os.path.join(tmp, "master.log")
    master = start(mc, local(mc["args"][0]), master_log)
    deadline = time.time() + 60
    while "coordinator listening" not in open(master_log).read():
        if master.poll() is not None or time.time() > deadline:
            fail(f"the coordinator did not start:\n{open(master_log).read()}")
        time.sleep(0.1)
    procs = [start(wc, local(wc["args"][0], i), os.path.join(tmp, f"worker-{i}.log"), i)
             for i in range(workers)]
    try:
        code = master.wait(timeout=120)
        codes = [w.wait(timeout=60) for w in procs]
    except subprocess.TimeoutExpired:
        for x in [master, *procs]:
            x.kill()
        fail("a process did not end within its time")
    log = open(master_log).read()
    if code != 0 or any(codes):
        fail(f"exit codes: coordinator {code}, workers {codes}\n{log[-3000:]}")
    # The coordinator's report, out of its log exactly as the docs show.
    out = subprocess.run(["sh", "-c", f"sed -n '/^=== cicada master report/,$p' {master_log} | tail -n +2"],
                         capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    served = Counting.count
    requests = report["aggregated"]["requests"]
    per_worker = [w["requests"] for w in report["merged"]["workers"]]
    if len(per_worker) != workers or sum(per_worker) != requests:
        fail(f"workers in the report {per_worker}, sum != {requests}")
    if requests != served:
        fail(f"the coordinator's report counts {requests} requests, the server served {served}")
    for f in ["report.json", "report.html", "junit.xml"]:
        if not os.path.getsize(os.path.join(tmp, "reports", f)):
            fail(f"/reports/{f} is empty")
    # The workers' own reports, out of their logs by `cicada merge`.
    merged = os.path.join(tmp, "workers.json")
    logs = [os.path.join(tmp, f"worker-{i}.log") for i in range(workers)]
    m = subprocess.run([cicada, "merge", *logs, "--json", merged, "-q"], capture_output=True, text=True)
    if m.returncode != 0:
        fail(f"cicada merge of the workers' logs exited {m.returncode}: {m.stderr}")
    again = json.load(open(merged))["aggregated"]["requests"]
    if again != requests:
        fail(f"the workers' own reports merge to {again} requests, the coordinator's has {requests}")
    server.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"k8s_smoke: ok: the manifests' scripts ran 1 coordinator + {workers} workers; "
          f"{requests} requests in the coordinator's report (its log) = {served} served = the "
          f"workers' own reports merged; per worker {per_worker}")


if __name__ == "__main__":
    main()
