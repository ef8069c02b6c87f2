//! `cicada compare BASE.json NEW.json`: per-request deltas between two runs (RPS, p50, p95, p99,
//! failure %) and regression [`gate`]s that turn them into a pass / fail exit code for CI.
//!
//! Rows are matched by (user type, method, name). The aggregated rows are always compared.

pub mod gate;
mod table;

use serde::Serialize;

pub use gate::{Change, Gate, GateParseError, Metric, Op, Scope};

use cicada_report::model::{RequestStats, RunReport};

/// One metric of one row in both runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delta {
    pub base: f64,
    pub new: f64,
}

impl Delta {
    /// `new - base`, in the metric's unit.
    pub fn absolute(&self) -> f64 {
        self.new - self.base
    }

    /// Change in percent of `base`; `None` when `base` is 0 (then any change is unbounded).
    pub fn relative_pct(&self) -> Option<f64> {
        if self.base == 0.0 {
            if self.new == 0.0 { Some(0.0) } else { None }
        } else {
            Some((self.new - self.base) / self.base * 100.0)
        }
    }
}

/// A `Server-Timing` figure of a row in both runs, when both carry it.
fn timing(
    b: &RequestStats,
    n: &RequestStats,
    f: fn(&cicada_report::model::ServerTimingStats) -> f64,
) -> Option<Delta> {
    Some(Delta {
        base: f(b.server_timing.as_ref()?),
        new: f(n.server_timing.as_ref()?),
    })
}

/// A request row present in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowComparison {
    /// `METHOD name` (with ` [user type]` when set); `Aggregated` for the total.
    pub label: String,
    pub requests: Delta,
    pub rps: Delta,
    pub p50: Delta,
    pub p95: Delta,
    pub p99: Delta,
    /// Failure rate in percent.
    pub error_rate: Delta,
    /// Share of response time in the database (`Server-Timing: db`), in percent; `None`
    /// unless both runs' rows carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_share: Option<Delta>,
    /// Mean wait for a database connection per response (`Server-Timing: pool`), in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_wait: Option<Delta>,
    #[serde(skip)]
    base: RequestStats,
    #[serde(skip)]
    new: RequestStats,
}

impl RowComparison {
    fn new(label: String, b: &RequestStats, n: &RequestStats) -> Self {
        let d = |f: fn(&RequestStats) -> f64| Delta {
            base: f(b),
            new: f(n),
        };
        Self {
            label,
            requests: d(|r| r.requests as f64),
            rps: d(|r| r.rps),
            p50: d(|r| r.percentiles.p50),
            p95: d(|r| r.percentiles.p95),
            p99: d(|r| r.percentiles.p99),
            error_rate: d(|r| r.failure_ratio * 100.0),
            db_share: timing(b, n, |t| t.db_share * 100.0),
            pool_wait: timing(b, n, |t| t.pool_wait_mean_ms),
            base: b.clone(),
            new: n.clone(),
        }
    }

    /// Any gate metric of this row.
    pub fn metric(&self, m: Metric) -> Delta {
        let get = |r: &RequestStats| match m {
            Metric::Rps => r.rps,
            Metric::P50 => r.percentiles.p50,
            Metric::P90 => r.percentiles.p90,
            Metric::P95 => r.percentiles.p95,
            Metric::P99 => r.percentiles.p99,
            Metric::P99_9 => r.percentiles.p99_9,
            Metric::Mean => r.mean_ms,
            Metric::Max => r.max_ms,
            Metric::ErrorRate => r.failure_ratio * 100.0,
        };
        Delta {
            base: get(&self.base),
            new: get(&self.new),
        }
    }
}

/// One gate evaluated on one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    pub gate: String,
    pub row: String,
    pub metric: Metric,
    /// `None` when the row is missing from a run.
    pub delta: Option<Delta>,
    /// The change the gate compared: percent for relative gates, the unit for absolute ones.
    /// `None` when unbounded (relative change from 0) or the row is missing.
    pub change: Option<f64>,
    /// True when `change` is in percent of BASE (a relative gate).
    pub relative: bool,
    pub failed: bool,
    /// Why, when the gate failed for lack of data.
    pub note: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base_scenario: String,
    pub new_scenario: String,
    pub base_started_at: String,
    pub new_started_at: String,
    /// Rows in both runs, in NEW's order, then the aggregated row.
    pub rows: Vec<RowComparison>,
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
    pub gates: Vec<GateResult>,
}

