"""Locust side of the benchmark: FastHttpUser looping GET / with no wait.

Users, spawn rate, run time and host come from Locust's flags (-u, -r, -t, -H); bench/run.sh
runs it headless in one process. BENCH_WAIT=MIN-MAX (seconds) adds a uniform wait between
requests, for the idle-memory test.
"""

import os

from locust import FastHttpUser, between, constant, task


def _wait_from_env():
    raw = os.environ.get("BENCH_WAIT", "").strip()
    if not raw:
        return constant(0)
    low, high = (float(part) for part in raw.split("-", 1))
    return between(low, high)


class Hello(FastHttpUser):
    wait_time = _wait_from_env()

    @task
    def root(self):
        self.client.get("/", name="/")
