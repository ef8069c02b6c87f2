"""Checks of the output parsers and the summary maths, on real outputs kept in fixtures/
(trimmed to the parts the parsers read).  Run: python3 -m unittest bench/harness/test_harness.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import report  # noqa: E402
from tools import Cicada, Goose, Locust, Oha, ParseError, Wrk, _wrk_duration_ms  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


class Parsers(unittest.TestCase):
    def test_wrk(self):
        r = Wrk().parse(FIX, os.path.join(FIX, "wrk.txt"))
        self.assertEqual(r["requests"], 476543)
        self.assertAlmostEqual(r["rps"], 31595.50)
        self.assertAlmostEqual(r["duration_s"], 15.08)
        self.assertAlmostEqual(r["p50_ms"], 0.396)
        self.assertAlmostEqual(r["p99_ms"], 29.81)
        self.assertEqual(r["failures"], 0)

    def test_wrk_units(self):
        self.assertAlmostEqual(_wrk_duration_ms("212.00us"), 0.212)
        self.assertAlmostEqual(_wrk_duration_ms("1.02s"), 1020.0)
        self.assertAlmostEqual(_wrk_duration_ms("1.50m"), 90000.0)
        with self.assertRaises(ParseError):
            _wrk_duration_ms("12 parsecs")

    def test_oha(self):
        r = Oha().parse(FIX, os.path.join(FIX, "oha.json"))
        self.assertGreater(r["requests"], 0)
        self.assertAlmostEqual(r["rps"], r["requests"] / r["duration_s"])
        self.assertLess(r["p50_ms"], r["p99_ms"])

    def test_goose(self):
        r = Goose("unused").parse(FIX, "unused")
        self.assertGreater(r["requests"], 0)
        self.assertEqual(r["failures"], 0)
        self.assertLessEqual(r["p50_ms"], r["p99_ms"])

    def test_locust(self):
        r = Locust().parse(FIX, "unused")
        self.assertGreater(r["requests"], 0)
        self.assertGreater(r["rps"], 0)
        self.assertIsNotNone(r["p99_ms"])

    def test_cicada(self):
        r = Cicada("unused").parse(FIX, "unused")
        self.assertGreater(r["requests"], 0)
        self.assertLess(r["p50_ms"], r["p99_ms"])

    def test_missing_output_is_a_parse_error(self):
        with self.assertRaises(ParseError):
            Locust().parse("/nonexistent", "unused")
        with self.assertRaises(ParseError):
            Cicada("unused").parse("/nonexistent", "unused")


class Summaries(unittest.TestCase):
    def _run(self, tool, rps, per_cpu, rep=1):
        return {"tool": tool, "rep": rep, "rps": rps, "req_per_cpu_s": per_cpu, "cpu_s": 1.0,
                "loadavg": "1 1 1", "requests": rps * 15, "rss_early": 1 << 20, "rss_late": 1 << 20}

    def test_medians_and_ratios_to_wrk(self):
        runs = [self._run("wrk", v, 2 * v, i) for i, v in enumerate((100, 300, 200))]
        runs += [self._run("cicada", v, v, i) for i, v in enumerate((90, 95, 500))]
        s = report.throughput_summary(runs, ["wrk", "cicada"])
        self.assertEqual(s["wrk"]["rps"], 200)
        self.assertEqual(s["cicada"]["rps"], 95)
        self.assertAlmostEqual(s["cicada"]["rps_vs_wrk"], 0.475)
        self.assertAlmostEqual(s["cicada"]["cost_vs_wrk"], 95 / 400)
        verdicts = {g: v for g, _, v in report.goals(s, None, None)}
        self.assertIs(verdicts["throughput per core ≥ 0.9× wrk"], False)
        self.assertIs(verdicts["memory flat however many requests are sent"], True)

    def test_idle_per_user_needs_all_connected(self):
        base = {"tool": "cicada", "users": 1, "rss_bytes": 10_000_000, "connected": 1,
                "loadavg": "1 1 1"}
        full = {"tool": "cicada", "users": 1001, "rss_bytes": 20_000_000, "connected": 1001,
                "first_connected_s": 0.5, "all_connected_s": 1.5, "loadavg": "1 1 1"}
        short = dict(full, users=2001, connected=1500, all_connected_s=None)
        s = report.idle_summary([base, full, short], ["cicada"])
        self.assertAlmostEqual(s["cicada"]["by_users"][1001]["per_user_bytes"], 10_000)
        self.assertAlmostEqual(s["cicada"]["by_users"][1001]["spawn_s"], 1.0)
        self.assertIsNone(s["cicada"]["by_users"][2001]["per_user_bytes"])


if __name__ == "__main__":
    unittest.main()
