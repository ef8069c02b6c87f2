//! Probes that read the target's replica or worker count: a Prometheus metric at a URL, a JSON
//! pointer into a document at a URL, or the standard output of a command. Each read has a
//! timeout. `--scaling-probe` specs:
//!
//! - `prom:http://127.0.0.1:8000/metrics#dryad_workers_current` (a label filter may follow the
//!   name: `#kube_deployment_status_replicas{deployment="dryad"}`; matching samples are summed);
//! - `json:http://127.0.0.1:8000/admin/workers#/current` (an RFC 6901 JSON pointer);
//! - `cmd:kubectl get hpa dryad -o jsonpath='{.status.currentReplicas}'` (run with `sh -c`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

use crate::http_get::{HttpGetError, HttpUrl, get_text};
use crate::prom::parse::parse_text;

/// Why a reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Http(#[from] HttpGetError),
    #[error("{url}: not valid Prometheus text: {reason}")]
    PromText { url: String, reason: String },
    #[error("{url}: no sample of {metric} matches")]
    NoSuchMetric { url: String, metric: String },
    #[error("{url}: not valid JSON: {reason}")]
    Json { url: String, reason: String },
    #[error("{url}: JSON pointer {pointer} not found")]
    NoSuchPointer { url: String, pointer: String },
    #[error("{what}: {found:?} is not a number")]
    NotANumber { what: String, found: String },
    #[error("command `{command}` could not start: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("command `{command}` timed out after {timeout:?}")]
    CommandTimeout { command: String, timeout: Duration },
    #[error("command `{command}` exited with {status}: {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },
}

/// A boxed future of one reading.
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = Result<f64, ProbeError>> + Send + 'a>>;

/// Something that reads the current replica / worker count.
pub trait ScalingProbe: Send + Sync + std::fmt::Debug {
    /// One line for reports, e.g. `"command: kubectl get hpa ..."`.
    fn describe(&self) -> String;
    /// Read the count once.
    fn read(&self) -> ReadFuture<'_>;
}

fn number(what: &str, text: &str) -> Result<f64, ProbeError> {
    let t = text.trim().trim_matches('"');
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ProbeError::NotANumber {
            what: what.to_owned(),
            found: text.trim().chars().take(80).collect(),
        })
}

/// A Prometheus metric at a URL: the sum of the samples named `metric` whose labels include
/// every `labels` pair.
#[derive(Debug, Clone)]
pub struct PromProbe {
    pub url: HttpUrl,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub timeout: Duration,
}

impl ScalingProbe for PromProbe {
    fn describe(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        let filter = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        format!(
            "prometheus: {}{} at {}",
            self.metric,
            filter,
            self.url.as_str()
        )
    }

    fn read(&self) -> ReadFuture<'_> {
        Box::pin(async move {
            let text = get_text(&self.url, self.timeout).await?;
            let url = self.url.as_str().to_owned();
            let families = parse_text(&text).map_err(|e| ProbeError::PromText {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            let values: Vec<f64> = families
                .iter()
                .flat_map(|f| &f.samples)
                .filter(|s| s.name == self.metric)
                .filter(|s| self.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|s| s.value)
                .collect();
            if values.is_empty() {
                return Err(ProbeError::NoSuchMetric {
                    url,
                    metric: self.metric.clone(),
                });
            }
            Ok(values.iter().sum())
        })
    }
}

/// A number (or numeric string) at an RFC 6901 JSON pointer in a JSON document at a URL.
#[derive(Debug, Clone)]
pub struct JsonPointerProbe {
    pub url: HttpUrl,
    pub pointer: String,
    pub timeout: Duration,
}

impl ScalingProbe for JsonPointerProbe {
    fn describe(&self) -> String {
        format!("json: {} at {}", self.pointer, self.url.as_str())
    }

