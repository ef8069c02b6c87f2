//! Validation and compilation of a [`Scenario`] into a [`Program`]: templates resolved to
//! variable slots, feeders read, weights checked, tags applied, stats rows numbered, thresholds
//! parsed. Everything that can be wrong with a scenario is found here, before any request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use super::custom::{CUSTOM_METHOD, StepFn};
use super::error::ScenarioError;
use super::expr::Expr;
use super::model::{
    Body, CaptureSource, Check, Condition, Defaults, FeederMode, GeneratorKind, LoadSpec, Location,
    OnTimeout, Pacing, Request, Scenario, Step, Wait,
};
use crate::template::{Template, TemplateError, VarId, VarTable};
use crate::threshold::{Scope, Threshold, ThresholdSource};

/// Choices made on the command line that shape compilation.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// `-T/--tags`: keep only tasks with one of these tags (empty: all).
    pub tags: Vec<String>,
    /// `-E/--exclude-tags`: drop tasks with any of these tags.
    pub exclude_tags: Vec<String>,
    /// `--threshold` expressions, added to the scenario's own.
    pub thresholds: Vec<String>,
}

/// A compiled, validated scenario, ready to run.
#[derive(Debug)]
pub struct Program {
    pub name: String,
    pub source_file: Option<String>,
    pub vars: VarTable,
    pub constants: Vec<(VarId, String)>,
    pub generators: Vec<CompiledGenerator>,
    pub feeders: Vec<CompiledFeeder>,
    pub user_types: Vec<CompiledUserType>,
    /// Stats rows, indexed by [`CompiledRequest::row`].
    pub rows: Vec<RowKey>,
    /// Number of compiled requests (ids `0..request_count`).
    pub request_count: usize,
    pub defaults: Defaults,
    pub thresholds: Vec<Threshold>,
    /// The load plan written in the scenario.
    pub load: LoadSpec,
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
}

/// One statistics row: (user type, name, method).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowKey {
    pub user_type: String,
    pub name: String,
    pub method: String,
}

/// A generator bound to its variable slot.
#[derive(Debug)]
pub struct CompiledGenerator {
    pub var: VarId,
    pub kind: GeneratorKind,
    /// Values of a sequence taken so far, shared by all users (the next value is
    /// `start + step · k`, `k` the run's index of this generator's next take).
    pub taken: AtomicU64,
}

/// A feeder with its rows in memory.
#[derive(Debug)]
pub struct CompiledFeeder {
    pub name: String,
    pub mode: FeederMode,
    /// Slot of each column.
    pub columns: Vec<VarId>,
    pub rows: Vec<Vec<String>>,
    /// Rows taken round-robin so far, shared by all users.
    pub cursor: AtomicU64,
}

/// A user type, compiled.
#[derive(Debug)]
pub struct CompiledUserType {
    pub name: String,
    pub weight: u32,
    pub wait: Wait,
    pub on_start: Vec<CompiledRequest>,
    pub on_stop: Vec<CompiledRequest>,
    pub tasks: Vec<CompiledTask>,
    pub task_picker: WeightedPicker,
    /// Headers of `[defaults]` and the user type, for requests made by custom steps.
    pub headers: Vec<(HeaderName, HeaderTemplate)>,
}

/// A task, compiled.
#[derive(Debug)]
pub struct CompiledTask {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<CompiledStep>,
    /// Every step is a plain request: the runner takes its straight-line path.
    pub plain: bool,
}

pub use cicada_report::model::{FLOW_METHODS, is_flow_method};

/// A step, compiled.
#[derive(Debug)]
pub enum CompiledStep {
    Request(CompiledRequest),
    Until(CompiledUntil),
    If {
        condition: Expr,
        then: Vec<CompiledStep>,
        otherwise: Vec<CompiledStep>,
    },
    Loop {
        times: u32,
        index: Option<VarId>,
        steps: Vec<CompiledStep>,
    },
    Foreach(CompiledForeach),
    Group {
        row: usize,
        steps: Vec<CompiledStep>,
    },
    Wait(Wait),
    Custom(CompiledCustom),
}

/// A custom step, compiled: its closure and its own row.
pub struct CompiledCustom {
    pub row: usize,
    pub run: Arc<dyn StepFn>,
}

impl std::fmt::Debug for CompiledCustom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCustom")
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

