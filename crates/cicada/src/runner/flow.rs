//! Executing a task's flow steps (`until`, `if`, `loop`, `foreach`, `group`, `wait`, custom
//! steps in [`super::custom`]). A task of
//! plain requests never comes here: [`super::user::iteration`] runs it on its straight path.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use cicada_report::model::FailureKind;
use rand::Rng;
use serde_json::Value;

use super::Shared;
use super::exec::execute;
use super::user::StopSignal;
use super::vu::{LastResponse, Vu};
use crate::scenario::compile::{CompiledForeach, CompiledStep, CompiledUntil};
use crate::scenario::expr::Facts;
use crate::scenario::model::{OnTimeout, Pacing, Wait};
use crate::stats::Sample;
use crate::template::VarId;

/// How a list of steps ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A step failed (it is recorded on its own row); the reason, for enclosing flow rows.
    Failed(String),
    /// The run is stopping.
    Stopped,
}

type Boxed<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Run `steps` in order; a failed step ends the list. `timed_from` is the intended start of the
/// iteration (open model), taken by the first request and read by enclosing flow rows.
pub fn run_steps<'a>(
    shared: &'a Shared,
    vu: &'a mut Vu,
    steps: &'a [CompiledStep],
    timed_from: &'a mut Option<Instant>,
    stop: &'a StopSignal,
) -> Boxed<'a> {
    Box::pin(async move {
        for step in steps {
            let out = run_step(shared, vu, step, timed_from, stop).await;
            if out != Outcome::Done {
                return out;
            }
            if stop.is_stopped() {
                return Outcome::Stopped;
            }
        }
        Outcome::Done
    })
}

async fn run_step(
    shared: &Shared,
    vu: &mut Vu,
    step: &CompiledStep,
    timed_from: &mut Option<Instant>,
    stop: &StopSignal,
) -> Outcome {
    match step {
        CompiledStep::Request(r) => {
            if execute(shared, vu, r, timed_from.take()).await {
                Outcome::Done
            } else {
                let key = &shared.program.rows[r.row];
                Outcome::Failed(format!("{} {} failed", key.method, key.name))
            }
        }
        CompiledStep::If {
            condition,
            then,
            otherwise,
        } => {
            let branch = if condition.holds(&View::of(vu)) {
                then
            } else {
                otherwise
            };
            run_steps(shared, vu, branch, timed_from, stop).await
        }
        CompiledStep::Loop {
            times,
            index,
            steps,
        } => {
            for i in 0..*times {
                if let Some(id) = index {
                    vu.vars[*id] = Some(i.to_string());
                }
                let out = run_steps(shared, vu, steps, timed_from, stop).await;
                if out != Outcome::Done {
                    return out;
                }
                if stop.is_stopped() {
                    return Outcome::Stopped;
                }
            }
            Outcome::Done
        }
        CompiledStep::Group { row, steps } => {
            let origin = origin(timed_from);
            let out = run_steps(shared, vu, steps, timed_from, stop).await;
            record(vu, *row, origin, &out);
            out
        }
        CompiledStep::Until(u) => until(shared, vu, u, timed_from, stop).await,
        CompiledStep::Foreach(f) => foreach(shared, vu, f, timed_from, stop).await,
        CompiledStep::Custom(c) => super::custom::run(shared, vu, c, timed_from, stop).await,
        CompiledStep::Wait(w) => {
            let pause = match *w {
                Wait::Constant(d) => d,
                Wait::Between(lo, hi) if lo < hi => Duration::from_secs_f64(
                    vu.rng.random_range(lo.as_secs_f64()..=hi.as_secs_f64()),
                ),
                Wait::Between(lo, _) => lo,
                _ => Duration::ZERO,
            };
            pause_for(vu, pause, stop).await
        }
    }
}

/// When a flow row's time starts: the iteration's intended start if nothing took it yet.
pub(super) fn origin(timed_from: &Option<Instant>) -> Instant {
    let now = Instant::now();
    timed_from.unwrap_or(now).min(now)
}