    fn read(&self) -> ReadFuture<'_> {
        Box::pin(async move {
            let text = get_text(&self.url, self.timeout).await?;
            let url = self.url.as_str().to_owned();
            let doc: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ProbeError::Json {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            let value = doc
                .pointer(&self.pointer)
                .ok_or_else(|| ProbeError::NoSuchPointer {
                    url: url.clone(),
                    pointer: self.pointer.clone(),
                })?;
            match value {
                serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| ProbeError::NotANumber {
                    what: format!("{url}{}", self.pointer),
                    found: n.to_string(),
                }),
                serde_json::Value::String(s) => number(&format!("{url}{}", self.pointer), s),
                other => Err(ProbeError::NotANumber {
                    what: format!("{url}{}", self.pointer),
                    found: other.to_string(),
                }),
            }
        })
    }
}

/// The first number a shell command prints on standard output.
#[derive(Debug, Clone)]
pub struct CommandProbe {
    /// Run as `sh -c COMMAND`.
    pub command: String,
    pub timeout: Duration,
}

impl ScalingProbe for CommandProbe {
    fn describe(&self) -> String {
        format!("command: {}", self.command)
    }

    fn read(&self) -> ReadFuture<'_> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c")
                .arg(&self.command)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let child = cmd.spawn().map_err(|source| ProbeError::Spawn {
                command: self.command.clone(),
                source,
            })?;
            let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
                Ok(result) => result.map_err(|source| ProbeError::Spawn {
                    command: self.command.clone(),
                    source,
                })?,
                // Dropping the future drops the child, which kills it (kill_on_drop).
                Err(_) => {
                    return Err(ProbeError::CommandTimeout {
                        command: self.command.clone(),
                        timeout: self.timeout,
                    });
                }
            };
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(ProbeError::CommandFailed {
                    command: self.command.clone(),
                    status: output.status.to_string(),
                    stderr: stderr.trim().chars().take(200).collect(),
                });
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let first = stdout.split_whitespace().next().unwrap_or("");
            number(&format!("output of `{}`", self.command), first)
        })
    }
}

/// A `--scaling-probe` spec that could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSpecError {
    #[error(
        "scaling probe {0:?} must start with prom:, json: or cmd: (e.g. \
         'prom:http://127.0.0.1:8000/metrics#dryad_workers_current')"
    )]
    UnknownKind(String),
    #[error("scaling probe {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },
    #[error(transparent)]
    Url(#[from] HttpGetError),
}