impl CompiledStep {
    /// The step in words for `cicada check`: `GET /x`, `until(...)[GET /y]`, ….
    pub fn describe(&self, rows: &[RowKey]) -> String {
        let list = |steps: &[CompiledStep]| {
            steps
                .iter()
                .map(|s| s.describe(rows))
                .collect::<Vec<_>>()
                .join(" → ")
        };
        let row = |i: usize| format!("{} {}", rows[i].method, rows[i].name);
        match self {
            Self::Request(r) => row(r.row),
            Self::Until(u) => format!("{} [{}]", row(u.row), list(&u.steps)),
            Self::If {
                condition,
                then,
                otherwise,
            } if otherwise.is_empty() => format!("if {condition} [{}]", list(then)),
            Self::If {
                condition,
                then,
                otherwise,
            } => format!("if {condition} [{}] else [{}]", list(then), list(otherwise)),
            Self::Loop { times, steps, .. } => format!("loop {times} [{}]", list(steps)),
            Self::Foreach(f) => format!("{} [{}]", row(f.row), list(&f.steps)),
            Self::Group { row: r, steps } => format!("{} [{}]", row(*r), list(steps)),
            Self::Custom(c) => row(c.row),
            Self::Wait(w) => match w {
                Wait::Between(lo, hi) => format!(
                    "wait {}–{}",
                    crate::duration::format_duration(*lo),
                    crate::duration::format_duration(*hi)
                ),
                Wait::Constant(d) => format!("wait {}", crate::duration::format_duration(*d)),
                _ => "wait".to_string(),
            },
        }
    }

    fn requests<'a>(&'a self, out: &mut Vec<&'a CompiledRequest>) {
        let all = |steps: &'a [CompiledStep], out: &mut Vec<&'a CompiledRequest>| {
            steps.iter().for_each(|s| s.requests(out));
        };
        match self {
            Self::Request(r) => out.push(r),
            Self::Until(u) => all(&u.steps, out),
            Self::If {
                then, otherwise, ..
            } => {
                all(then, out);
                all(otherwise, out);
            }
            Self::Loop { steps, .. } | Self::Group { steps, .. } => all(steps, out),
            Self::Foreach(f) => all(&f.steps, out),
            Self::Wait(_) | Self::Custom(_) => {}
        }
    }
}

/// `until`, compiled.
#[derive(Debug)]
pub struct CompiledUntil {
    pub row: usize,
    pub condition: Expr,
    pub steps: Vec<CompiledStep>,
    pub pacing: Pacing,
    pub max_tries: Option<u32>,
    pub timeout: std::time::Duration,
    pub on_timeout: OnTimeout,
}

/// `foreach`, compiled.
#[derive(Debug)]
pub struct CompiledForeach {
    pub row: usize,
    pub pointer: String,
    pub from: Option<VarId>,
    pub bind: VarId,
    pub select: Option<String>,
    pub limit: Option<u32>,
    pub steps: Vec<CompiledStep>,
}

/// A request, compiled: its parts ready to render.
#[derive(Debug)]
pub struct CompiledRequest {
    /// Position among all requests of the program (`0..Program::request_count`).
    pub id: usize,
    pub row: usize,
    pub method: Method,
    pub path: Template,
    /// Query pairs: key already percent-encoded, value a template (encoded when rendered).
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(HeaderName, HeaderTemplate)>,
    pub body: CompiledBody,
    /// Acceptable statuses; empty: any 2xx or 3xx.
    pub expect_status: Vec<u16>,
    pub checks: Vec<CompiledCheck>,
    pub captures: Vec<CompiledCapture>,
    /// True when checks or captures (or a later condition) need the response body.
    pub needs_body: bool,
    /// Keep the response as the user's last response (a flow step of its task reads it).
    pub keep: bool,
}

/// A header value: fixed, or rendered per request.
#[derive(Debug)]
pub enum HeaderTemplate {
    Static(HeaderValue),
    /// Rendered per request. `inherited` headers (from `[defaults]` or the user type) are left
    /// out while a variable they use has no value yet — e.g. `Authorization = "Bearer
    /// {{token}}"` on the login request that captures `token`.
    Dynamic {
        template: Template,
        inherited: bool,
    },
}

/// A request body, compiled.
#[derive(Debug)]
pub enum CompiledBody {
    None,
    /// Body without variables, with its content type.
    Static(Bytes, HeaderValue),
    /// JSON with templated strings.
    Json(JsonTemplate),
    /// Raw text with variables.
    Raw(Template, HeaderValue),
}

