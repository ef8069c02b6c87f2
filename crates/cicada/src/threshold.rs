//! Pass/fail thresholds: `p95<200ms`, `error_rate<1%`, `rps>=100`, and per request row with a
//! scope before a colon: `GET /api/x: p99<500ms` (method and name) or `/api/x: p99<500ms` (name,
//! any method). Parsed once at load; evaluated on the merged statistics at the end of a run.

use std::fmt;

/// Why a threshold expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid threshold {expression:?}: {reason}")]
pub struct ThresholdError {
    pub expression: String,
    pub reason: String,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency percentile in `0..=100`.
    Percentile(f64),
    Mean,
    Min,
    Max,
    /// Failures / requests, compared in percent.
    ErrorRate,
    /// Requests per second over the run.
    Rps,
    /// Total requests.
    Requests,
    /// Total failures.
    Failures,
}

impl Metric {
    fn unit(self) -> &'static str {
        match self {
            Self::Percentile(_) | Self::Mean | Self::Min | Self::Max => "ms",
            Self::ErrorRate => "%",
            Self::Rps => "/s",
            Self::Requests | Self::Failures => "",
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Self::Lt => observed < limit,
            Self::Le => observed <= limit,
            Self::Gt => observed > limit,
            Self::Ge => observed >= limit,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        })
    }
}

/// Which rows a threshold looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// All requests (the aggregated row): every row but the flow steps' own.
    All,
    /// Rows with this stats name, any method.
    Name(String),
    /// Rows with this method and stats name.
    MethodName(String, String),
}

impl Scope {
    /// Does a row with this method and name fall in the scope?
    pub fn matches(&self, method: &str, name: &str) -> bool {
        match self {
            // Flow rows (GROUP, UNTIL, FOREACH, CUSTOM) time requests that have their own rows, or
            // what is not a request.
            Self::All => !crate::scenario::compile::is_flow_method(method),
            Self::Name(n) => n == name,
            Self::MethodName(m, n) => m.eq_ignore_ascii_case(method) && n == name,
        }
    }

    /// `"METHOD name"` or `"name"`; `None` for all requests.
    pub fn label(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::Name(n) => Some(n.clone()),
            Self::MethodName(m, n) => Some(format!("{m} {n}")),
        }
    }
}

/// Where a threshold was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdSource {
    Cli,
    Scenario,
}

impl ThresholdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Scenario => "scenario",
        }
    }
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub expression: String,
    pub scope: Scope,
    pub metric: Metric,
    /// Name as written (normalised), e.g. `p95`, `error_rate`.
    pub metric_name: String,
    pub op: Op,
    /// Limit in the metric's unit (ms, %, /s, count).
    pub limit: f64,
    pub source: ThresholdSource,
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT", "GROUP",
    "UNTIL", "FOREACH", "CUSTOM",
];

impl Threshold {
    /// Parse `[SCOPE:] METRIC OP VALUE`.
    pub fn parse(expression: &str, source: ThresholdSource) -> Result<Self, ThresholdError> {
        let fail = |reason: &str| ThresholdError {
            expression: expression.to_string(),
            reason: reason.to_string(),
        };
        let (scope, cond) = match expression.rsplit_once(':') {
            Some((scope, cond)) => (parse_scope(scope.trim()), cond.trim()),
            None => (Scope::All, expression.trim()),
        };
        if scope == Scope::Name(String::new()) {
            return Err(fail("empty request name before ':'"));
        }
        let op_at = cond
            .find(['<', '>'])
            .ok_or_else(|| fail("expected an operator: <, <=, > or >="))?;
        let metric_text = cond[..op_at].trim().to_ascii_lowercase();
        let mut rest = &cond[op_at..];
        let op = if let Some(r) = rest.strip_prefix("<=") {
            rest = r;
            Op::Le
        } else if let Some(r) = rest.strip_prefix(">=") {
            rest = r;
            Op::Ge
        } else if let Some(r) = rest.strip_prefix('<') {
            rest = r;
            Op::Lt
        } else {
            rest = &rest[1..];
            Op::Gt
        };
        let metric = parse_metric(&metric_text).ok_or_else(|| {
            fail("unknown metric (expected p50..p99.99, mean, min, max, error_rate, rps, requests, failures)")
        })?;
        let limit = parse_value(rest.trim(), metric).map_err(|r| fail(&r))?;
        Ok(Self {
            expression: expression.trim().to_string(),
            scope,
            metric,
            metric_name: metric_text,
            op,
            limit,
            source,
        })
    }

