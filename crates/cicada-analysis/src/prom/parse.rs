//! A parser for the Prometheus text exposition format, version 0.0.4.
//!
//! Samples are grouped into families by their `# TYPE` line: a histogram `x` owns `x_bucket`,
//! `x_sum` and `x_count`; a summary `x` owns `x`, `x_sum` and `x_count`; a counter `x` also
//! owns `x_total` (the OpenMetrics spelling). A sample with no `# TYPE` is its own untyped
//! family. Label values may use the escapes `\\`, `\"` and `\n`; values may be `+Inf`, `-Inf`
//! or `NaN`; an optional integer timestamp in milliseconds may follow the value.

use std::collections::{BTreeMap, HashMap};

/// The type a `# TYPE` line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "untyped" | "unknown" => Self::Untyped,
            _ => return None,
        })
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name, e.g. `x_bucket`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// A metric family: its declared type, help text and samples, in the order exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// A parse error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metrics text line {line}: {reason}")]
pub struct PromParseError {
    pub line: usize,
    pub reason: String,
}

/// Parse a whole exposition into families, in order of first appearance.
pub fn parse_text(text: &str) -> Result<Vec<MetricFamily>, PromParseError> {
    let mut families: Vec<MetricFamily> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut types: HashMap<String, MetricType> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();

    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let err = |reason: String| PromParseError {
            line: line_no,
            reason,
        };
        let line = raw.trim_start();
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if let Some(rest) = comment.strip_prefix("TYPE ") {
                let mut parts = rest.split_ascii_whitespace();
                let name = parts
                    .next()
                    .ok_or_else(|| err("TYPE without a name".into()))?;
                check_metric_name(name).map_err(err)?;
                let kind = parts
                    .next()
                    .ok_or_else(|| err(format!("TYPE {name} without a type")))?;
                let kind = MetricType::parse(kind)
                    .ok_or_else(|| err(format!("unknown metric type {kind:?}")))?;
                if index.contains_key(name) {
                    return Err(err(format!("TYPE for {name} after its samples")));
                }
                if types.insert(name.to_owned(), kind).is_some() {
                    return Err(err(format!("second TYPE line for {name}")));
                }
            } else if let Some(rest) = comment.strip_prefix("HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                check_metric_name(name).map_err(err)?;
                helps.insert(name.to_owned(), unescape_help(help));
            }
            continue;
        }
        let sample = parse_sample(line).map_err(err)?;
        let (family, kind) = family_of(&sample.name, &types);
        let at = match index.get(&family) {
            Some(&i) => i,
            None => {
                families.push(MetricFamily {
                    help: helps.get(&family).cloned(),
                    name: family.clone(),
                    kind,
                    samples: Vec::new(),
                });
                index.insert(family, families.len() - 1);
                families.len() - 1
            }
        };
        families[at].samples.push(sample);
    }
    Ok(families)
}