/// A JSON value whose strings are templates.
#[derive(Debug)]
pub enum JsonTemplate {
    Literal(serde_json::Value),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// A response check, compiled.
#[derive(Debug)]
pub enum CompiledCheck {
    Status(u16),
    JsonExists(String),
    JsonEquals(String, serde_json::Value),
    BodyContains(String),
}

/// A capture, compiled.
#[derive(Debug)]
pub struct CompiledCapture {
    pub var: VarId,
    pub source: CompiledCaptureSource,
}

/// Where a compiled capture reads from.
#[derive(Debug)]
pub enum CompiledCaptureSource {
    JsonPointer(String),
    Header(HeaderName),
    Regex(regex::Regex),
}

/// Weighted choice by cumulative weights (reduced by their GCD).
#[derive(Debug, Clone)]
pub struct WeightedPicker {
    cumulative: Vec<u64>,
}

impl WeightedPicker {
    /// Build from weights (all ≥ 1).
    pub fn new(weights: &[u32]) -> Self {
        let g = weights
            .iter()
            .fold(0u64, |g, w| gcd(g, u64::from(*w)))
            .max(1);
        let mut total = 0;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += u64::from(*w) / g;
                total
            })
            .collect();
        Self { cumulative }
    }

    /// Sum of the (reduced) weights.
    pub fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Index chosen for a ticket in `0..total()`.
    pub fn pick(&self, ticket: u64) -> usize {
        self.cumulative.partition_point(|c| *c <= ticket)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Program {
    /// Every compiled request: `on_start`, `on_stop` and task steps (inside flow steps too) of
    /// every user type.
    pub fn requests(&self) -> impl Iterator<Item = &CompiledRequest> {
        let mut out = Vec::with_capacity(self.request_count);
        for u in &self.user_types {
            out.extend(u.on_start.iter().chain(&u.on_stop));
            for t in &u.tasks {
                t.steps.iter().for_each(|s| s.requests(&mut out));
            }
        }
        out.into_iter()
    }

    /// Validate and compile a scenario.
    pub fn compile(scenario: &Scenario, options: &CompileOptions) -> Result<Self, ScenarioError> {
        Compiler::default().run(scenario, options)
    }

    /// Find a stats row.
    pub fn row_index(&self, key: &RowKey) -> Option<usize> {
        self.rows.iter().position(|r| r == key)
    }
}

#[derive(Default)]
struct Compiler {
    vars: VarTable,
    requests: usize,
    rows: Vec<RowKey>,
    row_index: HashMap<RowKey, usize>,
}

fn invalid(origin: Option<&Location>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::invalid(origin, message)
}

impl Compiler {
    fn run(mut self, s: &Scenario, options: &CompileOptions) -> Result<Program, ScenarioError> {
        if s.user_types.is_empty() {
            return Err(invalid(
                None,
                "the scenario has no user types (add a [[users]] table)",
            ));
        }
        // Declare every variable first, so templates anywhere may use any of them.
        let mut kinds: HashMap<String, &'static str> = HashMap::new();
        let mut declare = |name: &str, kind: &'static str, origin: Option<&Location>| {
            if !valid_var_name(name) {
                return Err(invalid(
                    origin,
                    format!(
                        "invalid variable name {name:?} (use letters, digits, '_', '-' or '.')"
                    ),
                ));
            }
            if let Some(prev) = kinds.insert(name.to_string(), kind)
                && !(prev == "capture" && kind == "capture")
            {
                return Err(invalid(
                    origin,
                    format!("variable {name:?} is defined twice (as a {prev} and as a {kind})"),
                ));
            }
            Ok(())
        };
        for (name, _) in &s.variables {
            declare(name, "constant", None)?;
        }
        for g in &s.generators {
            declare(&g.name, "generator", None)?;
        }
        let mut feeder_data = Vec::new();
        for f in &s.feeders {
            let (header, rows) = read_csv(&f.path)
                .map_err(|m| invalid(f.origin.as_ref(), format!("feeder {}: {m}", f.name)))?;
            for column in &header {
                declare(column, "feeder column", f.origin.as_ref())?;
            }
            feeder_data.push((header, rows));
        }
        for u in &s.user_types {
            let mut bound = Vec::new();
            let mut all: Vec<&Request> = u.on_start.iter().chain(&u.on_stop).collect();
            for t in &u.tasks {
                walk(&t.steps, &mut all, &mut bound);
            }
            for r in all {
                for c in &r.captures {
                    declare(&c.var, "capture", r.origin.as_ref())?;
                }
            }
            for (name, origin) in bound {
                declare(name, "capture", origin)?;
            }
        }
        let mut names: Vec<&String> = kinds.keys().collect();
        names.sort();
        for n in names {
            self.vars.insert(n);
        }

        let constants = s
            .variables
            .iter()
            .map(|(n, v)| (self.vars.get(n).expect("declared"), v.clone()))
            .collect();
        let generators = s
            .generators
            .iter()
            .map(|g| CompiledGenerator {
                var: self.vars.get(&g.name).expect("declared"),
                taken: AtomicU64::new(0),
                kind: g.kind.clone(),
            })
            .collect();
        let feeders = s
            .feeders
            .iter()
            .zip(feeder_data)
            .map(|(f, (header, rows))| CompiledFeeder {
                name: f.name.clone(),
                mode: f.mode,
                columns: header
                    .iter()
                    .map(|c| self.vars.get(c).expect("declared"))
                    .collect(),
                rows,
                cursor: AtomicU64::new(0),
            })
            .collect();

        let mut seen_types = HashMap::new();
        let mut user_types = Vec::new();
        for u in &s.user_types {
            if seen_types.insert(u.name.clone(), ()).is_some() {
                return Err(invalid(
                    u.origin.as_ref(),
                    format!("user type {:?} is defined twice", u.name),
                ));
            }
            let weight = check_weight(
                u.weight,
                &format!("user type {:?}", u.name),
                u.origin.as_ref(),
            )?;
            check_wait(&u.wait, u.origin.as_ref())?;
            let shared_headers: Vec<(String, String)> = s
                .defaults
                .headers
                .iter()
                .chain(&u.headers)
                .cloned()
                .collect();
            let compile_list = |this: &mut Self, list: &[Request]| {
                list.iter()
                    .map(|r| this.request(&u.name, r, &shared_headers))
                    .collect::<Result<Vec<_>, _>>()
            };
            let on_start = compile_list(&mut self, &u.on_start)?;
            let on_stop = compile_list(&mut self, &u.on_stop)?;
            let mut tasks = Vec::new();
            for t in &u.tasks {
                let weight =
                    check_weight(t.weight, &format!("task {:?}", t.name), t.origin.as_ref())?;
                if t.steps.is_empty() {
                    return Err(invalid(
                        t.origin.as_ref(),
                        format!("task {:?} has no steps", t.name),
                    ));
                }
                let reads = t.steps.iter().any(step_reads_response);
                let reads_body = t.steps.iter().any(step_reads_body);
                let flow = FlowCx {
                    user_type: &u.name,
                    shared_headers: &shared_headers,
                    keep: reads,
                    keep_body: reads_body,
                };
                let steps = self.steps(&flow, &t.steps)?;
                let plain = steps.iter().all(|s| matches!(s, CompiledStep::Request(_)));
                let keep = (options.tags.is_empty()
                    || t.tags.iter().any(|g| options.tags.contains(g)))
                    && !t.tags.iter().any(|g| options.exclude_tags.contains(g));
                if keep {
                    tasks.push(CompiledTask {
                        name: t.name.clone(),
                        weight,
                        steps,
                        plain,
                    });
                }
            }
            if u.tasks.is_empty() {
                return Err(invalid(
                    u.origin.as_ref(),
                    format!("user type {:?} has no tasks", u.name),
                ));
            }
            if tasks.is_empty() {
                continue;
            }
            let weights: Vec<u32> = tasks.iter().map(|t| t.weight).collect();
            let mut merged: Vec<(String, String, bool)> = Vec::new();
            for (k, v) in &shared_headers {
                merged.retain(|(name, _, _)| !name.eq_ignore_ascii_case(k));
                merged.push((k.clone(), v.clone(), true));
            }
            let headers = self.headers(merged, u.origin.as_ref())?;
            user_types.push(CompiledUserType {
                headers,
                name: u.name.clone(),
                weight,
                wait: u.wait,
                on_start,
                on_stop,
                task_picker: WeightedPicker::new(&weights),
                tasks,
            });
        }
        if user_types.is_empty() {
            return Err(invalid(
                None,
                format!(
                    "no task is left after applying tags {:?} and exclude-tags {:?}",
                    options.tags, options.exclude_tags
                ),
            ));
        }

        let mut thresholds = Vec::new();
        let specs = s
            .thresholds
            .iter()
            .map(|t| {
                (
                    t.expression.as_str(),
                    ThresholdSource::Scenario,
                    t.origin.as_ref(),
                )
            })
            .chain(
                options
                    .thresholds
                    .iter()
                    .map(|t| (t.as_str(), ThresholdSource::Cli, None)),
            );
        for (expr, source, origin) in specs {
            let t = Threshold::parse(expr, source).map_err(|e| invalid(origin, e.to_string()))?;
            if t.scope != Scope::All
                && !self
                    .rows
                    .iter()
                    .any(|r| t.scope.matches(&r.method, &r.name))
            {
                let known: Vec<String> = self
                    .rows
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.name))
                    .collect();
                return Err(invalid(
                    origin,
                    format!(
                        "threshold {expr:?} names a request that is not in the scenario (known: {})",
                        known.join(", ")
                    ),
                ));
            }
            thresholds.push(t);
        }

        Ok(Program {
            name: s.name.clone(),
            source_file: s.source_file.as_ref().map(|p| p.display().to_string()),
            vars: self.vars,
            constants,
            generators,
            feeders,
            user_types,
            rows: self.rows,
            request_count: self.requests,
            defaults: s.defaults.clone(),
            thresholds,
            load: s.load.clone(),
            tags: options.tags.clone(),
            exclude_tags: options.exclude_tags.clone(),
        })
    }

    fn template(
        &self,
        source: &str,
        origin: Option<&Location>,
        what: &str,
    ) -> Result<Template, ScenarioError> {
        Template::compile(source, &self.vars).map_err(|e| match e {
            TemplateError::Undefined { name, .. } => invalid(
                origin,
                format!("undefined variable {{{{{name}}}}} in {what} {source:?} (define it under [variables], [generators], as a feeder column or a capture)"),
            ),
            other => invalid(origin, format!("{what}: {other}")),
        })
    }

    fn request(
        &mut self,
        user_type: &str,
        r: &Request,
        shared_headers: &[(String, String)],
    ) -> Result<CompiledRequest, ScenarioError> {
        let origin = r.origin.as_ref();
        let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| invalid(origin, format!("invalid HTTP method {:?}", r.method)))?;
        if !r.path.starts_with('/') {
            return Err(invalid(
                origin,
                format!("path {:?} must start with '/'", r.path),
            ));
        }
        let path = self.template(&r.path, origin, "path")?;
        let query = r
            .query
            .iter()
            .map(|(k, v)| Ok((percent_encode(k), self.template(v, origin, "query value")?)))
            .collect::<Result<Vec<_>, ScenarioError>>()?;
        let mut merged: Vec<(String, String, bool)> = Vec::new();
        let own = r.headers.iter().map(|h| (h, false));
        for ((k, v), inherited) in shared_headers.iter().map(|h| (h, true)).chain(own) {
            merged.retain(|(name, _, _)| !name.eq_ignore_ascii_case(k));
            merged.push((k.clone(), v.clone(), inherited));
        }
        let headers = self.headers(merged, origin)?;
        let body = match &r.body {
            None => CompiledBody::None,
            Some(Body::Json(v)) => {
                let t = self.json_template(v, origin)?;
                match t {
                    JsonTemplate::Literal(v) => CompiledBody::Static(
                        Bytes::from(serde_json::to_vec(&v).expect("JSON value serialises")),
                        HeaderValue::from_static("application/json"),
                    ),
                    t => CompiledBody::Json(t),
                }
            }
            Some(Body::Raw {
                content,
                content_type,
            }) => {
                let ct = content_type
                    .as_deref()
                    .unwrap_or("text/plain; charset=utf-8");
                let ct = HeaderValue::from_str(ct)
                    .map_err(|_| invalid(origin, format!("invalid content_type {ct:?}")))?;
                let t = self.template(content, origin, "body")?;
                match t.as_static() {
                    Some(s) => CompiledBody::Static(Bytes::from(s.to_string()), ct),
                    None => CompiledBody::Raw(t, ct),
                }
            }
        };
        let checks: Vec<CompiledCheck> = r
            .checks
            .iter()
            .map(|c| match c {
                Check::Status(s) => CompiledCheck::Status(*s),
                Check::JsonExists(p) => CompiledCheck::JsonExists(p.clone()),
                Check::JsonEquals(p, v) => CompiledCheck::JsonEquals(p.clone(), v.clone()),
                Check::BodyContains(b) => CompiledCheck::BodyContains(b.clone()),
            })
            .collect();
        let captures = r
            .captures
            .iter()
            .map(|c| {
                let source = match &c.source {
                    CaptureSource::JsonPointer(p) => CompiledCaptureSource::JsonPointer(p.clone()),
                    CaptureSource::Header(h) => CompiledCaptureSource::Header(
                        HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                            invalid(
                                origin,
                                format!("invalid header name {h:?} in capture {}", c.var),
                            )
                        })?,
                    ),
                    CaptureSource::Regex(re) => {
                        CompiledCaptureSource::Regex(regex::Regex::new(re).map_err(|e| {
                            invalid(origin, format!("capture {}: invalid regex: {e}", c.var))
                        })?)
                    }
                };
                Ok(CompiledCapture {
                    var: self.vars.get(&c.var).expect("declared"),
                    source,
                })
            })
            .collect::<Result<Vec<_>, ScenarioError>>()?;
        let needs_body = checks
            .iter()
            .any(|c| !matches!(c, CompiledCheck::Status(_)))
            || captures
                .iter()
                .any(|c| !matches!(c.source, CompiledCaptureSource::Header(_)));
        let key = RowKey {
            user_type: user_type.to_string(),
            name: r.stats_name().to_string(),
            method: method.as_str().to_string(),
        };
        let row = self.row(key);
        self.requests += 1;
        Ok(CompiledRequest {
            id: self.requests - 1,
            row,
            method,
            path,
            query,
            headers,
            body,
            expect_status: r.expect_status.clone(),
            checks,
            captures,
            needs_body,
            keep: false,
        })
    }

    /// Headers compiled: `(name, value, inherited)`.
    fn headers(
        &self,
        merged: Vec<(String, String, bool)>,
        origin: Option<&Location>,
    ) -> Result<Vec<(HeaderName, HeaderTemplate)>, ScenarioError> {
        let mut headers = Vec::new();
        for (k, v, inherited) in merged {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| invalid(origin, format!("invalid header name {k:?}")))?;
            let t = self.template(&v, origin, &format!("header {k}"))?;
            let value = match t.as_static() {
                Some(s) => HeaderTemplate::Static(
                    HeaderValue::from_str(s)
                        .map_err(|_| invalid(origin, format!("invalid value for header {k}")))?,
                ),
                None => HeaderTemplate::Dynamic {
                    template: t,
                    inherited,
                },
            };
            headers.push((name, value));
        }
        Ok(headers)
    }

    /// A stats row's index (a new row the first time a key is seen).
    fn row(&mut self, key: RowKey) -> usize {
        match self.row_index.get(&key) {
            Some(i) => *i,
            None => {
                self.rows.push(key.clone());
                self.row_index.insert(key, self.rows.len() - 1);
                self.rows.len() - 1
            }
        }
    }

    fn flow_row(&mut self, cx: &FlowCx<'_>, method: &str, name: String) -> usize {
        self.row(RowKey {
            user_type: cx.user_type.to_string(),
            name,
            method: method.to_string(),
        })
    }

    fn condition(&self, c: &Condition, at: Option<&Location>) -> Result<Expr, ScenarioError> {
        let fail = |e: super::expr::ExprError| {
            let location = c.location_at(e.offset).or_else(|| at.cloned());
            ScenarioError::Invalid {
                location,
                message: format!("condition {:?}: {}", c.text, e.message),
            }
        };
        let mut e = Expr::parse(&c.text).map_err(fail)?;
        e.resolve(&self.vars).map_err(fail)?;
        Ok(e)
    }

    fn var_slot(
        &self,
        name: &str,
        at: Option<&Location>,
        what: &str,
    ) -> Result<VarId, ScenarioError> {
        self.vars.get(name).ok_or_else(|| {
            invalid(
                at,
                format!("{what}: undefined variable {name:?} (define it under [variables], [generators], as a feeder column or a capture)"),
            )
        })
    }

    fn steps(
        &mut self,
        cx: &FlowCx<'_>,
        steps: &[Step],
    ) -> Result<Vec<CompiledStep>, ScenarioError> {
        steps.iter().map(|s| self.step(cx, s)).collect()
    }

    fn step(&mut self, cx: &FlowCx<'_>, step: &Step) -> Result<CompiledStep, ScenarioError> {
        Ok(match step {
            Step::Request(r) => {
                let mut c = self.request(cx.user_type, r, cx.shared_headers)?;
                c.keep = cx.keep;
                c.needs_body |= cx.keep_body;
                CompiledStep::Request(c)
            }
            Step::Until(u) => {
                let at = u.origin.as_ref();
                if u.steps.is_empty() {
                    return Err(invalid(at, "an until step needs steps to repeat"));
                }
                if u.timeout.is_zero() {
                    return Err(invalid(at, "until timeout must be greater than zero"));
                }
                if u.max_tries == Some(0) {
                    return Err(invalid(at, "until max_tries must be at least 1"));
                }
                check_pacing(&u.pacing, at)?;
                let condition = self.condition(&u.condition, at)?;
                let name = u
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("until {}", u.condition.text));
                let row = self.flow_row(cx, "UNTIL", name);
                CompiledStep::Until(CompiledUntil {
                    row,
                    condition,
                    steps: self.steps(cx, &u.steps)?,
                    pacing: u.pacing,
                    max_tries: u.max_tries,
                    timeout: u.timeout,
                    on_timeout: u.on_timeout,
                })
            }
            Step::If(i) => {
                if i.then.is_empty() && i.otherwise.is_empty() {
                    return Err(invalid(i.origin.as_ref(), "an if step needs steps to run"));
                }
                CompiledStep::If {
                    condition: self.condition(&i.condition, i.origin.as_ref())?,
                    then: self.steps(cx, &i.then)?,
                    otherwise: self.steps(cx, &i.otherwise)?,
                }
            }
            Step::Loop(l) => {
                if l.steps.is_empty() {
                    return Err(invalid(
                        l.origin.as_ref(),
                        "a loop step needs steps to repeat",
                    ));
                }
                let index = l
                    .index
                    .as_deref()
                    .map(|n| self.var_slot(n, l.origin.as_ref(), "loop index"))
                    .transpose()?;
                CompiledStep::Loop {
                    times: l.times,
                    index,
                    steps: self.steps(cx, &l.steps)?,
                }
            }
            Step::Foreach(f) => {
                let at = f.origin.as_ref();
                for p in std::iter::once(&f.pointer).chain(&f.select) {
                    if !(p.is_empty() || p.starts_with('/')) {
                        return Err(invalid(
                            at,
                            format!("foreach: JSON pointer {p:?} must start with '/'"),
                        ));
                    }
                }
                if f.steps.is_empty() {
                    return Err(invalid(
                        at,
                        "a foreach step needs steps to run for each element",
                    ));
                }
                let from = f
                    .from
                    .as_deref()
                    .map(|n| self.var_slot(n, at, "foreach from"))
                    .transpose()?;
                let bind = self.var_slot(&f.bind, at, "foreach as")?;
                let name = f.name.clone().unwrap_or_else(|| match &f.from {
                    Some(v) => format!("foreach {v}{}", f.pointer),
                    None => format!("foreach {}", f.pointer),
                });
                let row = self.flow_row(cx, "FOREACH", name);
                CompiledStep::Foreach(CompiledForeach {
                    row,
                    pointer: f.pointer.clone(),
                    from,
                    bind,
                    select: f.select.clone(),
                    limit: f.limit,
                    steps: self.steps(cx, &f.steps)?,
                })
            }
            Step::Group(g) => {
                if g.steps.is_empty() {
                    return Err(invalid(
                        g.origin.as_ref(),
                        format!("group {:?} has no steps", g.name),
                    ));
                }
                if g.name.is_empty() {
                    return Err(invalid(g.origin.as_ref(), "a group needs a name"));
                }
                let row = self.flow_row(cx, "GROUP", g.name.clone());
                CompiledStep::Group {
                    row,
                    steps: self.steps(cx, &g.steps)?,
                }
            }
            Step::Wait(w) => {
                match w {
                    Wait::Constant(_) => {}
                    Wait::Between(lo, hi) if lo <= hi => {}
                    Wait::Between(..) => return Err(invalid(None, "wait step: min is above max")),
                    _ => {
                        return Err(invalid(
                            None,
                            "a wait step is a constant or a between wait (pacing and throughput apply to whole iterations)",
                        ));
                    }
                }
                CompiledStep::Wait(*w)
            }
            Step::Custom(c) => {
                if c.name.trim().is_empty() {
                    return Err(invalid(None, "a custom step needs a name"));
                }
                for (method, name) in &c.rows {
                    let valid = !method.is_empty()
                        && method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
                    if !valid {
                        return Err(invalid(
                            None,
                            format!(
                                "custom step {:?}: row method {method:?} must be a word such as GET or CUSTOM",
                                c.name
                            ),
                        ));
                    }
                    if name.is_empty() {
                        return Err(invalid(
                            None,
                            format!("custom step {:?}: a declared row needs a name", c.name),
                        ));
                    }
                    self.flow_row(cx, &method.to_ascii_uppercase(), name.clone());
                }
                CompiledStep::Custom(CompiledCustom {
                    row: self.flow_row(cx, CUSTOM_METHOD, c.name.clone()),
                    run: Arc::clone(&c.run),
                })
            }
        })
    }

    fn json_template(
        &self,
        v: &serde_json::Value,
        origin: Option<&Location>,
    ) -> Result<JsonTemplate, ScenarioError> {
        use serde_json::Value;
        Ok(match v {
            Value::String(s) => {
                let t = self.template(s, origin, "JSON body")?;
                if t.as_static().is_some() {
                    JsonTemplate::Literal(v.clone())
                } else {
                    JsonTemplate::String(t)
                }
            }
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|i| self.json_template(i, origin))
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|i| matches!(i, JsonTemplate::Literal(_))) {
                    JsonTemplate::Literal(v.clone())
                } else {
                    JsonTemplate::Array(items)
                }
            }
            Value::Object(map) => {
                let fields = map
                    .iter()
                    .map(|(k, i)| Ok((k.clone(), self.json_template(i, origin)?)))
                    .collect::<Result<Vec<_>, ScenarioError>>()?;
                if fields
                    .iter()
                    .all(|(_, i)| matches!(i, JsonTemplate::Literal(_)))
                {
                    JsonTemplate::Literal(v.clone())
                } else {
                    JsonTemplate::Object(fields)
                }
            }
            other => JsonTemplate::Literal(other.clone()),
        })
    }
}

