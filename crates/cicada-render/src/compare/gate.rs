//! Regression gates for `cicada compare`: `[SCOPE:]METRIC OP CHANGE`.
//!
//! - METRIC: `rps`, `p50`, `p90`, `p95`, `p99`, `p99.9`, `mean`, `max`, `error_rate`.
//! - OP: `>` (fail when the change is larger) or `<` (fail when it is smaller); `>=`, `<=`.
//! - CHANGE: a signed amount, relative to BASE (`+10%`) or absolute in the metric's unit:
//!   `ms` or `s` for times, `pp` (percentage points) for `error_rate`, `/s` for `rps`.
//! - SCOPE (optional, before the last `:`): omitted or `all` = the aggregated row; `each` =
//!   every request row present in both runs; anything else names one row, as `METHOD name`
//!   or just `name`.
//!
//! Examples: `p95>+10%` (p95 grew more than 10 %), `error_rate>+0.5pp`, `rps<-5%`
//! (throughput fell more than 5 %), `each:p99>+50ms`, `GET /agents:p95>+20%`.

use std::fmt;

use serde::Serialize;

/// A metric a gate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Rps,
    P50,
    P90,
    P95,
    P99,
    P99_9,
    Mean,
    Max,
    ErrorRate,
}

impl Metric {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rps" => Self::Rps,
            "p50" | "median" => Self::P50,
            "p90" => Self::P90,
            "p95" => Self::P95,
            "p99" => Self::P99,
            "p99.9" => Self::P99_9,
            "mean" | "avg" => Self::Mean,
            "max" => Self::Max,
            "error_rate" | "failure_rate" => Self::ErrorRate,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Rps => "rps",
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::P99_9 => "p99.9",
            Self::Mean => "mean",
            Self::Max => "max",
            Self::ErrorRate => "error_rate",
        }
    }

    /// The unit values of this metric are in.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Rps => "/s",
            Self::ErrorRate => "%",
            _ => "ms",
        }
    }

    /// True when a larger value is worse (latency, errors); false for throughput.
    pub fn higher_is_worse(self) -> bool {
        self != Self::Rps
    }
}

/// Which rows a gate applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The aggregated row.
    All,
    /// Every request row present in both runs.
    Each,
    /// One request row, `METHOD name` or `name`.
    Row(String),
}

/// The comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// True when `change OP limit` holds, i.e. the gate fails.
    pub fn breached(self, change: f64, limit: f64) -> bool {
        match self {
            Self::Gt => change > limit,
            Self::Ge => change >= limit,
            Self::Lt => change < limit,
            Self::Le => change <= limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }
}

/// How the change is measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Change {
    /// Percent of the BASE value (`+10%` is `Relative(10.0)`).
    Relative(f64),
    /// In the metric's unit: ms for times, percentage points for error rate, /s for rps.
    Absolute(f64),
}

/// One gate, as parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// As written.
    pub text: String,
    pub scope: Scope,
    pub metric: Metric,
    pub op: Op,
    pub change: Change,
}

/// Why a gate could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid gate `{text}`: {reason} (expected [SCOPE:]METRIC OP CHANGE, e.g. `p95>+10%`, `error_rate>+0.5pp`, `rps<-5%`, `each:p99>+50ms`)"
)]
pub struct GateParseError {
    pub text: String,
    pub reason: String,
}

