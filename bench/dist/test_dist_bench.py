"""Checks of the distributed bench's report parser and its sums, on real cicada reports (the
harness's standalone fixture; a coordinator's report in fixtures/, trimmed to the parts read).
Run: python3 -m unittest bench/dist/test_dist_bench.py"""

import importlib.util
import json
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# Loaded by path under its own name: bench/harness has a `bench` module too.
_spec = importlib.util.spec_from_file_location("dist_bench", os.path.join(HERE, "bench.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

HARNESS_FIX = os.path.join(os.path.dirname(HERE), "harness", "fixtures")
FIX = os.path.join(HERE, "fixtures")


def text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class ReadReport(unittest.TestCase):
    def test_a_standalone_run(self):
        r = bench.read_report(text(os.path.join(HARNESS_FIX, "cicada.json")))
        self.assertEqual(r["requests"], 376788)
        self.assertEqual(r["failures"], 0)
        self.assertAlmostEqual(r["duration_s"], 15.003464012)
        self.assertAlmostEqual(r["rps"], 25113.400458630033)
        self.assertEqual(r["workers"], [])

    def test_a_coordinators_run_lists_its_workers(self):
        r = bench.read_report(text(os.path.join(FIX, "master.json")))
        self.assertGreater(len(r["workers"]), 1)
        # The coordinator's merged count is its workers' counts added.
        self.assertEqual(sum(r["workers"]), r["requests"])
        self.assertAlmostEqual(r["rps"], r["requests"] / r["duration_s"], delta=r["rps"] * 0.01)

    def test_bad_reports_are_parse_errors_naming_the_file(self):
        good = json.loads(text(os.path.join(HARNESS_FIX, "cicada.json")))
        no_rps = json.loads(json.dumps(good))
        del no_rps["aggregated"]["rps"]
        zero = json.loads(json.dumps(good))
        zero["run"]["duration_s"] = 0
        wrong_type = json.loads(json.dumps(good))
        wrong_type["aggregated"]["requests"] = "many"
        for body, needle in [
            ("{ not json", "not JSON"),
            (json.dumps({"a": 1}), "not a cicada run report"),
            (json.dumps(no_rps), "rps"),
            (json.dumps(zero), "run of 0 s"),
            (json.dumps(wrong_type), "not a cicada run report"),
        ]:
            with self.assertRaises(bench.ParseError) as e:
                bench.read_report(body, "w.json")
            self.assertIn("w.json", str(e.exception))
            self.assertIn(needle, str(e.exception))


class Sums(unittest.TestCase):
    def test_coordinator_cost(self):
        report = {"requests": 40000, "duration_s": 20.0}
        per_s, per_k = bench.coordinator_cost(0.5, report)
        self.assertAlmostEqual(per_s, 0.025)
        self.assertAlmostEqual(per_k, 0.0125)
        with self.assertRaises(bench.ParseError):
            bench.coordinator_cost(0.5, {"requests": 0, "duration_s": 20.0})

    def test_share_ratio_is_the_median_of_paired_ratios(self):
        median, ratios = bench.share_ratio([99.0, 90.0, 101.0], [100.0, 100.0, 100.0])
        self.assertEqual(ratios, [0.99, 0.9, 1.01])
        self.assertAlmostEqual(median, 0.99)
        with self.assertRaises(ValueError):
            bench.share_ratio([1.0], [1.0, 2.0])
        with self.assertRaises(ValueError):
            bench.share_ratio([], [])

    def test_run_time_seconds(self):
        self.assertEqual(bench.seconds("15s"), 15)
        self.assertEqual(bench.seconds("2m"), 120)
        self.assertEqual(bench.seconds("30"), 30)


if __name__ == "__main__":
    unittest.main()