    /// The unit of [`Threshold::limit`].
    pub fn unit(&self) -> &'static str {
        self.metric.unit()
    }
}

fn parse_scope(scope: &str) -> Scope {
    if let Some((method, name)) = scope.split_once(' ') {
        let upper = method.to_ascii_uppercase();
        if METHODS.contains(&upper.as_str()) {
            return Scope::MethodName(upper, name.trim().to_string());
        }
    }
    Scope::Name(scope.to_string())
}

fn parse_metric(text: &str) -> Option<Metric> {
    Some(match text {
        "mean" | "avg" => Metric::Mean,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "error_rate" | "failure_rate" | "fail_ratio" => Metric::ErrorRate,
        "rps" => Metric::Rps,
        "requests" => Metric::Requests,
        "failures" => Metric::Failures,
        "median" => Metric::Percentile(50.0),
        p => {
            let q: f64 = p.strip_prefix('p')?.parse().ok()?;
            if !(0.0..=100.0).contains(&q) {
                return None;
            }
            Metric::Percentile(q)
        }
    })
}

fn parse_value(text: &str, metric: Metric) -> Result<f64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    let (num, unit) = (&text[..split], text[split..].trim());
    let value: f64 = num
        .parse()
        .map_err(|_| format!("expected a number, got {text:?}"))?;
    if !value.is_finite() || value < 0.0 {
        return Err("the limit must be a number of zero or more".to_string());
    }
    let scaled = match (metric, unit) {
        (Metric::Percentile(_) | Metric::Mean | Metric::Min | Metric::Max, "ms" | "") => value,
        (Metric::Percentile(_) | Metric::Mean | Metric::Min | Metric::Max, "s") => value * 1e3,
        (Metric::Percentile(_) | Metric::Mean | Metric::Min | Metric::Max, "us" | "µs") => {
            value / 1e3
        }
        (Metric::ErrorRate, "%") => value,
        (Metric::ErrorRate, "") if value <= 1.0 => value * 100.0,
        (Metric::ErrorRate, "") => {
            return Err("error_rate is a percentage (1%) or a fraction (0.01)".to_string());
        }
        (Metric::Rps, "" | "/s") => value,
        (Metric::Requests | Metric::Failures, "") => value,
        (_, u) => return Err(format!("unit {u:?} does not fit this metric")),
    };
    Ok(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Threshold {
        Threshold::parse(s, ThresholdSource::Cli).unwrap()
    }

    #[test]
    fn parses_global_thresholds() {
        let t = p("p95<200ms");
        assert_eq!(
            (t.metric, t.op, t.limit, t.scope),
            (Metric::Percentile(95.0), Op::Lt, 200.0, Scope::All)
        );
        assert_eq!(p("p99.9 <= 1.5s").limit, 1500.0);
        let e = p("error_rate<1%");
        assert_eq!((e.metric, e.limit), (Metric::ErrorRate, 1.0));
        assert_eq!(p("error_rate<0.05").limit, 5.0);
        assert_eq!(p("rps>=100").op, Op::Ge);
    }

    #[test]
    fn parses_scoped_thresholds() {
        let t = p("GET /agents/{{id}}/metrics: p99<500ms");
        assert_eq!(
            t.scope,
            Scope::MethodName("GET".into(), "/agents/{{id}}/metrics".into())
        );
        assert!(t.scope.matches("get", "/agents/{{id}}/metrics"));
        assert_eq!(p("login: mean<100").scope, Scope::Name("login".into()));
    }

    #[test]
    fn rejects_bad_thresholds() {
        for bad in [
            "p95",
            "p95<",
            "p95<abc",
            "p101<5ms",
            "foo<1",
            "error_rate<5",
            "p95<5%",
            ": p95<1ms",
            "p95<-1ms",
        ] {
            assert!(
                Threshold::parse(bad, ThresholdSource::Cli).is_err(),
                "{bad}"
            );
        }
    }
}