/// Build a probe from a `--scaling-probe` spec.
pub fn parse_probe(spec: &str, timeout: Duration) -> Result<Box<dyn ScalingProbe>, ProbeSpecError> {
    let invalid = |reason: &str| ProbeSpecError::Invalid {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(rest) = spec.strip_prefix("cmd:") {
        let command = rest.trim();
        if command.is_empty() {
            return Err(invalid("no command after cmd:"));
        }
        return Ok(Box::new(CommandProbe {
            command: command.to_owned(),
            timeout,
        }));
    }
    let (kind, rest) = if let Some(r) = spec.strip_prefix("prom:") {
        ("prom", r)
    } else if let Some(r) = spec.strip_prefix("json:") {
        ("json", r)
    } else {
        return Err(ProbeSpecError::UnknownKind(spec.to_owned()));
    };
    let (url, target) = rest
        .rsplit_once('#')
        .ok_or_else(|| invalid("put the metric or JSON pointer after '#': URL#target"))?;
    let url = HttpUrl::parse(url)?;
    if kind == "json" {
        if !(target.is_empty() || target.starts_with('/')) {
            return Err(invalid(
                "a JSON pointer starts with '/', e.g. #/status/replicas",
            ));
        }
        return Ok(Box::new(JsonPointerProbe {
            url,
            pointer: target.to_owned(),
            timeout,
        }));
    }
    let (metric, labels) = match target.split_once('{') {
        None => (target, BTreeMap::new()),
        Some((name, rest)) => {
            // Reuse the exposition parser on `name{labels} 0` to read the label filter.
            let line = format!("{name}{{{rest} 0\n");
            let families =
                parse_text(&line).map_err(|e| invalid(&format!("label filter: {}", e.reason)))?;
            let labels = families
                .into_iter()
                .next()
                .and_then(|f| f.samples.into_iter().next())
                .map(|s| s.labels)
                .unwrap_or_default();
            (name, labels)
        }
    };
    if metric.is_empty() {
        return Err(invalid("no metric name after '#'"));
    }
    Ok(Box::new(PromProbe {
        url,
        metric: metric.to_owned(),
        labels,
        timeout,
    }))
}

/// Reads a probe once a second during a run and keeps the readings.
#[derive(Debug)]
pub struct ProbeRecorder {
    probe: Box<dyn ScalingProbe>,
    readings: Vec<(f64, Option<f64>)>,
    failures: u64,
    last_error: Option<String>,
}

impl ProbeRecorder {
    pub fn new(probe: Box<dyn ScalingProbe>) -> Self {
        Self {
            probe,
            readings: Vec::new(),
            failures: 0,
            last_error: None,
        }
    }

    /// Read once and record the result at `elapsed_s`.
    pub async fn tick(&mut self, elapsed_s: f64) -> Result<f64, ProbeError> {
        let r = self.probe.read().await;
        match &r {
            Ok(v) => self.readings.push((elapsed_s, Some(*v))),
            Err(e) => {
                self.readings.push((elapsed_s, None));
                self.failures += 1;
                self.last_error = Some(e.to_string());
            }
        }
        r
    }

    pub fn describe(&self) -> String {
        self.probe.describe()
    }

    pub fn readings(&self) -> &[(f64, Option<f64>)] {
        &self.readings
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn specs_parse_into_the_right_probe() {
        let p = parse_probe("prom:http://127.0.0.1:9/metrics#dryad_workers_current", T).unwrap();
        assert_eq!(
            p.describe(),
            "prometheus: dryad_workers_current at http://127.0.0.1:9/metrics"
        );
        let p = parse_probe(
            "prom:http://127.0.0.1:9/metrics#kube_deployment_status_replicas{deployment=\"dryad\",namespace=\"default\"}",
            T,
        )
        .unwrap();
        assert_eq!(
            p.describe(),
            "prometheus: kube_deployment_status_replicas{deployment=\"dryad\",namespace=\"default\"} at http://127.0.0.1:9/metrics"
        );
        let p = parse_probe("json:http://127.0.0.1:9/admin/workers#/workers/current", T).unwrap();
        assert_eq!(
            p.describe(),
            "json: /workers/current at http://127.0.0.1:9/admin/workers"
        );
        let p = parse_probe(
            "cmd: kubectl get hpa dryad -o jsonpath='{.status.currentReplicas}'",
            T,
        )
        .unwrap();
        assert_eq!(
            p.describe(),
            "command: kubectl get hpa dryad -o jsonpath='{.status.currentReplicas}'"
        );
    }

    #[test]
    fn bad_specs_are_typed_errors() {
        assert!(matches!(
            parse_probe("http://x", T),
            Err(ProbeSpecError::UnknownKind(_))
        ));
        assert!(matches!(
            parse_probe("cmd:  ", T),
            Err(ProbeSpecError::Invalid { .. })
        ));
        assert!(matches!(
            parse_probe("prom:http://127.0.0.1:9/metrics", T),
            Err(ProbeSpecError::Invalid { .. })
        ));
        assert!(matches!(
            parse_probe("prom:http://127.0.0.1:9/metrics#", T),
            Err(ProbeSpecError::Invalid { .. })
        ));
        assert!(matches!(
            parse_probe("prom:https://x/metrics#m", T),
            Err(ProbeSpecError::Url(_))
        ));
        assert!(matches!(
            parse_probe("json:http://127.0.0.1:9/x#workers", T),
            Err(ProbeSpecError::Invalid { .. })
        ));
        assert!(matches!(
            parse_probe("prom:http://127.0.0.1:9/m#m{a=b}", T),
            Err(ProbeSpecError::Invalid { .. })
        ));
    }

    #[test]
    fn numbers_are_parsed_strictly() {
        assert_eq!(number("x", " 3\n").unwrap(), 3.0);
        assert_eq!(number("x", "\"4\"").unwrap(), 4.0);
        assert!(number("x", "three").is_err());
        assert!(number("x", "").is_err());
        assert!(number("x", "NaN").is_err());
    }
}
