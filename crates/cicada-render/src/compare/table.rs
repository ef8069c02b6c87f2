//! The terminal rendering of a [`Comparison`]: a delta table and the gate results.

use std::fmt::Write as _;

use super::{Comparison, Delta, GateResult};
use crate::format::{fmt_ms, fmt_ms_bare, fmt_pct, fmt_rate};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Changes smaller than this (in percent) are shown neutral: noise, not a trend.
const NOISE_PCT: f64 = 2.0;

struct Cell {
    text: String,
    style: &'static str,
}

fn paint(c: &Cell, color: bool, width: usize, left: bool) -> String {
    let pad = width.saturating_sub(c.text.chars().count());
    let text = if color && !c.style.is_empty() {
        format!("{}{}{RESET}", c.style, c.text)
    } else {
        c.text.clone()
    };
    if left {
        format!("{text}{}", " ".repeat(pad))
    } else {
        format!("{}{text}", " ".repeat(pad))
    }
}

fn change_text(d: &Delta, pp: bool) -> String {
    if pp {
        return format!("{:+.2}pp", d.absolute());
    }
    match d.relative_pct() {
        Some(p) => format!("{p:+.1}%"),
        None => "new".to_owned(),
    }
}

/// `base → new (change)` with the change coloured by whether it is worse.
fn delta_cell(d: &Delta, fmt: fn(f64) -> String, higher_is_worse: bool, pp: bool) -> Cell {
    let change = d.absolute();
    let significant = if pp {
        change.abs() >= 0.01
    } else {
        d.relative_pct().is_none_or(|p| p.abs() >= NOISE_PCT)
    };
    let worse = (change > 0.0) == higher_is_worse && change != 0.0;
    let style = if !significant {
        DIM
    } else if worse {
        RED
    } else {
        GREEN
    };
    Cell {
        text: format!("{} → {} {}", fmt(d.base), fmt(d.new), change_text(d, pp)),
        style,
    }
}

pub fn render(c: &Comparison, color: bool) -> String {
    let mut header = vec![
        "Request", "RPS", "p50 (ms)", "p95 (ms)", "p99 (ms)", "Failures",
    ];
    // Database columns only when some row carries Server-Timing figures in both runs.
    let timing = c.rows.iter().any(|r| r.db_share.is_some());
    if timing {
        header.extend(["DB share", "Pool wait (ms)"]);
    }
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for r in &c.rows {
        let mut cells = vec![
            Cell {
                text: r.label.clone(),
                style: if r.label == "Aggregated" { BOLD } else { "" },
            },
            delta_cell(&r.rps, fmt_rate, false, false),
            delta_cell(&r.p50, fmt_ms_bare, true, false),
            delta_cell(&r.p95, fmt_ms_bare, true, false),
            delta_cell(&r.p99, fmt_ms_bare, true, false),
            delta_cell(&r.error_rate, fmt_pct, true, true),
        ];
        if timing {
            let none = || Cell {
                text: "–".into(),
                style: DIM,
            };
            cells.push(
                r.db_share
                    .map_or_else(none, |d| delta_cell(&d, fmt_pct, true, true)),
            );
            cells.push(
                r.pool_wait
                    .map_or_else(none, |d| delta_cell(&d, fmt_ms_bare, true, false)),
            );
        }
        rows.push(cells);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].text.chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BASE: {} ({})\nNEW:  {} ({})\n",
        c.base_scenario, c.base_started_at, c.new_scenario, c.new_started_at
    );
    let head: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            paint(
                &Cell {
                    text: (*h).into(),
                    style: BOLD,
                },
                color,
                widths[i],
                i == 0,
            )
        })
        .collect();
    let _ = writeln!(out, "{}", head.join("  ").trim_end());
    let _ = writeln!(
        out,
        "{}",
        "─".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| paint(c, color, widths[i], i == 0))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    for name in &c.only_in_base {
        let _ = writeln!(out, "only in BASE: {name}");
    }
    for name in &c.only_in_new {
        let _ = writeln!(out, "only in NEW:  {name}");
    }
    if c.gates.is_empty() {
        out.push_str("\nNo gates given (--fail-on): nothing to pass or fail.\n");
        return out;
    }
    out.push_str("\nGates:\n");
    let gate_w = c
        .gates
        .iter()
        .map(|g| g.gate.chars().count())
        .max()
        .unwrap_or(0);
    let row_w = c
        .gates
        .iter()
        .map(|g| g.row.chars().count() + 2)
        .max()
        .unwrap_or(0);
    for g in &c.gates {
        let _ = writeln!(out, "  {}", gate_line(g, color, gate_w, row_w));
    }
    let failed = c.gates.iter().filter(|g| g.failed).count();
    let verdict = if failed == 0 {
        paint(
            &Cell {
                text: format!(
                    "PASS: {} of {} gate checks passed",
                    c.gates.len(),
                    c.gates.len()
                ),
                style: GREEN,
            },
            color,
            0,
            true,
        )
    } else {
        paint(
            &Cell {
                text: format!("FAIL: {failed} of {} gate checks failed", c.gates.len()),
                style: RED,
            },
            color,
            0,
            true,
        )
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}

fn gate_line(g: &GateResult, color: bool, gate_w: usize, row_w: usize) -> String {
    let status = if g.failed {
        paint(
            &Cell {
                text: "FAIL".into(),
                style: RED,
            },
            color,
            4,
            true,
        )
    } else {
        paint(
            &Cell {
                text: "pass".into(),
                style: GREEN,
            },
            color,
            4,
            true,
        )
    };
    let unit = g.metric.unit();
    let fmt = |v: f64| match unit {
        "ms" => fmt_ms(v),
        "%" => fmt_pct(v),
        _ => format!("{} /s", fmt_rate(v)),
    };
    let detail = match (&g.delta, &g.note) {
        (_, Some(note)) => note.clone(),
        (Some(d), None) => {
            let change = match g.change {
                Some(ch) if g.relative => format!("{ch:+.1}%"),
                Some(ch) if g.metric == super::Metric::ErrorRate => format!("{ch:+.2}pp"),
                Some(ch) => format!("{ch:+.3} {unit}"),
                None => "from zero".into(),
            };
            format!("{} → {} ({change})", fmt(d.base), fmt(d.new))
        }
        (None, None) => String::new(),
    };
    let gate = paint(
        &Cell {
            text: g.gate.clone(),
            style: "",
        },
        false,
        gate_w,
        true,
    );
    let row = paint(
        &Cell {
            text: format!("[{}]", g.row),
            style: "",
        },
        false,
        row_w,
        true,
    );
    format!("{status}  {gate}  {row}  {detail}")
}
