//! The converted scenario, as the emitter writes it: a plain mirror of the scenario file's
//! tables (docs/scenario.md), with the Locust line each part came from.

use serde_json::Value;

/// A `[generators]` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum GenKind {
    Uuid,
    Int(i64, i64),
    Choice(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Generator {
    pub name: String,
    pub kind: GenKind,
    /// Lines of the Python calls it stands for.
    pub lines: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct Scenario {
    pub name: String,
    pub host: Option<(String, usize)>,
    pub generators: Vec<Generator>,
    pub users: Vec<User>,
}

#[derive(Debug, Default)]
pub struct User {
    pub name: String,
    pub line: usize,
    pub doc: Option<String>,
    pub weight: Option<(u64, String)>,
    /// The TOML inline value and the Python it came from.
    pub wait: Option<(String, String)>,
    pub on_start: Vec<Step>,
    pub on_stop: Vec<Step>,
    pub tasks: Vec<Task>,
}

#[derive(Debug)]
pub struct Task {
    pub name: String,
    pub line: usize,
    pub doc: Option<String>,
    pub weight: u64,
    pub tags: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub enum Step {
    Request(Box<Request>),
    Until(Until),
    If(If),
    Loop(Loop),
    Foreach(Foreach),
    /// A think time: the TOML value (`"500ms"` or `["1s", "3s"]`) and its line.
    Wait(String, usize),
}

#[derive(Debug)]
pub struct Until {
    pub line: usize,
    pub cond: String,
    pub interval: Option<String>,
    pub max_tries: Option<u64>,
    pub on_timeout: Option<&'static str>,
    pub comment: String,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Loop {
    pub line: usize,
    pub count: u64,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Foreach {
    pub line: usize,
    /// JSON pointer to the array in the last response.
    pub pointer: String,
    pub as_: String,
    pub select: Option<String>,
    pub limit: Option<u64>,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct If {
    pub line: usize,
    pub cond: String,
    pub steps: Vec<Step>,
    pub else_: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Json(String),
    JsonEquals(String, Value),
    BodyContains(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Capture {
    Json(String),
    Header(String),
}

#[derive(Debug, Default)]
pub struct Request {
    /// Identifies the request while its function is converted (captures and checks found
    /// later in the Python are attached by it).
    pub id: usize,
    pub line: usize,
    /// The Python line it came from, trimmed.
    pub code: String,
    pub method: String,
    pub path: String,
    pub name: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub json: Option<Value>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub expect_status: Vec<u16>,
    pub checks: Vec<Check>,
    pub captures: Vec<(String, Capture)>,
}

/// The request with this id among `steps` and the steps inside them.
pub fn find_request(steps: &mut [Step], id: usize) -> Option<&mut Request> {
    for step in steps {
        let found = match step {
            Step::Request(r) if r.id == id => return Some(r),
            Step::Request(_) | Step::Wait(..) => None,
            Step::Until(u) => find_request(&mut u.steps, id),
            Step::Loop(l) => find_request(&mut l.steps, id),
            Step::Foreach(f) => find_request(&mut f.steps, id),
            Step::If(i) => match find_request(&mut i.steps, id) {
                Some(r) => Some(r),
                None => find_request(&mut i.else_, id),
            },
        };
        if found.is_some() {
            return found;
        }
    }
    None
}
