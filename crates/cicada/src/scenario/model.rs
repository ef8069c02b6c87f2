//! The scenario model: what simulated users do. Built from a TOML file ([`super::file`]) or from
//! code ([`super::builder`]); validated and compiled once by [`super::compile`].

use std::path::PathBuf;
use std::time::Duration;

/// Where something was written in a scenario file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A whole load test: user types, their tasks, shared variables and thresholds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: String,
    /// Path of the file it was loaded from, if any.
    pub source_file: Option<PathBuf>,
    pub defaults: Defaults,
    /// Constant variables, usable as `{{name}}` everywhere.
    pub variables: Vec<(String, String)>,
    /// Generated variables, drawn anew at the start of each task iteration.
    pub generators: Vec<Generator>,
    /// CSV data sets whose columns become variables.
    pub feeders: Vec<Feeder>,
    pub user_types: Vec<UserType>,
    /// Pass/fail thresholds, e.g. `p95<200ms`, `GET /x: p99<500ms`, `error_rate<1%`.
    pub thresholds: Vec<ThresholdSpec>,
    /// The load plan written in the file (command-line flags override it).
    pub load: LoadSpec,
}

/// A threshold expression with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSpec {
    pub expression: String,
    pub origin: Option<Location>,
}

/// Settings every request inherits.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Base URL, e.g. `http://127.0.0.1:8000` (the `-H/--host` flag overrides it).
    pub host: Option<String>,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Close and reopen each user's connection after this long (lets new replicas get traffic).
    pub max_connection_lifetime: Option<Duration>,
    /// The exit code when requests failed that no error threshold allows (Locust's
    /// `--exit-code-on-error`; the flag overrides it); `None`: 1.
    pub exit_code_on_error: Option<u8>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            host: None,
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_connection_lifetime: None,
            exit_code_on_error: None,
        }
    }
}

/// One kind of simulated user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserType {
    pub name: String,
    /// Relative share of users of this type (must be ≥ 1).
    pub weight: i64,
    /// Think time between task iterations.
    pub wait: Wait,
    /// Steps run once when a user starts (e.g. log in).
    pub on_start: Vec<Request>,
    /// Steps run once when a user stops gracefully.
    pub on_stop: Vec<Request>,
    pub tasks: Vec<Task>,
    /// Headers sent with every request of this user type.
    pub headers: Vec<(String, String)>,
    pub origin: Option<Location>,
}

/// Think time between iterations (Locust's four wait functions).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Wait {
    /// No wait: the next task starts at once.
    #[default]
    None,
    /// Always the same wait.
    Constant(Duration),
    /// Uniformly random in `[min, max]`.
    Between(Duration, Duration),
    /// Each iteration takes at least this long (wait = interval − task time).
    ConstantPacing(Duration),
    /// At most this many task iterations per second per user.
    ConstantThroughput(f64),
}

/// A weighted unit of work: one request, or several run in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    /// Relative frequency (must be ≥ 1).
    pub weight: i64,
    /// Tags for `-T/--tags` and `-E/--exclude-tags`.
    pub tags: Vec<String>,
    pub steps: Vec<Step>,
    pub origin: Option<Location>,
}

/// One step of a task: a request, or a flow step around other steps (see `docs/scenario.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Request(Request),
    /// Run steps again and again until a condition holds (polling).
    Until(Until),
    /// Run one list of steps or the other, on a condition.
    If(IfStep),
    /// Run steps a fixed number of times.
    Loop(LoopStep),
    /// Run steps once per element of a JSON array from a response (or a variable).
    Foreach(Foreach),
    /// A named sequence whose whole duration is recorded as its own row.
    Group(Group),
    /// A think time between two steps (a constant or `between` wait).
    Wait(Wait),
    /// An async Rust closure (builder only; see [`super::custom`]).
    Custom(super::custom::CustomStep),
}

impl From<Request> for Step {
    fn from(r: Request) -> Self {
        Step::Request(r)
    }
}

/// A condition in the expression language of [`super::expr`], with where its text begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub text: String,
    /// Location of the first character of `text` in the file.
    pub origin: Option<Location>,
}

impl Condition {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            origin: None,
        }
    }

    /// Where the character at `offset` (0-based, in characters) of the text is.
    pub fn location_at(&self, offset: usize) -> Option<Location> {
        let mut at = self.origin.clone()?;
        for c in self.text.chars().take(offset) {
            if c == '\n' {
                at.line += 1;
                at.column = 1;
            } else {
                at.column += 1;
            }
        }
        Some(at)
    }
}

/// How long `until` waits between two tries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// The same pause every time.
    Interval(Duration),
    /// `initial`, then × `factor` after each try, at most `max`.
    Backoff {
        initial: Duration,
        factor: f64,
        max: Duration,
    },
}

/// What `until` does when its tries or time run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnTimeout {
    /// Record the `until` row as failed and end the task.
    #[default]
    Fail,
    /// Go on with the next step (the `until` row counts it as passed).
    Continue,
}

