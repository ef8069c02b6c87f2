//! Running a custom step ([`crate::scenario::custom`]): the user's variables and HTTP client
//! move into a [`VirtualUser`] handle for the closure, and back when its future ends. Requests
//! sent through the handle go over the user's own connection ([`crate::http::UserClient`])
//! and get rows like any other request; [`VirtualUser::record`] and [`VirtualUser::fail`] add
//! rows of their own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cicada_report::model::FailureKind;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::Shared;
use super::flow::{Outcome, origin, record};
use super::rows::RowTable;
use super::user::StopSignal;
use super::vu::Vu;
use crate::http::UserClient;
use crate::http::request::valid_target;
use crate::scenario::compile::{CompiledCustom, HeaderTemplate, Program, percent_encode_into};
use crate::scenario::custom::{CUSTOM_METHOD, StepError};
use crate::stats::{HttpStatus, Sample, Shard};

/// What custom steps need of a run (one per run).
#[derive(Debug)]
pub(crate) struct CustomEnv {
    pub program: Arc<Program>,
    pub rows: Arc<RowTable>,
    pub base_path: String,
}

/// A simulated user as a custom step sees it: its variables (the ones templates and captures
/// use), its HTTP client, and rows for custom timings and failures. Handed to the step's
/// closure by value; it lives until the closure's future ends (a clone kept beyond that finds
/// the step ended: its requests fail, its variables are gone).
///
/// ```no_run
/// use std::time::Duration;
/// use cicada::scenario::{StepError, VirtualUser};
///
/// async fn poll(vu: VirtualUser) -> Result<(), StepError> {
///     let id = vu.var("execution_id").ok_or_else(|| StepError::new("no execution yet"))?;
///     loop {
///         let reply = vu
///             .get(&format!("/api/v1/executions/{id}"))
///             .name("/api/v1/executions/{id}")
///             .send()
///             .await?;
///         let body: serde_json::Value = reply.json()?;
///         if body["status"] == "COMPLETED" {
///             return Ok(());
///         }
///         vu.sleep(Duration::from_millis(200)).await?;
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct VirtualUser {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Arc<CustomEnv>,
    user_type: usize,
    shard: Arc<Shard>,
    stop: StopSignal,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    vars: Vec<Option<String>>,
    /// Out while a request is in flight.
    client: Option<UserClient>,
    /// The step's future ended: the variables and the client went back to the user.
    ended: bool,
}