/// What compiling a task's steps needs to know.
struct FlowCx<'a> {
    user_type: &'a str,
    shared_headers: &'a [(String, String)],
    /// A flow step of the task reads the last response: keep every response.
    keep: bool,
    /// … and its body.
    keep_body: bool,
}

/// Every request in `steps` (depth first), and the variables flow steps bind.
fn walk<'a>(
    steps: &'a [Step],
    requests: &mut Vec<&'a Request>,
    bound: &mut Vec<(&'a str, Option<&'a Location>)>,
) {
    for s in steps {
        match s {
            Step::Request(r) => requests.push(r),
            Step::Until(u) => walk(&u.steps, requests, bound),
            Step::If(i) => {
                walk(&i.then, requests, bound);
                walk(&i.otherwise, requests, bound);
            }
            Step::Loop(l) => {
                if let Some(i) = &l.index {
                    bound.push((i, l.origin.as_ref()));
                }
                walk(&l.steps, requests, bound);
            }
            Step::Foreach(f) => {
                bound.push((&f.bind, f.origin.as_ref()));
                walk(&f.steps, requests, bound);
            }
            Step::Group(g) => walk(&g.steps, requests, bound),
            Step::Wait(_) => {}
            Step::Custom(c) => bound.extend(c.sets.iter().map(|v| (v.as_str(), None))),
        }
    }
}

