"""Medians over repetitions, ratios to wrk, goal verdicts, and the markdown tables."""

import statistics


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec=",.0f", none="—"):
    return none if v is None else format(v, spec)


def _by_tool(records, order):
    tools = [t for t in order if any(r["tool"] == t for r in records)]
    return {t: [r for r in records if r["tool"] == t] for t in tools}


def throughput_summary(records, order):
    out = {}
    for tool, recs in _by_tool(records, order).items():
        ok = [r for r in recs if r.get("rps") is not None]
        out[tool] = {
            "runs": len(ok), "failed_runs": len(recs) - len(ok),
            "rps": _median(r["rps"] for r in ok),
            "cpu_s": _median(r["cpu_s"] for r in ok),
            "generator_cpu_pct": _median(r.get("generator_cpu_pct") for r in ok),
            "req_per_cpu_s": _median(r.get("req_per_cpu_s") for r in ok),
            "req_per_cpu_s_total": _median(r.get("req_per_cpu_s_total") for r in ok),
            "target_cpu_pct": _median(r.get("target_cpu_pct") for r in ok),
            "failures": _median(r.get("failures") for r in ok),
            "rss_early": _median(r.get("rss_early") for r in ok),
            "rss_late": _median(r.get("rss_late") for r in ok),
            "requests": _median(r.get("requests") for r in ok),
            "loadavg": [r["loadavg"] for r in recs],
        }
    wrk = out.get("wrk", {})
    for s in out.values():
        s["rps_vs_wrk"] = s["rps"] / wrk["rps"] if wrk.get("rps") and s["rps"] else None
        s["cost_vs_wrk"] = (s["req_per_cpu_s"] / wrk["req_per_cpu_s"]
                            if wrk.get("req_per_cpu_s") and s["req_per_cpu_s"] else None)
    return out