/// Record a flow row's duration; a failure carries the reason. A stopped run records nothing.
pub(super) fn record(vu: &Vu, row: usize, origin: Instant, out: &Outcome) {
    let total_us = u64::try_from(origin.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let sample = Sample {
        total_us,
        ..Sample::default()
    };
    match out {
        Outcome::Done => vu.shard.record(row, &sample, None),
        Outcome::Failed(why) => vu
            .shard
            .record(row, &sample, Some((FailureKind::Other, why))),
        Outcome::Stopped => {}
    }
}

/// Sleep (parking the connection if long), waking early when the run stops.
async fn pause_for(vu: &mut Vu, pause: Duration, stop: &StopSignal) -> Outcome {
    if pause.is_zero() {
        return Outcome::Done;
    }
    vu.client.before_wait(pause);
    tokio::select! {
        _ = tokio::time::sleep(pause) => Outcome::Done,
        _ = stop.stopped() => Outcome::Stopped,
    }
}

async fn until(
    shared: &Shared,
    vu: &mut Vu,
    u: &CompiledUntil,
    timed_from: &mut Option<Instant>,
    stop: &StopSignal,
) -> Outcome {
    let began = Instant::now();
    let origin = origin(timed_from);
    let deadline = began + u.timeout;
    let mut pause = match u.pacing {
        Pacing::Interval(d) => d,
        Pacing::Backoff { initial, .. } => initial,
    };
    let mut tries: u32 = 0;
    loop {
        let out = run_steps(shared, vu, &u.steps, timed_from, stop).await;
        if out != Outcome::Done {
            let out = match out {
                Outcome::Failed(why) => Outcome::Failed(format!("until: {why}")),
                other => other,
            };
            record(vu, u.row, origin, &out);
            return out;
        }
        tries += 1;
        if u.condition.holds(&View::of(vu)) {
            record(vu, u.row, origin, &Outcome::Done);
            return Outcome::Done;
        }
        let out_of_tries = u.max_tries.is_some_and(|m| tries >= m);
        if out_of_tries || Instant::now() + pause > deadline {
            // The message names the limit that ran out, as configured: it is the failure
            // group's key, so a count of tries or an elapsed time in it would split one cause
            // into as many groups as there were timings.
            let why = if out_of_tries {
                format!(
                    "until timed out: {} still false after {tries} tr{}",
                    u.condition,
                    if tries == 1 { "y" } else { "ies" },
                )
            } else {
                format!(
                    "until timed out: {} still false at its {} timeout",
                    u.condition,
                    crate::duration::format_duration(u.timeout)
                )
            };
            return match u.on_timeout {
                OnTimeout::Fail => {
                    let out = Outcome::Failed(why);
                    record_kind(vu, u.row, origin, &out, FailureKind::Check);
                    out
                }
                OnTimeout::Continue => {
                    record(vu, u.row, origin, &Outcome::Done);
                    Outcome::Done
                }
            };
        }
        if pause_for(vu, pause, stop).await == Outcome::Stopped {
            return Outcome::Stopped;
        }
        if let Pacing::Backoff { factor, max, .. } = u.pacing {
            pause = pause.mul_f64(factor).min(max);
        }
    }
}

async fn foreach(
    shared: &Shared,
    vu: &mut Vu,
    f: &CompiledForeach,
    timed_from: &mut Option<Instant>,
    stop: &StopSignal,
) -> Outcome {
    let origin = origin(timed_from);
    let items = match elements(vu, f, &shared.program.vars) {
        Ok(items) => items,
        Err(why) => {
            let out = Outcome::Failed(why);
            record_kind(vu, f.row, origin, &out, FailureKind::Check);
            return out;
        }
    };
    let limit = f.limit.map_or(usize::MAX, |l| l as usize);
    for item in items.into_iter().take(limit) {
        let value = match f.select.as_deref() {
            Some(p) => item.pointer(p).cloned().unwrap_or(Value::Null),
            None => item,
        };
        vu.vars[f.bind] = Some(match value {
            Value::String(s) => s,
            other => other.to_string(),
        });
        let out = run_steps(shared, vu, &f.steps, timed_from, stop).await;
        if out != Outcome::Done {
            record(vu, f.row, origin, &out);
            return out;
        }
        if stop.is_stopped() {
            return Outcome::Stopped;
        }
    }
    record(vu, f.row, origin, &Outcome::Done);
    Outcome::Done
}

fn record_kind(vu: &Vu, row: usize, origin: Instant, out: &Outcome, kind: FailureKind) {
    if let Outcome::Failed(why) = out {
        let sample = Sample {
            total_us: u64::try_from(origin.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
            ..Sample::default()
        };
        vu.shard.record(row, &sample, Some((kind, why)));
    }
}

/// The array `foreach` walks: from its variable's JSON text, or the last response.
fn elements(
    vu: &Vu,
    f: &CompiledForeach,
    vars: &crate::template::VarTable,
) -> Result<Vec<Value>, String> {
    let parsed;
    let (root, source) = match f.from {
        Some(id) => {
            let name = vars.name(id);
            let text = vu.vars[id]
                .as_deref()
                .ok_or_else(|| format!("foreach: variable {{{{{name}}}}} has no value yet"))?;
            parsed = serde_json::from_str::<Value>(text)
                .map_err(|_| format!("foreach: variable {{{{{name}}}}} is not JSON"))?;
            (&parsed, format!("variable {name}"))
        }
        None => {
            let last = vu
                .last
                .as_ref()
                .ok_or("foreach: there is no response to read (the last request got none)")?;
            let json = last
                .json()
                .ok_or("foreach: the last response body is not JSON")?;
            (json, "the last response".to_string())
        }
    };
    match root.pointer(&f.pointer) {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(other) => Err(format!(
            "foreach: {} in {source} is not an array (found {})",
            f.pointer,
            kind_of(other)
        )),
        None => Err(format!("foreach: {source} has nothing at {}", f.pointer)),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a condition sees: the user's variables and its last kept response.
struct View<'a> {
    vars: &'a [Option<String>],
    last: Option<&'a LastResponse>,
}

impl<'a> View<'a> {
    fn of(vu: &'a Vu) -> Self {
        Self {
            vars: &vu.vars,
            last: vu.last.as_ref(),
        }
    }
}

impl Facts for View<'_> {
    fn var(&self, id: VarId) -> Option<&str> {
        self.vars.get(id).and_then(Option::as_deref)
    }

    fn status(&self) -> Option<u16> {
        self.last.map(|l| l.status)
    }

    fn json(&self, pointer: &str) -> Option<Value> {
        self.last?.json()?.pointer(pointer).cloned()
    }

    fn header(&self, name: &http::HeaderName) -> Option<&str> {
        self.last?.headers.get(name)?.to_str().ok()
    }

    fn body(&self) -> Option<&str> {
        std::str::from_utf8(self.last?.body.as_deref()?).ok()
    }
}