impl Comparison {
    /// True when no gate failed.
    pub fn passed(&self) -> bool {
        self.gates.iter().all(|g| !g.failed)
    }

    /// The comparison as pretty JSON (`cicada compare --json FILE`).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a comparison serialises")
    }

    /// The terminal table (ANSI colours when `color`).
    pub fn render_table(&self, color: bool) -> String {
        table::render(self, color)
    }

    fn aggregated(&self) -> &RowComparison {
        self.rows
            .last()
            .expect("the aggregated row is always present")
    }
}

fn label(r: &RequestStats, with_user_type: bool) -> String {
    let base = if r.method.is_empty() {
        r.name.clone()
    } else {
        format!("{} {}", r.method, r.name)
    };
    match &r.user_type {
        Some(u) if with_user_type => format!("{base} [{u}]"),
        _ => base,
    }
}

fn key(r: &RequestStats) -> (Option<&str>, &str, &str) {
    (r.user_type.as_deref(), r.method.as_str(), r.name.as_str())
}

/// Compare NEW against BASE and evaluate the gates.
pub fn compare(base: &RunReport, new: &RunReport, gates: &[Gate]) -> Comparison {
    // The user type is part of a row's label only when the runs have more than one.
    let mut types: Vec<Option<&str>> = base
        .requests
        .iter()
        .chain(&new.requests)
        .map(|r| r.user_type.as_deref())
        .collect();
    types.sort_unstable();
    types.dedup();
    let label = |r: &RequestStats| label(r, types.len() > 1);
    let mut rows = Vec::new();
    let mut only_in_new = Vec::new();
    for n in &new.requests {
        match base.requests.iter().find(|b| key(b) == key(n)) {
            Some(b) => rows.push(RowComparison::new(label(n), b, n)),
            None => only_in_new.push(label(n)),
        }
    }
    let only_in_base = base
        .requests
        .iter()
        .filter(|b| !new.requests.iter().any(|n| key(n) == key(b)))
        .map(label)
        .collect();
    rows.push(RowComparison::new(
        "Aggregated".into(),
        &base.aggregated,
        &new.aggregated,
    ));
    let mut c = Comparison {
        base_scenario: base.run.scenario.clone(),
        new_scenario: new.run.scenario.clone(),
        base_started_at: base.run.started_at.clone(),
        new_started_at: new.run.started_at.clone(),
        rows,
        only_in_base,
        only_in_new,
        gates: Vec::new(),
    };
    c.gates = gates.iter().flat_map(|g| evaluate(&c, g)).collect();
    c
}

fn evaluate(c: &Comparison, gate: &Gate) -> Vec<GateResult> {
    let targets: Vec<&RowComparison> = match &gate.scope {
        Scope::All => vec![c.aggregated()],
        Scope::Each => c.rows[..c.rows.len() - 1].iter().collect(),
        Scope::Row(name) => c
            .rows
            .iter()
            .filter(|r| {
                r.label == *name
                    || r.base.name == *name
                    || format!("{} {}", r.base.method, r.base.name) == *name
            })
            .collect(),
    };
    if targets.is_empty() {
        let row = match &gate.scope {
            Scope::Row(name) => name.clone(),
            _ => "each".to_owned(),
        };
        return vec![GateResult {
            gate: gate.text.clone(),
            row,
            metric: gate.metric,
            delta: None,
            change: None,
            relative: matches!(gate.change, Change::Relative(_)),
            failed: true,
            note: Some("no such request row in both runs".into()),
        }];
    }
    targets
        .into_iter()
        .map(|row| {
            let delta = row.metric(gate.metric);
            let (change, limit) = match gate.change {
                Change::Relative(limit) => (delta.relative_pct(), limit),
                Change::Absolute(limit) => (Some(delta.absolute()), limit),
            };
            let failed = match change {
                Some(ch) => gate.op.breached(ch, limit),
                // Relative change from zero: unbounded in the direction of the new value.
                None => {
                    let unbounded = if delta.new > delta.base {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    };
                    gate.op.breached(unbounded, limit)
                }
            };
            GateResult {
                gate: gate.text.clone(),
                row: row.label.clone(),
                metric: gate.metric,
                delta: Some(delta),
                change,
                relative: matches!(gate.change, Change::Relative(_)),
                failed,
                note: None,
            }
        })
        .collect()
}