impl Gate {
    /// Parse `[SCOPE:]METRIC OP CHANGE` (spaces allowed around the parts).
    pub fn parse(text: &str) -> Result<Self, GateParseError> {
        let err = |reason: &str| GateParseError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (scope_text, expr) = match text.rfind(':') {
            Some(at) => (Some(text[..at].trim()), text[at + 1..].trim()),
            None => (None, text.trim()),
        };
        let scope = match scope_text {
            None | Some("all") | Some("Aggregated") => Scope::All,
            Some("each") => Scope::Each,
            Some("") => return Err(err("empty scope before `:`")),
            Some(s) => Scope::Row(s.to_owned()),
        };
        let at = expr
            .find(['<', '>'])
            .ok_or_else(|| err("no operator (`>` or `<`)"))?;
        let metric_text = expr[..at].trim();
        let metric = Metric::parse(metric_text)
            .ok_or_else(|| err(&format!("unknown metric `{metric_text}` (rps, p50, p90, p95, p99, p99.9, mean, max, error_rate)")))?;
        let rest = &expr[at..];
        let (op, rest) = if let Some(r) = rest.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = rest.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = rest.strip_prefix('>') {
            (Op::Gt, r)
        } else {
            (Op::Lt, &rest[1..])
        };
        let amount = rest.trim();
        let (number, unit) = split_unit(amount);
        let value: f64 = number.parse().map_err(|_| {
            err(&format!(
                "`{amount}` is not a signed amount like +10% or +5ms"
            ))
        })?;
        if !value.is_finite() {
            return Err(err("the amount must be a finite number"));
        }
        let change = match (unit, metric) {
            ("%", _) => Change::Relative(value),
            ("pp", Metric::ErrorRate) => Change::Absolute(value),
            ("ms", m) if m.unit() == "ms" => Change::Absolute(value),
            ("s", m) if m.unit() == "ms" => Change::Absolute(value * 1000.0),
            ("/s", Metric::Rps) => Change::Absolute(value),
            ("", _) => {
                return Err(err(
                    "the amount needs a unit: % (relative), or ms/s, pp, /s (absolute)",
                ));
            }
            (u, m) => {
                return Err(err(&format!(
                    "unit `{u}` does not fit {}: use % or {}",
                    m.name(),
                    match m {
                        Metric::ErrorRate => "pp",
                        Metric::Rps => "/s",
                        _ => "ms or s",
                    }
                )));
            }
        };
        Ok(Self {
            text: text.trim().to_owned(),
            scope,
            metric,
            op,
            change,
        })
    }
}

fn split_unit(amount: &str) -> (&str, &str) {
    let end = amount
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(amount.len());
    (amount[..end].trim(), amount[end..].trim())
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match &self.scope {
            Scope::All => String::new(),
            Scope::Each => "each:".to_owned(),
            Scope::Row(r) => format!("{r}:"),
        };
        let change = match self.change {
            Change::Relative(v) => format!("{v:+}%"),
            Change::Absolute(v) => format!(
                "{v:+}{}",
                match self.metric {
                    Metric::ErrorRate => "pp",
                    Metric::Rps => "/s",
                    _ => "ms",
                }
            ),
        };
        write!(
            f,
            "{scope}{}{}{change}",
            self.metric.name(),
            self.op.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let g = Gate::parse("p95>+10%").unwrap();
        assert_eq!(
            (g.scope.clone(), g.metric, g.op, g.change),
            (Scope::All, Metric::P95, Op::Gt, Change::Relative(10.0))
        );
        let g = Gate::parse("error_rate>+0.5pp").unwrap();
        assert_eq!(
            (g.metric, g.change),
            (Metric::ErrorRate, Change::Absolute(0.5))
        );
        let g = Gate::parse("rps<-5%").unwrap();
        assert_eq!(
            (g.metric, g.op, g.change),
            (Metric::Rps, Op::Lt, Change::Relative(-5.0))
        );
        let g = Gate::parse("each: p99 >= +0.05s").unwrap();
        assert_eq!(
            (g.scope.clone(), g.op, g.change),
            (Scope::Each, Op::Ge, Change::Absolute(50.0))
        );
        let g = Gate::parse("GET /agents/{id}: p95>+20%").unwrap();
        assert_eq!(g.scope, Scope::Row("GET /agents/{id}".into()));
        let g = Gate::parse("http://x/a:b:p99.9>10ms").unwrap();
        assert_eq!(
            (g.scope, g.metric),
            (Scope::Row("http://x/a:b".into()), Metric::P99_9)
        );
        assert_eq!(Gate::parse("p95>+10%").unwrap().to_string(), "p95>+10%");
    }

    #[test]
    fn rejects_bad_gates_with_a_reason() {
        for (text, reason) in [
            ("p95", "no operator"),
            ("p42>+10%", "unknown metric"),
            ("p95>+10", "needs a unit"),
            ("p95>ten%", "not a signed amount"),
            ("error_rate>+5ms", "does not fit error_rate"),
            ("p95>+5pp", "does not fit p95"),
            (":p95>+5%", "empty scope"),
        ] {
            let e = Gate::parse(text).unwrap_err();
            assert!(e.to_string().contains(reason), "{text}: {e}");
        }
    }
}
