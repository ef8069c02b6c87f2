"""The load generators compared: how to start each one and how to read its own output.

Every tool's figures come from the tool itself (its report or summary), parsed here; the harness
only adds what no tool reports about itself (CPU seconds, memory, connection counts).
"""

import csv
import json
import os
import re
import shutil

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ParseError(RuntimeError):
    """A tool's output did not contain the figures expected."""


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _wrk_duration_ms(text):
    """wrk prints latencies as 212.00us, 1.20ms, 1.02s or 1.50m."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ParseError(f"unrecognised wrk duration {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
    return float(m.group(1)) * scale


class Tool:
    """One load generator. `name` is how tables show it; `available()` whether it can run."""

    name = ""
    # Whether the tool has users with think time (for the idle-memory and spawn tests).
    has_users = False

    def available(self):
        raise NotImplementedError

    def throughput_cmd(self, url, connections, seconds, out):
        raise NotImplementedError

    def latency_cmd(self, url, rate, seconds, out):
        raise NotImplementedError

    def idle_cmd(self, url, users, spawn_rate, seconds, out):
        raise NotImplementedError

    def parse(self, out, stdout_path):
        """{requests, failures, duration_s, rps, p50_ms, p99_ms} from the tool's own output."""
        raise NotImplementedError

    # Environment and stop signal for a run; most tools take SIGINT as "stop and report".
    env = None
    stop_signal = "SIGINT"