/// The family (and its type) a sample name belongs to.
fn family_of(sample: &str, types: &HashMap<String, MetricType>) -> (String, MetricType) {
    if let Some(&t) = types.get(sample) {
        return (sample.to_owned(), t);
    }
    let owned_by = |suffix: &str, allowed: &[MetricType]| {
        sample.strip_suffix(suffix).and_then(|base| {
            types
                .get(base)
                .filter(|t| allowed.contains(t))
                .map(|&t| (base.to_owned(), t))
        })
    };
    use MetricType::*;
    owned_by("_bucket", &[Histogram])
        .or_else(|| owned_by("_sum", &[Histogram, Summary]))
        .or_else(|| owned_by("_count", &[Histogram, Summary]))
        .or_else(|| owned_by("_total", &[Counter]))
        .unwrap_or_else(|| (sample.to_owned(), Untyped))
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if ok_first && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse a float as the format writes it (`+Inf`, `-Inf`, `NaN` included).
pub fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => s
            .parse::<f64>()
            .map_err(|_| format!("invalid sample value {s:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .ok_or_else(|| format!("sample {line:?} has no value"))?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let mut parts = rest.split_ascii_whitespace();
    let value = parts
        .next()
        .ok_or_else(|| format!("sample {name} has no value"))?;
    let value = parse_value(value)?;
    let timestamp_ms = parts
        .next()
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| format!("invalid timestamp {t:?}"))
        })
        .transpose()?;
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parse `a="x",b="y"}` (after the opening brace); returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s
            .find('=')
            .ok_or_else(|| "label without '=' or unclosed '{'".to_string())?;
        let name = s[..eq].trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("invalid label name {name:?}"));
        }
        s = s[eq + 1..].trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name} value is not quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err(format!("label {name} value is not terminated")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label {name} value is not terminated")),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {name}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

    #[test]
    fn parses_the_format_documentation_example() {
        let f = parse_text(EXAMPLE).unwrap();
        let names: Vec<_> = f.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            [
                ("http_requests_total", MetricType::Counter),
                ("msdos_file_access_time_seconds", MetricType::Untyped),
                ("metric_without_timestamp_and_labels", MetricType::Untyped),
                ("something_weird", MetricType::Untyped),
                ("http_request_duration_seconds", MetricType::Histogram),
                ("rpc_duration_seconds", MetricType::Summary),
            ]
        );
        let req = &f[0];
        assert_eq!(
            req.help.as_deref(),
            Some("The total number of HTTP requests.")
        );
        assert_eq!(req.samples.len(), 2);
        assert_eq!(req.samples[1].value, 3.0);
        assert_eq!(req.samples[1].labels["code"], "400");
        assert_eq!(req.samples[0].timestamp_ms, Some(1395066363000));

        let msdos = &f[1].samples[0];
        assert_eq!(msdos.labels["path"], r"C:\DIR\FILE.TXT");
        assert_eq!(msdos.labels["error"], "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(msdos.value, 1.458255915e9);

        let weird = &f[3].samples[0];
        assert_eq!(weird.value, f64::INFINITY);
        assert_eq!(weird.timestamp_ms, Some(-3982045));

        let hist = &f[4];
        assert_eq!(hist.samples.len(), 8);
        assert_eq!(hist.samples[5].labels["le"], "+Inf");
        assert_eq!(hist.samples[7].name, "http_request_duration_seconds_count");

        let summary = &f[5];
        assert_eq!(summary.samples.len(), 7);
        assert_eq!(summary.samples[6].value, 2693.0);
    }

    #[test]
    fn nan_values_counter_total_suffix_and_trailing_comma() {
        let text = "# TYPE jobs counter\njobs_total{a=\"1\",} 5\ng NaN\n";
        let f = parse_text(text).unwrap();
        assert_eq!(f[0].name, "jobs");
        assert_eq!(f[0].kind, MetricType::Counter);
        assert_eq!(f[0].samples[0].labels["a"], "1");
        assert!(f[1].samples[0].value.is_nan());
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("ok 1\nbad{a=\"x\" 1\n", 2, "expected ','"),
            ("x{a=\"x} 1\n", 1, "not terminated"),
            ("x{a=x} 1\n", 1, "not quoted"),
            ("x{1a=\"x\"} 1\n", 1, "invalid label name"),
            ("x one\n", 1, "invalid sample value"),
            ("x\n", 1, "no value"),
            ("x 1 2 3\n", 1, "unexpected"),
            ("x 1 t\n", 1, "invalid timestamp"),
            ("9x 1\n", 1, "invalid metric name"),
            ("# TYPE x blob\n", 1, "unknown metric type"),
            ("# TYPE x counter\n# TYPE x gauge\n", 2, "second TYPE"),
            ("x 1\n# TYPE x gauge\n", 2, "after its samples"),
            ("x{a=\"1\",a=\"2\"} 1\n", 1, "given twice"),
        ];
        for (text, line, needle) in cases {
            let e = parse_text(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(parse_value("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("1e-3"), Ok(0.001));
        assert!(parse_value("").is_err());
    }
}
