//! Service-level objectives of a capacity search: `p95<200ms`, `error_rate<1%`, `rps>=500`.

use std::fmt;

/// What an SLO constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloMetric {
    /// 95th-percentile latency, milliseconds.
    P95,
    /// Failed / all requests, as a fraction.
    ErrorRate,
    /// Completed requests per second.
    Throughput,
}

/// Comparison of an SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl SloOp {
    fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Self::Lt => measured < limit,
            Self::Le => measured <= limit,
            Self::Gt => measured > limit,
            Self::Ge => measured >= limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// One SLO, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub metric: SloMetric,
    pub op: SloOp,
    /// In the metric's base unit: ms for P95, a fraction for the error rate, /s for throughput.
    pub limit: f64,
    /// As written.
    pub text: String,
}

/// An SLO that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SLO {text:?}: {reason} (examples: 'p95<200ms', 'error_rate<1%', 'rps>=500')")]
pub struct SloError {
    pub text: String,
    pub reason: String,
}

impl Slo {
    /// Parse `p95<200ms` (also `s`, `us`), `error_rate<1%` (or a fraction `<0.01`), `rps>=500`
    /// (also `throughput`).
    pub fn parse(text: &str) -> Result<Self, SloError> {
        let err = |reason: &str| SloError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let at = compact
            .find(['<', '>'])
            .ok_or_else(|| err("no comparison ('<', '<=', '>', '>=')"))?;
        let (name, rest) = compact.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (SloOp::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (SloOp::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (SloOp::Lt, v)
        } else {
            (SloOp::Gt, &rest[1..])
        };
        let number = |s: &str| -> Result<f64, SloError> {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| err(&format!("{s:?} is not a non-negative number")))
        };
        let (metric, limit) = match name.to_ascii_lowercase().as_str() {
            "p95" => {
                let (num, scale) = if let Some(n) = value.strip_suffix("ms") {
                    (n, 1.0)
                } else if let Some(n) = value.strip_suffix("us") {
                    (n, 0.001)
                } else if let Some(n) = value.strip_suffix('s') {
                    (n, 1000.0)
                } else {
                    return Err(err("a latency needs a unit: ms, s or us"));
                };
                (SloMetric::P95, number(num)? * scale)
            }
            "error_rate" | "errors" => {
                let limit = match value.strip_suffix('%') {
                    Some(n) => number(n)? / 100.0,
                    None => number(value)?,
                };
                if limit > 1.0 {
                    return Err(err("an error rate is at most 100%"));
                }
                (SloMetric::ErrorRate, limit)
            }
            "rps" | "throughput" => (
                SloMetric::Throughput,
                number(value.strip_suffix("/s").unwrap_or(value))?,
            ),
            _ => return Err(err(&format!("unknown metric {name:?}"))),
        };
        let wants_low = matches!(op, SloOp::Lt | SloOp::Le);
        if wants_low != (metric != SloMetric::Throughput) {
            return Err(err(
                "latency and error rate take '<' or '<=', throughput '>' or '>='",
            ));
        }
        Ok(Self {
            metric,
            op,
            limit,
            text: text.to_owned(),
        })
    }

    /// `None` when the measurement meets the SLO, else the violation, e.g.
    /// `"p95<200ms: measured 312.4ms"`.
    pub fn violation(&self, p95_ms: f64, error_rate: f64, throughput: f64) -> Option<String> {
        let (measured, shown) = match self.metric {
            SloMetric::P95 => (p95_ms, format!("{p95_ms:.1}ms")),
            SloMetric::ErrorRate => (error_rate, format!("{:.2}%", error_rate * 100.0)),
            SloMetric::Throughput => (throughput, format!("{throughput:.1}/s")),
        };
        // NaN (no data) never meets an SLO.
        (measured.is_nan() || !self.op.holds(measured, self.limit))
            .then(|| format!("{}: measured {shown}", self.text))
    }
}

impl fmt::Display for Slo {
    /// Human form for headlines, e.g. `P95 < 200 ms`, `error rate < 1 %`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op.as_str();
        match self.metric {
            SloMetric::P95 => write!(f, "P95 {op} {} ms", trim(self.limit)),
            SloMetric::ErrorRate => write!(f, "error rate {op} {} %", trim(self.limit * 100.0)),
            SloMetric::Throughput => write!(f, "throughput {op} {}/s", trim(self.limit)),
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let s = Slo::parse("p95<200ms").unwrap();
        assert_eq!(
            (s.metric, s.op, s.limit),
            (SloMetric::P95, SloOp::Lt, 200.0)
        );
        assert_eq!(s.to_string(), "P95 < 200 ms");
        assert_eq!(Slo::parse("p95 <= 0.5s").unwrap().limit, 500.0);
        assert_eq!(Slo::parse("P95<1500us").unwrap().limit, 1.5);
        let e = Slo::parse("error_rate<1%").unwrap();
        assert_eq!((e.metric, e.limit), (SloMetric::ErrorRate, 0.01));
        assert_eq!(e.to_string(), "error rate < 1 %");
        assert_eq!(Slo::parse("error_rate<0.005").unwrap().limit, 0.005);
        let t = Slo::parse("rps>=500").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (SloMetric::Throughput, SloOp::Ge, 500.0)
        );
        assert_eq!(Slo::parse("throughput>20/s").unwrap().limit, 20.0);
    }

    #[test]
    fn rejects_bad_slos_with_a_reason() {
        for (text, needle) in [
            ("p95 200ms", "no comparison"),
            ("p95<200", "unit"),
            ("p95<-3ms", "non-negative"),
            ("p95>200ms", "take '<'"),
            ("rps<5", "take '<'"),
            ("error_rate<120%", "at most 100%"),
            ("p42<3ms", "unknown metric"),
            ("p95<xms", "not a non-negative number"),
        ] {
            let e = Slo::parse(text).unwrap_err();
            assert!(e.reason.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn violations() {
        let p95 = Slo::parse("p95<200ms").unwrap();
        assert_eq!(p95.violation(199.9, 0.0, 1.0), None);
        assert_eq!(
            p95.violation(312.44, 0.0, 1.0).as_deref(),
            Some("p95<200ms: measured 312.4ms")
        );
        assert!(p95.violation(f64::NAN, 0.0, 1.0).is_some());
        let err = Slo::parse("error_rate<1%").unwrap();
        assert_eq!(
            err.violation(1.0, 0.015, 1.0).as_deref(),
            Some("error_rate<1%: measured 1.50%")
        );
        let rps = Slo::parse("rps>=100").unwrap();
        assert_eq!(rps.violation(1.0, 0.0, 100.0), None);
        assert!(rps.violation(1.0, 0.0, 99.0).is_some());
    }
}