class Wrk(Tool):
    name = "wrk"

    def available(self):
        return shutil.which("wrk") is not None

    def throughput_cmd(self, url, connections, seconds, out):
        return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]

    def latency_cmd(self, url, rate, seconds, out):
        # wrk has no rate flag: each connection is a closed loop, so against a 10 ms server
        # rate/100 connections give the rate asked.
        connections = max(1, round(rate / 100))
        return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]

    def parse(self, out, stdout_path):
        text = _read(stdout_path)
        m = re.search(r"(\d+) requests in ([\d.]+\w+),", text)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
        if not m or not rps:
            raise ParseError(f"wrk summary not found in {stdout_path}")
        requests = int(m.group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        failures = int(non2xx.group(1)) if non2xx else 0
        if errors:
            failures += sum(int(g) for g in errors.groups())
        pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
        return {
            "requests": requests,
            "failures": failures,
            "duration_s": _wrk_duration_ms(m.group(2)) / 1000.0,
            "rps": float(rps.group(1)),
            "p50_ms": _wrk_duration_ms(pct["50"]) if "50" in pct else None,
            "p99_ms": _wrk_duration_ms(pct["99"]) if "99" in pct else None,
        }


class Oha(Tool):
    name = "oha"

    def _bin(self):
        return shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")

    def available(self):
        return os.access(self._bin(), os.X_OK)

    def throughput_cmd(self, url, connections, seconds, out):
        return [self._bin(), "-z", f"{seconds}s", "-c", str(connections), "--no-tui",
                "--output-format", "json", url]

    def latency_cmd(self, url, rate, seconds, out):
        # Open loop at `rate`, with enough connections that none has to queue at 10 ms each.
        return [self._bin(), "-z", f"{seconds}s", "-c", "10", "-q", str(rate), "--no-tui",
                "--output-format", "json", url]

    def parse(self, out, stdout_path):
        try:
            data = json.loads(_read(stdout_path))
        except json.JSONDecodeError as e:
            raise ParseError(f"oha JSON unreadable in {stdout_path}: {e}") from e
        ok = sum(data.get("statusCodeDistribution", {}).values())
        status_fail = sum(v for k, v in data.get("statusCodeDistribution", {}).items()
                          if not 200 <= int(k) < 400)
        # Requests still in flight when -z ends are cancelled and listed as errors: not failures.
        errors = {k: v for k, v in data.get("errorDistribution", {}).items()
                  if "deadline" not in k.lower()}
        total_s = data["summary"]["total"]
        pct = data.get("latencyPercentiles", {})
        ms = lambda v: None if v is None else v * 1000.0
        return {
            "requests": ok,
            "failures": status_fail + sum(errors.values()),
            "duration_s": total_s,
            "rps": ok / total_s if total_s else 0.0,
            "p50_ms": ms(pct.get("p50")),
            "p99_ms": ms(pct.get("p99")),
        }


class Goose(Tool):
    name = "Goose"
    has_users = True

    def __init__(self, binary):
        self.binary = binary

    def available(self):
        return bool(self.binary) and os.access(self.binary, os.X_OK)

    def _cmd(self, url, users, rate, seconds, out):
        return [self.binary, "--host", url.rstrip("/"), "--users", str(users),
                "--increase-rate", str(rate), "--run-time", f"{seconds}s", "--no-reset-metrics",
                "--no-telnet", "--no-websocket", "--quiet",
                "--report-file", os.path.join(out, "goose.json")]

    def throughput_cmd(self, url, connections, seconds, out):
        return self._cmd(url, connections, connections * 20, seconds, out)

    def latency_cmd(self, url, rate, seconds, out):
        users = max(1, round(rate / 100))
        return self._cmd(url, users, users, seconds, out)

    def idle_cmd(self, url, users, spawn_rate, seconds, out):
        return self._cmd(url, users, spawn_rate, seconds, out)

    def parse(self, out, stdout_path):
        return parse_goose_report(os.path.join(out, "goose.json"))


def parse_goose_report(path):
    """Goose's JSON report: its "Aggregated" rows (Goose keeps whole milliseconds)."""
    try:
        data = json.loads(_read(path))
    except (OSError, json.JSONDecodeError) as e:
        raise ParseError(f"Goose report unreadable at {path}: {e}") from e

    def aggregated(key):
        rows = data.get(key) or []
        row = next((r for r in rows if r.get("name") == "Aggregated"), None)
        if row is None:
            raise ParseError(f"no Aggregated row in {key} of Goose report {path}")
        return row

    req = aggregated("raw_request_metrics")
    resp = aggregated("raw_response_metrics")
    requests = int(req["number_of_requests"])
    rps = float(req["requests_per_second"])
    pct = lambda k: None if resp.get(k) is None else float(resp[k])
    return {
        "requests": requests,
        "failures": int(req["number_of_failures"]),
        "duration_s": requests / rps if rps else None,
        "rps": rps,
        "p50_ms": pct("percentile_50"),
        "p99_ms": pct("percentile_99"),
    }


class Locust(Tool):
    name = "Locust"
    has_users = True
    stop_signal = "SIGTERM"

    def available(self):
        return shutil.which("locust") is not None

    def _cmd(self, url, users, rate, seconds, out):
        return ["locust", "-f", os.path.join(BENCH, "locust", "locustfile.py"), "--headless",
                "-u", str(users), "-r", str(rate), "-t", f"{seconds}s",
                "-H", url.rstrip("/"), "--csv", os.path.join(out, "locust"), "--only-summary",
                "--loglevel", "WARNING", "--exit-code-on-error", "0", "--stop-timeout", "0"]

    def throughput_cmd(self, url, connections, seconds, out):
        return self._cmd(url, connections, connections * 20, seconds, out)

    def latency_cmd(self, url, rate, seconds, out):
        users = max(1, round(rate / 100))
        return self._cmd(url, users, users, seconds, out)

    def idle_cmd(self, url, users, spawn_rate, seconds, out):
        return self._cmd(url, users, spawn_rate, seconds, out)

    def parse(self, out, stdout_path):
        path = os.path.join(out, "locust_stats.csv")
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            raise ParseError(f"Locust CSV missing at {path}: {e}") from e
        agg = next((r for r in rows if r.get("Name") == "Aggregated"), None)
        if agg is None:
            raise ParseError(f"no Aggregated row in {path}")
        requests = int(agg["Request Count"])
        rps = float(agg["Requests/s"])
        num = lambda k: None if agg.get(k) in (None, "", "N/A") else float(agg[k])
        return {
            "requests": requests,
            "failures": int(agg["Failure Count"]),
            "duration_s": requests / rps if rps else None,
            "rps": rps,
            "p50_ms": num("50%"),
            "p99_ms": num("99%"),
        }


class Cicada(Tool):
    name = "cicada"
    has_users = True

    def __init__(self, binary, local_ips=None):
        self.binary = binary
        # `--local-ips`: more than ~28,000 users to one target need several source addresses.
        self.local_ips = local_ips

    def available(self):
        return bool(self.binary) and os.access(self.binary, os.X_OK)

    def _report(self, out):
        return os.path.join(out, "cicada.json")

    def _extra(self):
        return ["--local-ips", self.local_ips] if self.local_ips else []

    def throughput_cmd(self, url, connections, seconds, out):
        return [self.binary, "run", os.path.join(BENCH, "cicada", "hello.toml"), "-u",
                str(connections), "-r", str(connections * 20), "-t", f"{seconds}s", "-H",
                url.rstrip("/"), "--quiet", "--json", self._report(out)]

    def latency_cmd(self, url, rate, seconds, out):
        # Open model: iterations start at `rate`/s, each timed from its intended start.
        return [self.binary, "run", os.path.join(BENCH, "cicada", "hello.toml"), "--rate",
                str(rate), "--max-concurrency", "50", "-t", f"{seconds}s", "-H", url.rstrip("/"),
                "--quiet", "--json", self._report(out)]

    def idle_cmd(self, url, users, spawn_rate, seconds, out):
        return [self.binary, "run", os.path.join(BENCH, "cicada", "idle.toml"), "-u", str(users),
                "-r", str(spawn_rate), "-t", f"{seconds}s", "-H", url.rstrip("/"), "--quiet",
                "--json", self._report(out)] + self._extra()

    def parse(self, out, stdout_path):
        path = self._report(out)
        try:
            data = json.loads(_read(path))
        except (OSError, json.JSONDecodeError) as e:
            raise ParseError(f"cicada report unreadable at {path}: {e}") from e
        agg = data["aggregated"]
        duration = data["run"]["duration_s"]
        return {
            "requests": int(agg["requests"]),
            "failures": int(agg["failures"]),
            "duration_s": duration,
            "rps": float(agg["rps"]),
            "p50_ms": float(agg["percentiles"]["p50"]),
            "p99_ms": float(agg["percentiles"]["p99"]),
        }


def all_tools(cicada_bin, goose_bin, local_ips=None):
    return [Wrk(), Oha(), Cicada(cicada_bin, local_ips), Goose(goose_bin), Locust()]