/// Repeat `steps` until `condition` holds (checked after each try).
#[derive(Debug, Clone, PartialEq)]
pub struct Until {
    /// Stats row name (default: `until <condition>`).
    pub name: Option<String>,
    pub condition: Condition,
    pub steps: Vec<Step>,
    pub pacing: Pacing,
    /// At most this many tries (none: only the timeout bounds it).
    pub max_tries: Option<u32>,
    /// At most this long from the first try.
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    pub origin: Option<Location>,
}

/// `if` / `else`.
#[derive(Debug, Clone, PartialEq)]
pub struct IfStep {
    pub condition: Condition,
    pub then: Vec<Step>,
    pub otherwise: Vec<Step>,
    pub origin: Option<Location>,
}

/// `loop`: `steps` run `times` times; `index` (if named) holds 0, 1, ….
#[derive(Debug, Clone, PartialEq)]
pub struct LoopStep {
    pub times: u32,
    pub index: Option<String>,
    pub steps: Vec<Step>,
    pub origin: Option<Location>,
}

/// `foreach`: for each element of a JSON array, bind it to `bind` and run `steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreach {
    /// Stats row name (default: `foreach <pointer>`).
    pub name: Option<String>,
    /// JSON pointer to the array: in the last response, or in `from`'s value.
    pub pointer: String,
    /// Read the array from this variable (JSON text, e.g. a capture of an array) instead of
    /// the last response.
    pub from: Option<String>,
    /// Variable each element is bound to (a string as is, anything else as JSON text).
    pub bind: String,
    /// JSON pointer into each element to bind instead of the whole element (e.g. `/id`).
    pub select: Option<String>,
    /// At most this many elements.
    pub limit: Option<u32>,
    pub steps: Vec<Step>,
    pub origin: Option<Location>,
}

/// `group`: a named sequence, timed as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub steps: Vec<Step>,
    pub origin: Option<Location>,
}

/// One HTTP request with its expectations and captures.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Stats name; defaults to the path template.
    pub name: Option<String>,
    pub method: String,
    /// Path template, e.g. `/api/v1/agents/{{agent_id}}/executions`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    /// Acceptable status codes; empty means any 2xx or 3xx.
    pub expect_status: Vec<u16>,
    pub checks: Vec<Check>,
    pub captures: Vec<Capture>,
    pub origin: Option<Location>,
}

impl Request {
    /// A request with the given method and path template and everything else default.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            name: None,
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            expect_status: Vec::new(),
            checks: Vec::new(),
            captures: Vec::new(),
            origin: None,
        }
    }

    /// The name its statistics are recorded under.
    pub fn stats_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.path)
    }
}

/// A request body. Strings inside may use `{{var}}` templates.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Sent as `application/json`; every string value is a template.
    Json(serde_json::Value),
    /// Sent as is (a template), with an optional content type.
    Raw {
        content: String,
        content_type: Option<String>,
    },
}

/// A condition on the response; a request whose check fails is counted as failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The status must be this one.
    Status(u16),
    /// The JSON body must have a value at this JSON pointer.
    JsonExists(String),
    /// The JSON body's value at this pointer must equal the given value.
    JsonEquals(String, serde_json::Value),
    /// The body must contain this text.
    BodyContains(String),
}

/// Save part of a response into a user variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Variable name to store into.
    pub var: String,
    pub source: CaptureSource,
}

/// Where a capture reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureSource {
    /// A JSON pointer into the body, e.g. `/access_token`.
    JsonPointer(String),
    /// A response header.
    Header(String),
    /// A regex over the body; the first capture group (or the whole match).
    Regex(String),
}

/// A generated variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub name: String,
    pub kind: GeneratorKind,
}

/// How a generated variable gets its value.
#[derive(Debug, Clone, PartialEq)]
pub enum GeneratorKind {
    /// A random UUID v4.
    Uuid,
    /// A uniformly random integer in `[min, max]`.
    RandomInt { min: i64, max: i64 },
    /// One of the given values, uniformly.
    RandomChoice(Vec<String>),
    /// A counter shared by all users: start, start+step, ...
    Sequence { start: i64, step: i64 },
}

/// A CSV data set; each column becomes a variable named after its header.
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    pub name: String,
    pub path: PathBuf,
    pub mode: FeederMode,
    pub origin: Option<Location>,
}

/// How users take rows from a feeder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeederMode {
    /// Each user takes one row when it starts (round-robin over users) and keeps it.
    PerUser,
    /// Every task iteration takes the next row, round-robin over all users.
    #[default]
    Shared,
    /// Every task iteration takes a random row.
    Random,
}

/// The load plan as written in a scenario file; every field is optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadSpec {
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub run_time: Option<Duration>,
    pub iterations: Option<u64>,
    /// Closed-model stages: hold `duration` while moving linearly to `target` users.
    pub stages: Vec<StageSpec>,
    /// Open model: constant arrival rate in iterations per second.
    pub rate: Option<f64>,
    /// Open model: ramping arrival rate stages (target in iterations/s).
    pub rate_stages: Vec<StageSpec>,
    /// Open model: cap on iterations in flight.
    pub max_concurrency: Option<u64>,
}

/// One stage of a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageSpec {
    pub duration: Duration,
    pub target: f64,
}
