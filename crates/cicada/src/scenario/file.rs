//! Reading a scenario from TOML. Shape errors come from `toml` with their span turned into
//! file:line:column; value errors (a zero weight, a negative duration) are located the same way.
//! The format is specified in `docs/scenario.md`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::ScenarioError;
use super::model::{
    Body, Capture, CaptureSource, Check, Defaults, Feeder, FeederMode, Generator, GeneratorKind,
    LoadSpec, Location, Request, Scenario, StageSpec, Task, ThresholdSpec, UserType, Wait,
};
use crate::duration::parse_duration;

/// Read and parse a scenario file. Feeder paths are resolved relative to the file's folder.
pub fn load_scenario_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_scenario(&text, path)
}

/// Parse scenario TOML text; `path` names the file in errors and anchors relative feeder paths.
pub fn parse_scenario(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let cx = Cx {
        text,
        file: path.display().to_string(),
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| ScenarioError::Syntax {
        location: cx.loc(e.span().unwrap_or(0..0)),
        message: e.message().trim().to_string(),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    cx.scenario(raw, path, &base)
}

struct Cx<'a> {
    text: &'a str,
    file: String,
}

impl Cx<'_> {
    fn loc(&self, span: Range<usize>) -> Location {
        let offset = span.start.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    fn err<T: Spanned_>(&self, at: &T, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            location: Some(self.loc(at.span_range())),
            message: message.into(),
        }
    }

    fn duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration, ScenarioError> {
        parse_duration(value.get_ref()).map_err(|e| self.err(value, format!("{what}: {e}")))
    }

    fn weight(&self, value: &Option<Spanned<i64>>, what: &str) -> Result<i64, ScenarioError> {
        match value {
            None => Ok(1),
            Some(w) if *w.get_ref() >= 1 => Ok(*w.get_ref()),
            Some(w) => Err(self.err(
                w,
                format!(
                    "{what} weight must be a whole number of at least 1, got {}",
                    w.get_ref()
                ),
            )),
        }
    }

    fn scenario(
        &self,
        raw: RawScenario,
        path: &Path,
        base: &Path,
    ) -> Result<Scenario, ScenarioError> {
        let name = raw.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".to_string())
        });
        let defaults = self.defaults(raw.defaults.unwrap_or_default())?;
        let generators = raw
            .generators
            .into_iter()
            .map(|(name, g)| self.generator(name, g))
            .collect::<Result<Vec<_>, _>>()?;
        let feeders = raw
            .feeders
            .into_iter()
            .map(|(name, f)| {
                let location = self.loc(f.span());
                let f = f.into_inner();
                let file = PathBuf::from(f.file);
                let mode = match f.mode.as_deref() {
                    None | Some("shared") => FeederMode::Shared,
                    Some("per_user") => FeederMode::PerUser,
                    Some("random") => FeederMode::Random,
                    Some(other) => {
                        return Err(ScenarioError::invalid(
                            Some(&location),
                            format!(
                                "feeder {name}: unknown mode {other:?} (expected per_user, shared or random)"
                            ),
                        ));
                    }
                };
                Ok(Feeder {
                    name,
                    path: if file.is_absolute() {
                        file
                    } else {
                        base.join(file)
                    },
                    mode,
                    origin: Some(location),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let user_types = raw
            .users
            .into_iter()
            .map(|u| self.user_type(u))
            .collect::<Result<Vec<_>, _>>()?;
        let thresholds = raw
            .thresholds
            .into_iter()
            .map(|t| ThresholdSpec {
                origin: Some(self.loc(t.span())),
                expression: t.into_inner(),
            })
            .collect();
        let load = self.load(raw.load.unwrap_or_default())?;
        Ok(Scenario {
            name,
            source_file: Some(path.to_path_buf()),
            defaults,
            variables: raw.variables.into_iter().collect(),
            generators,
            feeders,
            user_types,
            thresholds,
            load,
        })
    }

    fn defaults(&self, raw: RawDefaults) -> Result<Defaults, ScenarioError> {
        let mut d = Defaults {
            host: raw.host,
            headers: raw.headers.into_iter().collect(),
            exit_code_on_error: raw.exit_code_on_error,
            ..Defaults::default()
        };
        if let Some(t) = &raw.connect_timeout {
            d.connect_timeout = self.positive(t, "connect_timeout")?;
        }
        if let Some(t) = &raw.request_timeout {
            d.request_timeout = self.positive(t, "request_timeout")?;
        }
        if let Some(t) = &raw.max_connection_lifetime {
            d.max_connection_lifetime = Some(self.positive(t, "max_connection_lifetime")?);
        }
        Ok(d)
    }

    fn positive(&self, value: &Spanned<String>, what: &str) -> Result<Duration, ScenarioError> {
        let d = self.duration(value, what)?;
        if d.is_zero() {
            return Err(self.err(value, format!("{what} must be greater than zero")));
        }
        Ok(d)
    }

    fn generator(
        &self,
        name: String,
        raw: Spanned<RawGenerator>,
    ) -> Result<Generator, ScenarioError> {
        let span = raw.span();
        let g = raw.into_inner();
        let bad = |m: String| ScenarioError::invalid(Some(&self.loc(span.clone())), m);
        let kind = match g.kind.as_str() {
            "uuid" => GeneratorKind::Uuid,
            "random_int" => {
                let (min, max) = (g.min.unwrap_or(0), g.max.unwrap_or(i64::from(i32::MAX)));
                if min > max {
                    return Err(bad(format!(
                        "generator {name}: min {min} is above max {max}"
                    )));
                }
                GeneratorKind::RandomInt { min, max }
            }
            "random_choice" => {
                let values = g.values.unwrap_or_default();
                if values.is_empty() {
                    return Err(bad(format!(
                        "generator {name}: random_choice needs a non-empty `values` list"
                    )));
                }
                GeneratorKind::RandomChoice(values)
            }
            "sequence" => GeneratorKind::Sequence {
                start: g.start.unwrap_or(1),
                step: g.step.unwrap_or(1),
            },
            other => {
                return Err(bad(format!(
                    "generator {name}: unknown type {other:?} (expected uuid, random_int, random_choice or sequence)"
                )));
            }
        };
        Ok(Generator { name, kind })
    }

    fn user_type(&self, raw: Spanned<RawUserType>) -> Result<UserType, ScenarioError> {
        let location = self.loc(raw.span());
        let u = raw.into_inner();
        let name = u.name.unwrap_or_else(|| "user".to_string());
        let weight = self.weight(&u.weight, &format!("user type {name}"))?;
        let wait = match &u.wait {
            None => Wait::None,
            Some(w) => self.wait(w)?,
        };
        let requests = |list: Vec<Spanned<RawRequest>>| {
            list.into_iter()
                .map(|r| self.request(r))
                .collect::<Result<Vec<_>, _>>()
        };
        let on_start = requests(u.on_start)?;
        let on_stop = requests(u.on_stop)?;
        let tasks = u
            .tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| self.task(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UserType {
            name,
            weight,
            wait,
            on_start,
            on_stop,
            tasks,
            headers: u.headers.into_iter().collect(),
            origin: Some(location),
        })
    }

    fn wait(&self, raw: &Spanned<RawWait>) -> Result<Wait, ScenarioError> {
        let w = raw.get_ref();
        let set = [
            w.constant.is_some(),
            w.between.is_some(),
            w.pacing.is_some(),
            w.throughput.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Err(self.err(
                raw,
                "wait needs exactly one of constant = \"1s\", between = [\"1s\", \"3s\"], pacing = \"2s\", throughput = 0.5",
            ));
        }
        if let Some(c) = &w.constant {
            return Ok(Wait::Constant(self.duration(c, "wait constant")?));
        }
        if let Some(b) = &w.between {
            let [lo, hi] = b.get_ref().as_slice() else {
                return Err(self.err(b, "wait between needs two durations: [min, max]"));
            };
            let (lo, hi) = (
                self.duration(lo, "wait between")?,
                self.duration(hi, "wait between")?,
            );
            if lo > hi {
                return Err(self.err(b, "wait between: min is above max"));
            }
            return Ok(Wait::Between(lo, hi));
        }
        if let Some(p) = &w.pacing {
            return Ok(Wait::ConstantPacing(self.duration(p, "wait pacing")?));
        }
        let t = w.throughput.as_ref().expect("one wait kind is set");
        if !(*t.get_ref() > 0.0 && t.get_ref().is_finite()) {
            return Err(self.err(
                t,
                "wait throughput must be a positive number of iterations/s",
            ));
        }
        Ok(Wait::ConstantThroughput(*t.get_ref()))
    }

    fn task(&self, index: usize, raw: Spanned<RawRequest>) -> Result<Task, ScenarioError> {
        let span = raw.span();
        let location = self.loc(span.clone());
        let mut t = raw.into_inner();
        let name = t
            .name
            .clone()
            .or_else(|| t.path.clone())
            .unwrap_or_else(|| format!("task {}", index + 1));
        let weight = self.weight(&t.weight, &format!("task {name:?}"))?;
        let tags = std::mem::take(&mut t.tags);
        let inline = t.method.is_some() || t.path.is_some();
        let steps = if t.steps.is_empty() {
            if !inline {
                return Err(ScenarioError::invalid(
                    Some(&location),
                    format!("task {name:?} needs a request (method and path) or a list of steps"),
                ));
            }
            t.weight = None;
            vec![self.request(Spanned::new(span, t))?]
        } else {
            if inline {
                return Err(ScenarioError::invalid(
                    Some(&location),
                    format!("task {name:?} has both an inline request and steps: use one"),
                ));
            }
            std::mem::take(&mut t.steps)
                .into_iter()
                .map(|r| self.request(r))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Task {
            name,
            weight,
            tags,
            steps,
            origin: Some(location),
        })
    }

    fn request(&self, raw: Spanned<RawRequest>) -> Result<Request, ScenarioError> {
        let location = self.loc(raw.span());
        let r = raw.into_inner();
        if r.weight.is_some() || !r.tags.is_empty() || !r.steps.is_empty() {
            return Err(ScenarioError::invalid(
                Some(&location),
                "`weight`, `tags` and `steps` belong to tasks, not to single requests or steps",
            ));
        }
        let (Some(method), Some(path)) = (r.method, r.path) else {
            return Err(ScenarioError::invalid(
                Some(&location),
                "a request needs both `method` and `path`",
            ));
        };
        let body = match (r.json, r.body) {
            (Some(_), Some(_)) => {
                return Err(ScenarioError::invalid(
                    Some(&location),
                    "a request has either `json` or `body`, not both",
                ));
            }
            (Some(json), None) => Some(Body::Json(json)),
            (None, Some(content)) => Some(Body::Raw {
                content,
                content_type: r.content_type,
            }),
            (None, None) => None,
        };
        let expect_status = match r.expect_status {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        };
        if let Some(bad) = expect_status.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(ScenarioError::invalid(
                Some(&location),
                format!("expect_status {bad} is not an HTTP status (100-599)"),
            ));
        }
        let checks = r
            .checks
            .into_iter()
            .map(|c| self.check(c))
            .collect::<Result<Vec<_>, _>>()?;
        let captures = r
            .capture
            .into_iter()
            .map(|(var, c)| self.capture(var, c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Request {
            name: r.name,
            method,
            path,
            query: r.query.into_iter().collect(),
            headers: r.headers.into_iter().collect(),
            body,
            expect_status,
            checks,
            captures,
            origin: Some(location),
        })
    }

    fn check(&self, raw: Spanned<RawCheck>) -> Result<Check, ScenarioError> {
        let c = raw.get_ref();
        let check = match (&c.status, &c.json, &c.equals, &c.body_contains) {
            (Some(s), None, None, None) => Check::Status(*s),
            (None, Some(p), None, None) => Check::JsonExists(p.clone()),
            (None, Some(p), Some(v), None) => Check::JsonEquals(p.clone(), v.clone()),
            (None, None, None, Some(b)) => Check::BodyContains(b.clone()),
            _ => {
                return Err(self.err(
                    &raw,
                    "a check is one of { status = 200 }, { json = \"/ptr\" }, { json = \"/ptr\", equals = VALUE }, { body_contains = \"text\" }",
                ));
            }
        };
        if let Check::JsonExists(p) | Check::JsonEquals(p, _) = &check
            && !(p.is_empty() || p.starts_with('/'))
        {
            return Err(self.err(&raw, format!("JSON pointer {p:?} must start with '/'")));
        }
        Ok(check)
    }

    fn capture(&self, var: String, raw: Spanned<RawCapture>) -> Result<Capture, ScenarioError> {
        let c = raw.get_ref();
        let source = match (&c.json, &c.header, &c.regex) {
            (Some(p), None, None) if p.is_empty() || p.starts_with('/') => {
                CaptureSource::JsonPointer(p.clone())
            }
            (Some(p), None, None) => {
                return Err(self.err(&raw, format!("JSON pointer {p:?} must start with '/'")));
            }
            (None, Some(h), None) => CaptureSource::Header(h.clone()),
            (None, None, Some(r)) => CaptureSource::Regex(r.clone()),
            _ => {
                return Err(self.err(
                    &raw,
                    format!(
                        "capture {var}: give exactly one of json = \"/ptr\", header = \"Name\", regex = \"(..)\""
                    ),
                ));
            }
        };
        Ok(Capture { var, source })
    }

    fn load(&self, raw: RawLoad) -> Result<LoadSpec, ScenarioError> {
        let run_time = raw
            .run_time
            .as_ref()
            .map(|t| self.duration(t, "run_time"))
            .transpose()?;
        let stages = |list: &[Spanned<RawStage>], rate: bool| {
            list.iter()
                .map(|s| {
                    let st = s.get_ref();
                    let target = if rate {
                        st.rate
                    } else {
                        st.users.map(|u| u as f64)
                    };
                    let Some(target) = target else {
                        let key = if rate { "rate" } else { "users" };
                        return Err(self.err(s, format!("a stage needs `duration` and `{key}`")));
                    };
                    if !(target >= 0.0 && target.is_finite()) {
                        return Err(self.err(s, "a stage target must be zero or more"));
                    }
                    Ok(StageSpec {
                        duration: self.duration(&st.duration, "stage duration")?,
                        target,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let spec = LoadSpec {
            users: raw.users,
            spawn_rate: raw.spawn_rate,
            run_time,
            iterations: raw.iterations,
            stages: stages(&raw.stages, false)?,
            rate: raw.rate,
            rate_stages: stages(&raw.rate_stages, true)?,
            max_concurrency: raw.max_concurrency,
        };
        Ok(spec)
    }
}

/// `Spanned` of any type exposes its byte range.
trait Spanned_ {
    fn span_range(&self) -> Range<usize>;
}

impl<T> Spanned_ for Spanned<T> {
    fn span_range(&self) -> Range<usize> {
        self.span()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    defaults: Option<RawDefaults>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    generators: BTreeMap<String, Spanned<RawGenerator>>,
    #[serde(default)]
    feeders: BTreeMap<String, Spanned<RawFeeder>>,
    load: Option<RawLoad>,
    #[serde(default)]
    users: Vec<Spanned<RawUserType>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    host: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    connect_timeout: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
    max_connection_lifetime: Option<Spanned<String>>,
    exit_code_on_error: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGenerator {
    #[serde(rename = "type")]
    kind: String,
    min: Option<i64>,
    max: Option<i64>,
    values: Option<Vec<String>>,
    start: Option<i64>,
    step: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeeder {
    file: String,
    mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    users: Option<u64>,
    spawn_rate: Option<f64>,
    run_time: Option<Spanned<String>>,
    iterations: Option<u64>,
    #[serde(default)]
    stages: Vec<Spanned<RawStage>>,
    rate: Option<f64>,
    #[serde(default)]
    rate_stages: Vec<Spanned<RawStage>>,
    max_concurrency: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    duration: Spanned<String>,
    users: Option<u64>,
    rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUserType {
    name: Option<String>,
    weight: Option<Spanned<i64>>,
    wait: Option<Spanned<RawWait>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    on_start: Vec<Spanned<RawRequest>>,
    #[serde(default)]
    on_stop: Vec<Spanned<RawRequest>>,
    #[serde(default)]
    tasks: Vec<Spanned<RawRequest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWait {
    constant: Option<Spanned<String>>,
    between: Option<Spanned<Vec<Spanned<String>>>>,
    pacing: Option<Spanned<String>>,
    throughput: Option<Spanned<f64>>,
}

/// A request, or a task (a request plus `weight` / `tags`, or a task made of `steps`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    name: Option<String>,
    weight: Option<Spanned<i64>>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    steps: Vec<Spanned<RawRequest>>,
    method: Option<String>,
    path: Option<String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    json: Option<serde_json::Value>,
    body: Option<String>,
    content_type: Option<String>,
    expect_status: Option<OneOrMany>,
    #[serde(default)]
    checks: Vec<Spanned<RawCheck>>,
    #[serde(default)]
    capture: BTreeMap<String, Spanned<RawCapture>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u16),
    Many(Vec<u16>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    status: Option<u16>,
    json: Option<String>,
    equals: Option<serde_json::Value>,
    body_contains: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    json: Option<String>,
    header: Option<String>,
    regex: Option<String>,
}