/// Run one custom step for `vu`: its own row times the closure (from the iteration's intended
/// start when it is the first step) and counts an `Err` as a failure with its message.
pub(crate) async fn run(
    shared: &Shared,
    vu: &mut Vu,
    step: &CompiledCustom,
    timed_from: &mut Option<Instant>,
    stop: &StopSignal,
) -> Outcome {
    let began = origin(timed_from);
    timed_from.take();
    let settings = Arc::clone(&shared.settings);
    let handle = VirtualUser {
        inner: Arc::new(Inner {
            env: Arc::clone(&shared.custom),
            user_type: vu.user_type,
            shard: Arc::clone(&vu.shard),
            stop: stop.clone(),
            state: Mutex::new(State {
                vars: std::mem::take(&mut vu.vars),
                client: Some(std::mem::replace(
                    &mut vu.client,
                    UserClient::new(Arc::clone(&settings)),
                )),
                ended: false,
            }),
        }),
    };
    let inner = Arc::clone(&handle.inner);
    let result = step.run.call(handle).await;
    {
        let mut state = inner.lock();
        state.ended = true;
        vu.vars = std::mem::take(&mut state.vars);
        // A clone of the handle still sending (spawned elsewhere) keeps the client: the user
        // goes on with a new connection.
        vu.client = state
            .client
            .take()
            .unwrap_or_else(|| UserClient::new(settings));
    }
    let out = match result {
        Ok(()) => Outcome::Done,
        Err(e) if e.is_stopped() => Outcome::Stopped,
        Err(e) => Outcome::Failed(e.message().to_string()),
    };
    record(vu, step.row, began, &out);
    match out {
        Outcome::Failed(why) => {
            let name = &shared.program.rows[step.row].name;
            Outcome::Failed(format!("{name}: {why}"))
        }
        other => other,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn ended() -> StepError {
    StepError::new("the custom step has ended: its user handle can no longer be used")
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl VirtualUser {
    fn user_type_name(&self) -> &str {
        &self.inner.env.program.user_types[self.inner.user_type].name
    }

    fn record_row(
        &self,
        method: &str,
        name: &str,
        sample: &Sample,
        failure: Option<(FailureKind, &str)>,
    ) {
        let row = self
            .inner
            .env
            .rows
            .index(self.user_type_name(), method, name);
        self.inner.shard.record_grow(row, sample, failure);
    }

    /// The user type's name.
    pub fn user_type(&self) -> &str {
        self.user_type_name()
    }

    /// A variable's value (`None` when it has none yet, or no such variable is defined).
    pub fn var(&self, name: &str) -> Option<String> {
        let id = self.inner.env.program.vars.get(name)?;
        self.inner.lock().vars.get(id).cloned().flatten()
    }

    /// Set a variable, for later steps' `{{templates}}`, captures' readers and conditions. It
    /// must be defined: under `[variables]`, as a capture, a generator, a feeder column, or
    /// declared with [`CustomStep::sets`](crate::scenario::CustomStep::sets).
    pub fn set(&self, name: &str, value: impl Into<String>) -> Result<(), StepError> {
        let id = self.inner.env.program.vars.get(name).ok_or_else(|| {
            StepError::new(format!(
                "variable {name:?} is not defined (declare it with CustomStep::sets({name:?}))"
            ))
        })?;
        let mut state = self.inner.lock();
        if state.ended {
            return Err(ended());
        }
        state.vars[id] = Some(value.into());
        Ok(())
    }

    /// Record a custom timing: one sample on the row `CUSTOM <name>`.
    pub fn record(&self, name: &str, duration: Duration) {
        let sample = Sample {
            total_us: micros(duration).max(1),
            ..Sample::default()
        };
        self.record_row(CUSTOM_METHOD, name, &sample, None);
    }

    /// Record a failure on the row `CUSTOM <name>` (a failure group with `message`), without
    /// failing the step.
    pub fn fail(&self, name: &str, message: &str) {
        self.record_row(
            CUSTOM_METHOD,
            name,
            &Sample::default(),
            Some((FailureKind::Check, message)),
        );
    }

    /// Whether the run is stopping (a long custom step should end).
    pub fn is_stopping(&self) -> bool {
        self.inner.stop.is_stopped()
    }

    /// Sleep (the connection parked if long); `Err(StepError::stopped())` when the run stops
    /// meanwhile, which ends the step without recording it.
    pub async fn sleep(&self, pause: Duration) -> Result<(), StepError> {
        if let Some(c) = self.inner.lock().client.as_mut() {
            c.before_wait(pause);
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => Ok(()),
            _ = self.inner.stop.stopped() => Err(StepError::stopped()),
        }
    }

    /// A request with this method and path (e.g. `/api/v1/executions/42`, under the target's
    /// base path); add to it, then [`Call::send`].
    pub fn request(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            vu: self,
            method,
            path: path.to_string(),
            name: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            expect: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call<'_> {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call<'_> {
        self.request(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Call<'_> {
        self.request(Method::DELETE, path)
    }
}

/// A request built in code, sent over the user's own connection with the headers of
/// `[defaults]` and its user type (their `{{templates}}` rendered), its cookies, and the
/// scenario's timeouts. Recorded on the row `<METHOD> <name>` (the name defaults to the path:
/// give one when the path holds ids, so they share a row).
#[derive(Debug)]
pub struct Call<'u> {
    vu: &'u VirtualUser,
    method: Method,
    path: String,
    name: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<(Vec<u8>, Vec<u8>)>,
    expect: Vec<u16>,
}

impl Call<'_> {
    /// The row name (default: the path).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A query parameter (percent-encoded here).
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// A header (replaces an inherited one of the same name).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    /// A JSON body (`application/json`).
    pub fn json(mut self, value: &impl serde::Serialize) -> Self {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.body = Some((bytes, b"application/json".to_vec()));
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, content: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = Some((content.into(), content_type.as_bytes().to_vec()));
        self
    }

    /// Statuses that pass (default: any 2xx or 3xx); any other fails the request's row and
    /// [`Call::send`] returns an error.
    pub fn expect_status(mut self, statuses: &[u16]) -> Self {
        self.expect = statuses.to_vec();
        self
    }

    /// Send the request and read the whole response. Recorded on its row like a file step's
    /// request; an error (connection, timeout, a status that does not pass, a path that is not
    /// a valid URI) fails the row and is returned.
    pub async fn send(self) -> Result<Reply, StepError> {
        let vu = self.vu;
        let env = &vu.inner.env;
        let name = self.name.clone().unwrap_or_else(|| self.path.clone());
        let method = self.method.as_str().to_string();
        let fail_row = |kind: FailureKind, message: &str, sample: &Sample| {
            vu.record_row(&method, &name, sample, Some((kind, message)));
            StepError::new(format!("{method} {name}: {message}"))
        };
        let mut target = String::with_capacity(env.base_path.len() + self.path.len());
        target.push_str(&env.base_path);
        target.push_str(&self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            target.push(if i == 0 && !target.contains('?') {
                '?'
            } else {
                '&'
            });
            percent_encode_into(k, &mut target);
            target.push('=');
            percent_encode_into(v, &mut target);
        }
        if !valid_target(&target) {
            return Err(fail_row(
                FailureKind::Other,
                "the path must start with '/' and be a valid URI",
                &Sample {
                    status: HttpStatus::NoResponse,
                    ..Sample::default()
                },
            ));
        }
        let (headers, mut client) = {
            let mut state = vu.inner.lock();
            if state.ended {
                return Err(ended());
            }
            let headers = self.rendered_headers(&state.vars);
            let Some(client) = state.client.take() else {
                return Err(StepError::new(
                    "another request of this user is in flight (send requests one at a time)",
                ));
            };
            (headers, client)
        };
        let header_refs: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let body = self
            .body
            .as_ref()
            .map(|(b, ct)| (b.as_slice(), ct.as_slice()));
        let started = Instant::now();
        let result = client
            .call(&self.method, &target, &header_refs, body, true)
            .await;
        let total_us = micros(started.elapsed()).max(1);
        let reply = result.as_ref().ok().map(|_| Reply::of(&client));
        {
            let mut state = vu.inner.lock();
            if !state.ended {
                state.client = Some(client);
            }
        }
        match result {
            Err(f) => {
                let sample = Sample {
                    total_us,
                    ttfb_us: f.ttfb.map_or(0, micros),
                    connect_us: f.connect.map(micros),
                    status: HttpStatus::NoResponse,
                    ..Sample::default()
                };
                Err(fail_row(f.kind, &f.message, &sample))
            }
            Ok(exchange) => {
                let sample = Sample {
                    total_us,
                    ttfb_us: micros(exchange.ttfb),
                    connect_us: exchange.connect.map(micros),
                    bytes: exchange.bytes,
                    server: exchange.server,
                    status: HttpStatus::Code(exchange.status),
                    ..Sample::default()
                };
                let status = exchange.status;
                let passes = if self.expect.is_empty() {
                    (200..400).contains(&status)
                } else {
                    self.expect.contains(&status)
                };
                if !passes {
                    return Err(fail_row(
                        FailureKind::Status,
                        &format!("HTTP {status}"),
                        &sample,
                    ));
                }
                vu.record_row(&method, &name, &sample, None);
                Ok(reply.expect("a reply for a response"))
            }
        }
    }

    /// The user type's headers (rendered; inherited ones whose variables have no value yet
    /// are left out), then the call's own, which replace them by name.
    fn rendered_headers(&self, vars: &[Option<String>]) -> Vec<(String, Vec<u8>)> {
        let ut = &self.vu.inner.env.program.user_types[self.vu.inner.user_type];
        let own = |n: &HeaderName| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(n.as_str()))
        };
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, value) in ut.headers.iter().filter(|(n, _)| !own(n)) {
            let bytes = match value {
                HeaderTemplate::Static(v) => v.as_bytes().to_vec(),
                HeaderTemplate::Dynamic { template, .. } => match template.render(vars) {
                    Ok(s) => s.into_bytes(),
                    Err(_) => continue,
                },
            };
            out.push((name.as_str().to_string(), bytes));
        }
        out.extend(self.headers.iter().cloned());
        out
    }
}

/// A response to a [`Call`]: status, headers, the whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    fn of(client: &UserClient) -> Self {
        let view = client.response();
        let mut headers = HeaderMap::new();
        for (name, value) in view.headers() {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(n, v);
            }
        }
        Self {
            status: view.status(),
            headers,
            body: Bytes::copy_from_slice(view.body().unwrap_or_default()),
        }
    }

    /// The body parsed as JSON into `T` (e.g. `serde_json::Value`).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| StepError::new(format!("the response body is not the JSON expected: {e}")))
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}