def throughput_table(summary):
    lines = [
        "| tool | req/s | × wrk | generator CPU % (steady) | req per generator CPU-s (steady) | × wrk | whole process: CPU-s → req per CPU-s | nginx CPU % | failures | RSS steady start → end (MiB) | load avg per run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    mib = lambda b: _fmt(None if b is None else b / 2**20, ".1f")
    for tool, s in summary.items():
        lines.append(
            f"| {tool} | {_fmt(s['rps'])} | {_fmt(s['rps_vs_wrk'], '.2f')} "
            f"| {_fmt(s['generator_cpu_pct'], '.0f')} | {_fmt(s['req_per_cpu_s'])} | {_fmt(s['cost_vs_wrk'], '.2f')} "
            f"| {_fmt(s['cpu_s'], '.2f')} → {_fmt(s['req_per_cpu_s_total'])} "
            f"| {_fmt(s['target_cpu_pct'], '.0f')} | {_fmt(s['failures'])} | {mib(s['rss_early'])} → {mib(s['rss_late'])} "
            f"| {'; '.join(s['loadavg'])} |")
    return "\n".join(lines)


def idle_summary(records, order):
    out = {}
    for tool, recs in _by_tool(records, order).items():
        base = next((r for r in recs if r["users"] == 1), None)
        rows = {}
        for r in recs:
            if r["users"] == 1:
                continue
            per_user = None
            if base and base.get("rss_bytes") and r.get("rss_bytes") and r["connected"] >= r["users"]:
                per_user = (r["rss_bytes"] - base["rss_bytes"]) / (r["users"] - 1)
            spawn = None
            if r.get("all_connected_s") is not None and r.get("first_connected_s") is not None:
                spawn = r["all_connected_s"] - r["first_connected_s"]
            rows[r["users"]] = {
                "connected": r["connected"], "rss_bytes": r.get("rss_bytes"),
                "per_user_bytes": per_user, "spawn_s": spawn,
                "from_start_s": r.get("all_connected_s"), "loadavg": r["loadavg"],
            }
        out[tool] = {"baseline_rss": base.get("rss_bytes") if base else None, "by_users": rows}
    return out


def idle_table(summary):
    lines = [
        "| tool | users (asked at N/s) | connected | RSS (MiB) | baseline RSS, 1 user (MiB) | per idle user (KB) | first → all connected (s) | all connected after start (s) | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for tool, s in summary.items():
        for users, r in sorted(s["by_users"].items()):
            lines.append(
                f"| {tool} | {users:,} | {r['connected']:,} | {_fmt(r['rss_bytes'] and r['rss_bytes'] / 2**20, '.1f')} "
                f"| {_fmt(s['baseline_rss'] and s['baseline_rss'] / 2**20, '.1f')} "
                f"| {_fmt(r['per_user_bytes'] and r['per_user_bytes'] / 1000, '.1f')} "
                f"| {_fmt(r['spawn_s'], '.2f')} | {_fmt(r['from_start_s'], '.2f')} | {r['loadavg']} |")
    return "\n".join(lines)


def latency_summary(records, order):
    out = {}
    for tool, recs in _by_tool(records, order).items():
        ok = [r for r in recs if r.get("rps") is not None]
        out[tool] = {
            "runs": len(ok), "failed_runs": len(recs) - len(ok),
            "rps": _median(r["rps"] for r in ok),
            "p50_ms": _median(r.get("p50_ms") for r in ok),
            "p99_ms": _median(r.get("p99_ms") for r in ok),
            "server_p50_ms": _median(r["server"]["p50_ms"] for r in ok),
            "server_p99_ms": _median(r["server"]["p99_ms"] for r in ok),
            "p50_overhead_ms": _median(r.get("p50_overhead_ms") for r in ok),
            "p99_overhead_ms": _median(r.get("p99_overhead_ms") for r in ok),
            "loadavg": [r["loadavg"] for r in recs],
        }
    return out


def latency_table(summary):
    lines = [
        "| tool | req/s | reported p50 / p99 (ms) | server's own p50 / p99 (ms) | overhead p50 (ms) | overhead p99 (ms) | load avg per run |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for tool, s in summary.items():
        lines.append(
            f"| {tool} | {_fmt(s['rps'])} | {_fmt(s['p50_ms'], '.2f')} / {_fmt(s['p99_ms'], '.2f')} "
            f"| {_fmt(s['server_p50_ms'], '.2f')} / {_fmt(s['server_p99_ms'], '.2f')} "
            f"| {_fmt(s['p50_overhead_ms'], '+.2f')} | {_fmt(s['p99_overhead_ms'], '+.2f')} "
            f"| {'; '.join(s['loadavg'])} |")
    return "\n".join(lines)


def goals(tp, idle, lat):
    """The issue's goals for cicada, each (goal, measured, met: True/False/None)."""
    rows = []
    c = tp.get("cicada") if tp else None
    if c:
        rows.append(("throughput per core ≥ 0.9× wrk", _fmt(c["rps_vs_wrk"], ".2f") + "× wrk",
                     None if c["rps_vs_wrk"] is None else c["rps_vs_wrk"] >= 0.9))
        rows.append(("more requests per generator CPU-second than wrk",
                     _fmt(c["cost_vs_wrk"], ".2f") + "× wrk",
                     None if c["cost_vs_wrk"] is None else c["cost_vs_wrk"] > 1.0))
        if c["rss_early"] and c["rss_late"]:
            growth = c["rss_late"] - c["rss_early"]
            flat = growth <= max(1 << 20, 0.05 * c["rss_early"])
            rows.append(("memory flat however many requests are sent",
                         f"RSS {c['rss_early'] / 2**20:.1f} → {c['rss_late'] / 2**20:.1f} MiB over "
                         f"{_fmt(c['requests'])} requests", flat))
    ci = idle.get("cicada") if idle else None
    if ci:
        for users, r in sorted(ci["by_users"].items()):
            v = r["per_user_bytes"]
            rows.append((f"≤ 10 KB per idle user ({users:,} users)",
                         _fmt(v and v / 1000, ".1f") + " KB", None if v is None else v <= 10_000))
        r = ci["by_users"].get(10_000)
        if r:
            rows.append(("10,000 users asked at 10,000/s all connected within 2 s",
                         _fmt(r["spawn_s"], ".2f") + " s (first → last connection)",
                         None if r["spawn_s"] is None else r["spawn_s"] <= 2.0))
    if lat and "cicada" in lat and "wrk" in lat:
        c, w = lat["cicada"]["p99_overhead_ms"], lat["wrk"]["p99_overhead_ms"]
        rows.append(("p99 overhead no worse than wrk's",
                     f"cicada {_fmt(c, '+.2f')} ms vs wrk {_fmt(w, '+.2f')} ms",
                     None if c is None or w is None else c <= w))
    return rows


def goals_table(rows):
    mark = {True: "**met**", False: "**missed**", None: "not measured"}
    lines = ["| goal | measured | verdict |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {mark[v]} |" for g, m, v in rows]
    return "\n".join(lines)
