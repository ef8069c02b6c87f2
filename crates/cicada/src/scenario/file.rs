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
    Body, Capture, CaptureSource, Check, Condition, Defaults, Feeder, FeederMode, Foreach,
    Generator, GeneratorKind, Group, IfStep, LoadSpec, Location, LoopStep, OnTimeout, Pacing,
    Request, Scenario, StageSpec, Step, Task, ThresholdSpec, Until, UserType, Wait,
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
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let mut message = e.message().trim().to_string();
        if let Some(hint) = misplaced_top_level_key(text, &span, &message) {
            message = format!("{message}\n{hint}");
        }
        ScenarioError::Syntax {
            location: cx.loc(span),
            message,
        }
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    cx.scenario(raw, path, &base)
}

/// The keys of a scenario's top level (before any table).
const TOP_LEVEL_KEYS: [&str; 8] = [
    "name",
    "thresholds",
    "defaults",
    "variables",
    "generators",
    "feeders",
    "load",
    "users",
];

/// A top-level key written after a table header belongs to that table in TOML (`thresholds`
/// under `[defaults]`), which refuses it as unknown: say so, and where to move it.
fn misplaced_top_level_key(text: &str, span: &Range<usize>, message: &str) -> Option<String> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    if !TOP_LEVEL_KEYS.contains(&key) {
        return None;
    }
    let before = &text[..span.start.min(text.len())];
    let table = before.lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.split('#').next().unwrap_or(l).trim().to_owned())
    })?;
    let first = text
        .lines()
        .position(|l| l.trim_start().starts_with('['))
        .map(|i| i + 1)?;
    Some(format!(
        "`{key}` is a top-level key, but written after the table header {table} it is read as \
         part of that table (TOML puts every key after a header into its table): move it above \
         the first table, line {first}"
    ))
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
                .map(|r| {
                    if let Some(kind) = r.get_ref().flow_kind() {
                        return Err(self.err(
                            &r,
                            format!("on_start and on_stop hold requests only; a {kind} step belongs in a task"),
                        ));
                    }
                    self.request(r)
                })
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
            .or_else(|| t.group.as_ref().map(|g| g.get_ref().clone()))
            .or_else(|| t.path.clone())
            .unwrap_or_else(|| format!("task {}", index + 1));
        let weight = self.weight(&t.weight, &format!("task {name:?}"))?;
        let tags = std::mem::take(&mut t.tags);
        t.weight = None;
        let inline = t.method.is_some() || t.path.is_some() || t.flow_kind().is_some();
        let steps = if inline {
            // One request or one flow step written inline (a flow step keeps its `steps`).
            vec![self.step(Spanned::new(span, t))?]
        } else {
            if t.steps.is_empty() {
                return Err(ScenarioError::invalid(
                    Some(&location),
                    format!(
                        "task {name:?} needs a request (method and path), a flow step or a list of steps"
                    ),
                ));
            }
            self.steps(std::mem::take(&mut t.steps))?
        };
        Ok(Task {
            name,
            weight,
            tags,
            steps,
            origin: Some(location),
        })
    }

    fn steps(&self, list: Vec<Spanned<RawRequest>>) -> Result<Vec<Step>, ScenarioError> {
        list.into_iter().map(|r| self.step(r)).collect()
    }

    /// A step: a request, or one flow step (`until`, `if`, `loop`, `foreach`, `group`, `wait`).
    fn step(&self, raw: Spanned<RawRequest>) -> Result<Step, ScenarioError> {
        let span = raw.span();
        let location = self.loc(span.clone());
        let mut r = raw.into_inner();
        let Some(kind) = r.flow_kind() else {
            return Ok(Step::Request(self.request(Spanned::new(span, r))?));
        };
        let bad = |m: String| ScenarioError::invalid(Some(&location), m);
        if r.weight.is_some() || !r.tags.is_empty() {
            return Err(bad(format!(
                "`weight` and `tags` belong to tasks, not to a {kind} step"
            )));
        }
        let allowed: &[&str] = match kind {
            "until" => &[
                "name",
                "steps",
                "interval",
                "backoff",
                "max_tries",
                "timeout",
                "on_timeout",
            ],
            "if" => &["steps", "else"],
            "loop" => &["steps", "index"],
            "foreach" => &["name", "steps", "from", "as", "select", "limit"],
            "group" => &["steps"],
            _ => &[],
        };
        if let Some(extra) = r
            .set_keys()
            .into_iter()
            .find(|k| *k != kind && !allowed.contains(k))
        {
            return Err(bad(format!(
                "`{extra}` does not belong in a {kind} step{}",
                if allowed.is_empty() {
                    String::new()
                } else {
                    format!(" (it takes {})", allowed.join(", "))
                }
            )));
        }
        let inner = std::mem::take(&mut r.steps);
        if kind != "wait" && inner.is_empty() {
            return Err(bad(format!(
                "a {kind} step needs `steps` (the requests or steps it runs)"
            )));
        }
        let steps = self.steps(inner)?;
        Ok(match kind {
            "until" => {
                let condition = self.condition(r.until.as_ref().expect("kind"));
                let pacing = match (&r.interval, &r.backoff) {
                    (Some(_), Some(_)) => {
                        return Err(bad(
                            "an until step has `interval` or `backoff`, not both".into()
                        ));
                    }
                    (Some(i), None) => Pacing::Interval(self.duration(i, "until interval")?),
                    (None, Some(b)) => self.backoff(b)?,
                    (None, None) => Pacing::Interval(DEFAULT_UNTIL_INTERVAL),
                };
                let max_tries = match &r.max_tries {
                    None => None,
                    Some(n) if *n.get_ref() >= 1 => {
                        Some(u32::try_from(*n.get_ref()).unwrap_or(u32::MAX))
                    }
                    Some(n) => {
                        return Err(self.err(
                            n,
                            format!("max_tries must be at least 1, got {}", n.get_ref()),
                        ));
                    }
                };
                let timeout = match &r.timeout {
                    None => DEFAULT_UNTIL_TIMEOUT,
                    Some(t) => self.positive(t, "until timeout")?,
                };
                let on_timeout = match r.on_timeout.as_ref().map(|o| (o, o.get_ref().as_str())) {
                    None | Some((_, "fail")) => OnTimeout::Fail,
                    Some((_, "continue")) => OnTimeout::Continue,
                    Some((o, other)) => {
                        return Err(self.err(
                            o,
                            format!("on_timeout {other:?}: expected \"fail\" or \"continue\""),
                        ));
                    }
                };
                Step::Until(Until {
                    name: r.name,
                    condition,
                    steps,
                    pacing,
                    max_tries,
                    timeout,
                    on_timeout,
                    origin: Some(location),
                })
            }
            "if" => Step::If(IfStep {
                condition: self.condition(r.if_.as_ref().expect("kind")),
                then: steps,
                otherwise: self.steps(std::mem::take(&mut r.else_))?,
                origin: Some(location),
            }),
            "loop" => {
                let n = r.loop_.as_ref().expect("kind");
                let times = u32::try_from(*n.get_ref()).map_err(|_| {
                    self.err(
                        n,
                        format!("loop count must be 0 or more, got {}", n.get_ref()),
                    )
                })?;
                Step::Loop(LoopStep {
                    times,
                    index: r.index,
                    steps,
                    origin: Some(location),
                })
            }
            "foreach" => {
                let p = r.foreach.as_ref().expect("kind");
                let pointer = p.get_ref().clone();
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    return Err(self.err(
                        p,
                        format!("foreach: JSON pointer {pointer:?} must start with '/'"),
                    ));
                }
                if let Some(s) = &r.select
                    && !(s.is_empty() || s.starts_with('/'))
                {
                    return Err(bad(format!(
                        "foreach select: JSON pointer {s:?} must start with '/'"
                    )));
                }
                let Some(bind) = r.as_ else {
                    return Err(bad(
                        "a foreach step needs `as`: the variable each element is bound to".into(),
                    ));
                };
                Step::Foreach(Foreach {
                    name: r.name,
                    pointer,
                    from: r.from,
                    bind,
                    select: r.select,
                    limit: r.limit,
                    steps,
                    origin: Some(location),
                })
            }
            "group" => Step::Group(Group {
                name: r.group.expect("kind").into_inner(),
                steps,
                origin: Some(location),
            }),
            _ => Step::Wait(self.step_wait(r.wait.as_ref().expect("kind"))?),
        })
    }

    /// A condition, located at the first character of its text.
    fn condition(&self, raw: &Spanned<String>) -> Condition {
        let start = raw.span().start;
        let quote = &self.text[start.min(self.text.len())..];
        let mut skip = if quote.starts_with("\"\"\"") || quote.starts_with("'''") {
            3
        } else {
            1
        };
        if skip == 3 && quote[3..].starts_with('\n') {
            skip += 1;
        }
        Condition {
            text: raw.get_ref().clone(),
            origin: Some(self.loc(start + skip..start + skip)),
        }
    }

    fn backoff(&self, raw: &Spanned<RawBackoff>) -> Result<Pacing, ScenarioError> {
        let b = raw.get_ref();
        let initial = self.positive(&b.initial, "backoff initial")?;
        let max = match &b.max {
            Some(m) => self.positive(m, "backoff max")?,
            None => initial * 32,
        };
        let factor = b.factor.unwrap_or(2.0);
        if !(factor >= 1.0 && factor.is_finite()) {
            return Err(self.err(raw, "backoff factor must be a number of at least 1"));
        }
        if max < initial {
            return Err(self.err(raw, "backoff max is below initial"));
        }
        Ok(Pacing::Backoff {
            initial,
            factor,
            max,
        })
    }

    /// `wait = "500ms"` or `wait = ["1s", "3s"]` as a step.
    fn step_wait(&self, raw: &Spanned<RawStepWait>) -> Result<Wait, ScenarioError> {
        let d = |text: &str| parse_duration(text).map_err(|e| self.err(raw, format!("wait: {e}")));
        match raw.get_ref() {
            RawStepWait::Fixed(text) => Ok(Wait::Constant(d(text)?)),
            RawStepWait::Between(list) => {
                let [lo, hi] = list.as_slice() else {
                    return Err(self.err(
                        raw,
                        "a wait step is \"500ms\" or [\"1s\", \"3s\"] (min, max)",
                    ));
                };
                let (lo, hi) = (d(lo)?, d(hi)?);
                if lo > hi {
                    return Err(self.err(raw, "wait: min is above max"));
                }
                Ok(Wait::Between(lo, hi))
            }
        }
    }

    fn request(&self, raw: Spanned<RawRequest>) -> Result<Request, ScenarioError> {
        let location = self.loc(raw.span());
        let r = raw.into_inner();
        if r.weight.is_some() || !r.tags.is_empty() || !r.steps.is_empty() || !r.else_.is_empty() {
            return Err(ScenarioError::invalid(
                Some(&location),
                "`weight`, `tags` and `steps` belong to tasks, not to single requests or steps",
            ));
        }
        const FLOW_ONLY: &[&str] = &[
            "else",
            "interval",
            "backoff",
            "max_tries",
            "timeout",
            "on_timeout",
            "index",
            "from",
            "as",
            "select",
            "limit",
        ];
        if let Some(k) = r.set_keys().into_iter().find(|k| FLOW_ONLY.contains(k)) {
            return Err(ScenarioError::invalid(
                Some(&location),
                format!(
                    "`{k}` belongs to a flow step (until, if, loop, foreach), not to a request"
                ),
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
    // Flow steps: exactly one of these makes the table a flow step instead of a request.
    until: Option<Spanned<String>>,
    #[serde(rename = "if")]
    if_: Option<Spanned<String>>,
    #[serde(rename = "loop")]
    loop_: Option<Spanned<i64>>,
    foreach: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    wait: Option<Spanned<RawStepWait>>,
    // Their settings.
    #[serde(default, rename = "else")]
    else_: Vec<Spanned<RawRequest>>,
    interval: Option<Spanned<String>>,
    backoff: Option<Spanned<RawBackoff>>,
    max_tries: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    on_timeout: Option<Spanned<String>>,
    index: Option<String>,
    from: Option<String>,
    #[serde(rename = "as")]
    as_: Option<String>,
    select: Option<String>,
    limit: Option<u32>,
}

/// `until` pauses between tries when `interval` is not given.
pub const DEFAULT_UNTIL_INTERVAL: Duration = Duration::from_secs(1);
/// `until` gives up after this long when `timeout` is not given.
pub const DEFAULT_UNTIL_TIMEOUT: Duration = Duration::from_secs(30);

impl RawRequest {
    /// Which flow step this table is, if any (the first of its flow keys).
    fn flow_kind(&self) -> Option<&'static str> {
        [
            (self.until.is_some(), "until"),
            (self.if_.is_some(), "if"),
            (self.loop_.is_some(), "loop"),
            (self.foreach.is_some(), "foreach"),
            (self.group.is_some(), "group"),
            (self.wait.is_some(), "wait"),
        ]
        .into_iter()
        .find_map(|(set, k)| set.then_some(k))
    }

    /// The keys that are set, for "does not belong" errors of flow steps.
    fn set_keys(&self) -> Vec<&'static str> {
        [
            (self.name.is_some(), "name"),
            (!self.steps.is_empty(), "steps"),
            (self.method.is_some(), "method"),
            (self.path.is_some(), "path"),
            (!self.query.is_empty(), "query"),
            (!self.headers.is_empty(), "headers"),
            (self.json.is_some(), "json"),
            (self.body.is_some(), "body"),
            (self.content_type.is_some(), "content_type"),
            (self.expect_status.is_some(), "expect_status"),
            (!self.checks.is_empty(), "checks"),
            (!self.capture.is_empty(), "capture"),
            (self.until.is_some(), "until"),
            (self.if_.is_some(), "if"),
            (self.loop_.is_some(), "loop"),
            (self.foreach.is_some(), "foreach"),
            (self.group.is_some(), "group"),
            (self.wait.is_some(), "wait"),
            (!self.else_.is_empty(), "else"),
            (self.interval.is_some(), "interval"),
            (self.backoff.is_some(), "backoff"),
            (self.max_tries.is_some(), "max_tries"),
            (self.timeout.is_some(), "timeout"),
            (self.on_timeout.is_some(), "on_timeout"),
            (self.index.is_some(), "index"),
            (self.from.is_some(), "from"),
            (self.as_.is_some(), "as"),
            (self.select.is_some(), "select"),
            (self.limit.is_some(), "limit"),
        ]
        .into_iter()
        .filter_map(|(set, k)| set.then_some(k))
        .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial: Spanned<String>,
    factor: Option<f64>,
    max: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStepWait {
    Fixed(String),
    Between(Vec<String>),
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