/// Whether a flow step reads the last response (a condition on it, or a foreach over it).
fn step_reads_response(s: &Step) -> bool {
    step_reads(s, &|e| e.reads_response())
}

fn step_reads_body(s: &Step) -> bool {
    step_reads(s, &|e| e.reads_body())
}

fn step_reads(s: &Step, reads: &dyn Fn(&Expr) -> bool) -> bool {
    let cond = |c: &Condition| Expr::parse(&c.text).is_ok_and(|e| reads(&e));
    let any = |steps: &[Step]| steps.iter().any(|s| step_reads(s, reads));
    match s {
        Step::Request(_) | Step::Wait(_) | Step::Custom(_) => false,
        Step::Until(u) => cond(&u.condition) || any(&u.steps),
        Step::If(i) => cond(&i.condition) || any(&i.then) || any(&i.otherwise),
        Step::Loop(l) => any(&l.steps),
        Step::Foreach(f) => f.from.is_none() || any(&f.steps),
        Step::Group(g) => any(&g.steps),
    }
}

fn check_pacing(p: &Pacing, at: Option<&Location>) -> Result<(), ScenarioError> {
    match p {
        Pacing::Interval(_) => Ok(()),
        Pacing::Backoff {
            initial,
            factor,
            max,
        } => {
            if initial.is_zero() || !(*factor >= 1.0 && factor.is_finite()) || max < initial {
                Err(invalid(
                    at,
                    "backoff needs initial > 0, factor ≥ 1 and max ≥ initial",
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn valid_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check_weight(weight: i64, what: &str, origin: Option<&Location>) -> Result<u32, ScenarioError> {
    u32::try_from(weight)
        .ok()
        .filter(|w| *w >= 1)
        .ok_or_else(|| {
            invalid(
                origin,
                format!(
                    "{what}: weight must be a whole number from 1 to {}, got {weight}",
                    u32::MAX
                ),
            )
        })
}

fn check_wait(wait: &Wait, origin: Option<&Location>) -> Result<(), ScenarioError> {
    match wait {
        Wait::Between(lo, hi) if lo > hi => Err(invalid(origin, "wait between: min is above max")),
        Wait::ConstantThroughput(t) if !(*t > 0.0 && t.is_finite()) => Err(invalid(
            origin,
            "wait throughput must be a positive number of iterations/s",
        )),
        _ => Ok(()),
    }
}

fn read_csv(path: &std::path::Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| format!("cannot read CSV file {}: {e}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("CSV file {}: {e}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.is_empty() || header.iter().any(String::is_empty) {
        return Err(format!(
            "CSV file {} needs a header row naming every column",
            path.display()
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("CSV file {}: {e}", path.display()))?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(format!("CSV file {} has no data rows", path.display()));
    }
    Ok((header, rows))
}

/// Percent-encode a query component (RFC 3986 unreserved characters stay as they are).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    percent_encode_into(s, &mut out);
    out
}

/// Percent-encode `s` onto `out`.
pub fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picker_respects_weights() {
        let p = WeightedPicker::new(&[5, 3, 1]);
        assert_eq!(p.total(), 9);
        let counts = (0..9).fold([0; 3], |mut c, t| {
            c[p.pick(t)] += 1;
            c
        });
        assert_eq!(counts, [5, 3, 1]);
        let q = WeightedPicker::new(&[10, 20]);
        assert_eq!(q.total(), 3);
    }

    #[test]
    fn encodes_query() {
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
