//! One Locust function (a task, `on_start`, `on_stop`) turned into cicada steps, statement by
//! statement. A statement it cannot convert becomes a note with its line and the reason.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::ast::Node;
use crate::cx::Cx;
use crate::model::{Capture, GenKind, If, Loop, Request, Step, Until, find_request};
use crate::note::NoteKind;
use crate::pyexpr::{Expect, RespPart};

/// What a Python name stands for while a function is converted.
#[derive(Debug, Clone)]
pub enum Local {
    /// A text value: a template (`{{agent_id}}`, `Bearer {{token}}`) or a constant.
    Tmpl(String),
    /// A constant or templated JSON value (dicts kept for `headers=`, `json=`).
    Json(Value),
    /// The response of the request with this id.
    Resp(usize),
    /// The element of a `foreach`, bound to the variable `var`.
    Elem(String),
}

/// What a user class offers its functions.
#[derive(Default)]
pub struct UserCx<'a> {
    /// `self.X` values set so far (captures, header dicts, constants).
    pub attrs: HashMap<String, Local>,
    /// Class-level constants.
    pub consts: HashMap<String, Value>,
    /// Methods that tasks may call (`self.login()`), inlined.
    pub methods: HashMap<String, Node<'a>>,
    /// The user's wait as a `wait` step value, for `self.wait()`.
    pub wait: Option<String>,
}

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

pub struct Fx<'c, 'a> {
    pub cx: &'c mut Cx<'a>,
    pub user: &'c mut UserCx<'a>,
    /// The name `self` has (`user` in a module-level task function).
    pub self_name: String,
    pub locals: HashMap<String, Local>,
    /// The id of the last request sent, which conditions read.
    pub last: Option<usize>,
    /// Flow steps allowed (tasks), or requests only (`on_start`, `on_stop`).
    flow: bool,
    /// Generator names used by this function's call sites.
    taken: BTreeSet<String>,
    captures: HashMap<usize, Vec<(String, Capture)>>,
    expects: HashMap<usize, Vec<Expect>>,
    /// How each `foreach` element is used: `None` as a whole, `Some(pointer)` as `x["key"]`.
    pub elem_use: HashMap<String, Vec<Option<String>>>,
    depth: usize,
}

type R<T> = Result<T, String>;

/// Convert a function body; `flow` says whether flow steps (`until`, `if`, `wait`) may be used.
pub fn convert<'a>(
    cx: &mut Cx<'a>,
    user: &mut UserCx<'a>,
    self_name: &str,
    body: &[Node<'a>],
    flow: bool,
) -> Vec<Step> {
    let mut fx = Fx {
        cx,
        user,
        self_name: self_name.to_owned(),
        locals: HashMap::new(),
        last: None,
        flow,
        taken: BTreeSet::new(),
        captures: HashMap::new(),
        expects: HashMap::new(),
        elem_use: HashMap::new(),
        depth: 0,
    };
    let mut steps = Vec::new();
    fx.stmts(body, &mut steps);
    for (id, caps) in std::mem::take(&mut fx.captures) {
        if let Some(r) = find_request(&mut steps, id) {
            r.captures.extend(caps);
        }
    }
    for (id, expects) in std::mem::take(&mut fx.expects) {
        if let Some(r) = find_request(&mut steps, id) {
            for e in expects {
                match e {
                    Expect::Status(codes) => {
                        for c in codes {
                            if !r.expect_status.contains(&c) {
                                r.expect_status.push(c);
                            }
                        }
                    }
                    Expect::Check(c) => r.checks.push(c),
                }
            }
        }
    }
    steps
}

impl<'a> Fx<'_, 'a> {
    pub fn generator(&mut self, hint: &str, kind: GenKind, line: usize) -> String {
        self.cx.generator(hint, kind, line, &mut self.taken)
    }

    /// Capture `source` of request `id` into a variable; returns the variable's name.
    pub fn capture(&mut self, id: usize, hint: &str, source: Capture) -> String {
        let list = self.captures.entry(id).or_default();
        if let Some((name, _)) = list.iter().find(|(_, s)| *s == source) {
            return name.clone();
        }
        let name = self.cx.capture_name(hint);
        self.captures
            .entry(id)
            .or_default()
            .push((name.clone(), source));
        name
    }

    fn note(&mut self, line: usize, reason: impl Into<String>) {
        self.cx.not_converted(line, reason);
    }

    fn stmts(&mut self, body: &[Node<'a>], out: &mut Vec<Step>) {
        for s in body {
            self.stmt(*s, out);
        }
    }

    fn stmt(&mut self, s: Node<'a>, out: &mut Vec<Step>) {
        let line = s.line();
        match s.ty() {
            "Pass" => {}
            "Expr" if s.get("value").const_str().is_some() => {} // a docstring
            "Expr" => self.expr_stmt(s.get("value"), out),
            "Assign" | "AnnAssign" => {
                let targets = if s.is("Assign") {
                    s.list("targets")
                } else {
                    vec![s.get("target")]
                };
                if targets.len() != 1 || s.get("value").is_null() {
                    return self.note(line, "an assignment to several targets");
                }
                self.assign(targets[0], s.get("value"), out);
            }
            "With" => self.with(s, out),
            "If" => self.if_stmt(s, out),
            "While" => self.while_stmt(s, out),
            "For" => self.for_stmt(s, out),
            "Return" if s.get("value").is_null() => self.note(
                line,
                "an early `return`: the steps after it are converted as if it were not there",
            ),
            "Try" => {
                self.cx.note(
                    NoteKind::Approximated,
                    line,
                    "`try`: its body is converted; its `except` handlers are not (in cicada a failed request is counted, and the task ends)",
                );
                self.stmts(&s.list("body"), out);
            }
            "Raise" => self.note(
                line,
                "`raise`: cicada has no way to stop or reschedule a user from a task",
            ),
            other => self.note(
                line,
                format!("a {other} statement cicada has no counterpart for"),
            ),
        }
    }

    /// A client call: `self.client.get(...)` → ("GET", call); `request("PATCH", ...)` too.
    fn client_call(&self, e: Node<'a>) -> Option<String> {
        if !e.is("Call") {
            return None;
        }
        let func = e.get("func");
        let client = func.get("value");
        if !(func.is("Attribute")
            && client.is("Attribute")
            && client.str("attr") == Some("client")
            && client.get("value").name() == Some(self.self_name.as_str()))
        {
            return None;
        }
        let m = func.str("attr")?;
        if METHODS.contains(&m) {
            Some(m.to_ascii_uppercase())
        } else if m == "request" {
            e.list("args")
                .first()
                .and_then(|a| a.const_str())
                .map(str::to_ascii_uppercase)
        } else {
            None
        }
    }

    fn expr_stmt(&mut self, e: Node<'a>, out: &mut Vec<Step>) {
        let line = e.line();
        if let Some(method) = self.client_call(e) {
            self.send(e, &method, out);
            return;
        }
        let func = e.get("func").dotted().unwrap_or_default();
        let me = format!("{}.", self.self_name);
        match func.as_str() {
            "time.sleep" | "sleep" | "gevent.sleep" => self.sleep(e, out),
            f if f == format!("{me}wait") => match (self.flow, self.user.wait.clone()) {
                (true, Some(w)) => out.push(Step::Wait(w, line)),
                _ => self.note(line, "`self.wait()` here: cicada waits between tasks, and a wait step needs a constant or between wait_time inside a task"),
            },
            f if f.starts_with(&me) && self.user.methods.contains_key(&f[me.len()..]) => {
                let name = &f[me.len()..];
                if !e.list("args").is_empty() || !e.list("keywords").is_empty() || self.depth > 8 {
                    return self.note(line, format!("a call of `{name}` with arguments (only argument-less helper methods are inlined)"));
                }
                let def = self.user.methods[name];
                self.depth += 1;
                self.stmts(&def.list("body"), out);
                self.depth -= 1;
            }
            f if f == format!("{me}interrupt") => self.cx.note(
                NoteKind::Covered,
                line,
                "`self.interrupt()` leaves the TaskSet for the user's tasks: cicada picks from all of the user's tasks after every iteration anyway",
            ),
            f if f.starts_with("logging.") || f.starts_with("logger.") || f.starts_with("log.") || f == "print" => {
                self.note(line, "log output: cicada does not print from tasks; its report has the numbers")
            }
            _ => self.note(line, format!("a call of `{}` cicada has no counterpart for", if func.is_empty() { "an expression" } else { &func })),
        }
    }

    fn sleep(&mut self, e: Node<'a>, out: &mut Vec<Step>) {
        let line = e.line();
        match (self.flow, sleep_value(e)) {
            (true, Some(v)) => out.push(Step::Wait(v, line)),
            (false, Some(_)) => self.note(
                line,
                "a sleep in on_start/on_stop: cicada's on_start and on_stop hold requests only",
            ),
            (_, None) => self.note(
                line,
                "a sleep whose duration is not a constant or random.uniform of constants",
            ),
        }
    }

    /// Send a request; returns its id (also kept as the last response).
    fn send(&mut self, call: Node<'a>, method: &str, out: &mut Vec<Step>) -> Option<usize> {
        match self.request(call, method) {
            Ok(r) => {
                let id = r.id;
                self.last = Some(id);
                out.push(Step::Request(Box::new(r)));
                Some(id)
            }
            Err(why) => {
                self.note(call.line(), format!("request not converted: {why}"));
                None
            }
        }
    }

    fn request(&mut self, call: Node<'a>, method: &str) -> R<Request> {
        let line = call.line();
        let mut args = call.list("args");
        let is_request = call.get("func").str("attr") == Some("request");
        if is_request && !args.is_empty() {
            args.remove(0);
        }
        let url = match (args.first().copied(), call.keyword("url")) {
            (Some(u), _) | (None, Some(u)) => u,
            _ => return Err("no URL".into()),
        };
        if args.len() > 1 {
            return Err("positional arguments after the URL".into());
        }
        let url = self.tmpl(url, None)?;
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p.to_owned(), query_pairs(q)),
            None => (url.clone(), Vec::new()),
        };
        if !path.starts_with('/') {
            return Err(format!(
                "the URL {url:?} is not a path starting with `/` (cicada sends every request to the scenario's host)"
            ));
        }
        let mut r = Request {
            id: self.cx.next_id(),
            line,
            code: self.cx.code(line),
            method: method.to_owned(),
            path,
            query,
            ..Request::default()
        };
        for (name, value) in call.keywords() {
            let Some(name) = name else {
                return Err("`**kwargs`".into());
            };
            match name {
                "url" | "catch_response" => {}
                "name" => r.name = Some(self.tmpl(value, None)?),
                "params" => match self.json(value, None)? {
                    Value::Object(m) => {
                        for (k, v) in m {
                            r.query.push((k, text_of(v).ok_or("a query parameter that is not a single value")?));
                        }
                    }
                    _ => return Err("params that are not a dict".into()),
                },
                "headers" => match self.json(value, None)? {
                    Value::Object(m) => {
                        for (k, v) in m {
                            r.headers.push((k, text_of(v).ok_or("a header value that is not text")?));
                        }
                    }
                    _ => return Err("headers that are not a dict".into()),
                },
                "json" => r.json = Some(self.json(value, None)?),
                "data" => match self.json(value, None)? {
                    Value::String(s) => r.body = Some(s),
                    Value::Object(m) => {
                        let mut pairs = Vec::new();
                        for (k, v) in m {
                            let v = text_of(v).ok_or("form data whose values are not text")?;
                            pairs.push(format!("{}={}", form_escape(&k), form_escape(&v)));
                        }
                        r.body = Some(pairs.join("&"));
                        r.content_type = Some("application/x-www-form-urlencoded".into());
                    }
                    _ => return Err("data that is neither text nor a dict".into()),
                },
                "timeout" => self.cx.note(NoteKind::Approximated, line, "a per-request timeout: cicada has one request_timeout for all requests ([defaults], 30 s)"),
                "allow_redirects" => self.cx.note(NoteKind::Approximated, line, "allow_redirects: cicada never follows redirects (a 3xx counts as a success)"),
                "verify" => self.cx.note(NoteKind::Approximated, line, "verify=: use `cicada run --insecure` to accept any certificate"),
                other => return Err(format!("the argument `{other}=`")),
            }
        }
        if r.json.is_some() && r.body.is_some() {
            return Err("both json= and data=".into());
        }
        if let Some(Value::Object(m)) = &r.json
            && m.values().any(
                |v| matches!(v, Value::String(s) if s.contains("{{") && is_number_gen(self.cx, s)),
            )
        {
            self.cx.note(NoteKind::Approximated, line, "a random number in a JSON body is sent as a string (cicada's JSON templates are strings)");
        }
        Ok(r)
    }

    fn assign(&mut self, target: Node<'a>, value: Node<'a>, out: &mut Vec<Step>) {
        let line = target.line();
        let (is_self, name) = match (target.name(), self.self_attr(target)) {
            (Some(n), _) => (false, n.to_owned()),
            (None, Some(a)) => (true, a.to_owned()),
            _ => {
                return self.note(
                    line,
                    "an assignment to something other than a name or self.attribute",
                );
            }
        };
        let bind = |fx: &mut Self, l: Local| {
            if is_self {
                fx.user.attrs.insert(name.clone(), l);
            } else {
                fx.locals.insert(name.clone(), l);
            }
        };
        if let Some(method) = self.client_call(value) {
            if let Some(id) = self.send(value, &method, out) {
                if is_self {
                    return self.note(line, "a response kept on self (keep the values you need instead: `self.x = r.json()[...]`)");
                }
                bind(self, Local::Resp(id));
            }
            return;
        }
        match self.resp_ref(value) {
            Ok(Some((id, part))) => {
                let source = match part {
                    RespPart::Json(p) if !p.is_empty() => Capture::Json(p),
                    RespPart::Header(h) => Capture::Header(h),
                    _ => {
                        return self.note(
                            line,
                            "keeping a response part that is not a JSON value or a header",
                        );
                    }
                };
                let var = self.capture(id, &name, source);
                bind(self, Local::Tmpl(format!("{{{{{var}}}}}")));
                return;
            }
            Ok(None) => {}
            Err(why) => {
                return self.note(line, format!("reads {why}, which cicada cannot capture"));
            }
        }
        let converted = if matches!(value.ty(), "Dict" | "List" | "Tuple") {
            self.json(value, Some(&name)).map(Local::Json)
        } else {
            self.tmpl(value, Some(&name)).map(Local::Tmpl)
        };
        match converted {
            Ok(l) => bind(self, l),
            Err(why) => self.note(
                line,
                format!(
                    "the value of `{name}` is {why}; anything that uses it is not converted either"
                ),
            ),
        }
    }

    fn with(&mut self, s: Node<'a>, out: &mut Vec<Step>) {
        let line = s.line();
        let items = s.list("items");
        let call = items.first().map(|i| i.get("context_expr"));
        let Some((call, method)) = call.and_then(|c| self.client_call(c).map(|m| (c, m))) else {
            self.note(line, "a `with` block that is not `with self.client.<method>(..., catch_response=True) as r`");
            return;
        };
        if items.len() != 1 {
            return self.note(line, "a `with` of several items");
        }
        let Some(id) = self.send(call, &method, out) else {
            return;
        };
        if let Some(var) = items[0].get("optional_vars").name() {
            self.locals.insert(var.to_owned(), Local::Resp(id));
            if call.keyword("catch_response").and_then(|c| c.constant()) == Some(&Value::Bool(true))
            {
                for st in s.list("body") {
                    self.catch_stmt(st, var, id, out);
                }
                return;
            }
        }
        self.stmts(&s.list("body"), out);
    }

    /// `r.success()` / `r.failure(...)` → Some(true/false).
    fn verdict(&self, s: Node<'a>, var: &str) -> Option<bool> {
        let f = s.get("value").get("func");
        if !(s.is("Expr") && f.is("Attribute") && f.get("value").name() == Some(var)) {
            return None;
        }
        match f.str("attr")? {
            "success" => Some(true),
            "failure" => Some(false),
            _ => None,
        }
    }

    /// A statement inside `with ... catch_response=True as r`.
    fn catch_stmt(&mut self, s: Node<'a>, var: &str, id: usize, out: &mut Vec<Step>) {
        let line = s.line();
        match self.verdict(s, var) {
            Some(true) => {
                return self.cx.note(NoteKind::Approximated, line, "an unconditional success(): cicada still counts a status other than 2xx/3xx as a failure");
            }
            Some(false) => return self.note(line, "an unconditional failure(): cicada has no way to fail a request whatever its response"),
            None => {}
        }
        if s.is("If") {
            let body = s.list("body");
            let orelse = s.list("orelse");
            let one = |l: &[Node<'a>]| match l {
                [x] => self.verdict(*x, var),
                _ => None,
            };
            let (b, e) = (one(&body), one(&orelse));
            let negate = match (b, e, orelse.is_empty()) {
                (Some(false), _, true) | (Some(false), Some(true), _) => Some(true),
                (Some(true), Some(false), _) => Some(false),
                (Some(false), None, false) if orelse.len() == 1 && orelse[0].is("If") => {
                    self.checks(s.get("test"), true, id, line);
                    return self.catch_stmt(orelse[0], var, id, out);
                }
                (Some(true), _, true) => {
                    return self.cx.note(NoteKind::Approximated, line, "success() on a condition without failure(): cicada counts a status other than 2xx/3xx as a failure");
                }
                _ => None,
            };
            if let Some(negate) = negate {
                self.checks(s.get("test"), negate, id, line);
                return;
            }
        }
        if s.is("Try") {
            // try: r.json()["x"] except ...: r.failure(...) → the value must be there.
            let handlers_fail = s.list("handlers").iter().all(|h| {
                h.list("body")
                    .iter()
                    .any(|b| self.verdict(*b, var) == Some(false))
            });
            if handlers_fail {
                for b in s.list("body") {
                    let v = if b.is("Assign") || b.is("Expr") {
                        b.get("value")
                    } else {
                        b
                    };
                    if let Ok(Some((_, RespPart::Json(p)))) = self.resp_ref(v)
                        && !p.is_empty()
                    {
                        self.expects
                            .entry(id)
                            .or_default()
                            .push(Expect::Check(crate::model::Check::Json(p)));
                    }
                    let bare_read =
                        b.is("Expr") && matches!(self.resp_ref(b.get("value")), Ok(Some(_)));
                    if self.verdict(b, var).is_none() && !bare_read {
                        self.catch_stmt(b, var, id, out);
                    }
                }
                return;
            }
        }
        self.stmt(s, out);
    }

    fn checks(&mut self, test: Node<'a>, negate: bool, id: usize, line: usize) {
        match self.expects(test, negate) {
            Ok(e) => self.expects.entry(id).or_default().extend(e),
            Err(why) => self.note(line, format!("a catch_response check on {why}")),
        }
    }

    fn if_stmt(&mut self, s: Node<'a>, out: &mut Vec<Step>) {
        let line = s.line();
        if !self.flow {
            return self.note(
                line,
                "an `if` in on_start/on_stop: cicada's on_start and on_stop hold requests only",
            );
        }
        let cond = match self.cond(s.get("test")) {
            Ok(c) => c,
            Err(why) => {
                return self.note(line, format!("an `if` on {why}; its body is not converted"));
            }
        };
        let saved = self.last;
        let mut steps = Vec::new();
        self.stmts(&s.list("body"), &mut steps);
        self.last = saved;
        let mut else_ = Vec::new();
        self.stmts(&s.list("orelse"), &mut else_);
        // After the if, which response is last depends on the branch taken.
        if self.last != saved || !steps.is_empty() {
            self.last = None;
        }
        out.push(Step::If(If {
            line,
            cond,
            steps,
            else_,
        }));
    }

    /// A loop body statement that reads a response the loop rebinds later (or in the same
    /// statement): cicada reads the response from before the loop on every try.
    fn stale_reads(&mut self, body: &[Node<'a>]) {
        for (j, st) in body.iter().enumerate() {
            let Some(name) = st.list("targets").first().and_then(|t| t.name()) else {
                continue;
            };
            if !(st.is("Assign") && self.client_call(st.get("value")).is_some()) {
                continue;
            }
            if !matches!(self.locals.get(name), Some(Local::Resp(_))) {
                continue;
            }
            for earlier in &body[..=j] {
                let read = if earlier.line() == st.line() {
                    earlier.get("value").reads(name)
                } else {
                    earlier.reads(name)
                };
                if read && !earlier.is("If") {
                    self.cx.note(
                        NoteKind::Approximated,
                        earlier.line(),
                        format!("reads `{name}` before the loop sends its next request into it: cicada uses the response from before the loop on every try (Locust, the previous try's)"),
                    );
                }
            }
        }
    }

    /// The body of a polling loop: its requests, and its sleep as the interval.
    fn poll_body(&mut self, body: &[Node<'a>], skip: Option<usize>) -> (Vec<Step>, Option<String>) {
        self.stale_reads(body);
        let mut steps = Vec::new();
        let mut interval = None;
        for (i, st) in body.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let v = st.get("value");
            let f = v.get("func").dotted().unwrap_or_default();
            if st.is("Expr") && matches!(f.as_str(), "time.sleep" | "sleep" | "gevent.sleep") {
                match sleep_value(v) {
                    Some(d) if !d.starts_with('[') => interval = Some(d.trim_matches('"').to_owned()),
                    _ => self.note(st.line(), "a poll interval that is not a constant (converted as cicada's default interval, 1 s)"),
                }
                continue;
            }
            self.stmt(*st, &mut steps);
        }
        (steps, interval)
    }

    /// `if c: break` in a loop body → its index and the condition node.
    fn break_if(body: &[Node<'a>]) -> Option<(usize, Node<'a>)> {
        body.iter().enumerate().find_map(|(i, s)| {
            let b = s.list("body");
            (s.is("If") && b.len() == 1 && b[0].is("Break") && s.list("orelse").is_empty())
                .then(|| (i, s.get("test")))
        })
    }

    fn while_stmt(&mut self, s: Node<'a>, out: &mut Vec<Step>) {
        let line = s.line();
        if !self.flow {
            return self.note(
                line,
                "a loop in on_start/on_stop: cicada's on_start and on_stop hold requests only",
            );
        }
        if !s.list("orelse").is_empty() {
            return self.note(line, "a `while` with an `else`");
        }
        let body = s.list("body");
        let forever = s.get("test").constant() == Some(&Value::Bool(true));
        if forever {
            let Some((at, test)) = Self::break_if(&body) else {
                return self.note(
                    line,
                    "`while True` without an `if ...: break` on a response",
                );
            };
            if body[at + 1..].iter().any(|st| !is_sleep(*st)) {
                return self.note(
                    line,
                    "a polling loop with statements after its `break` test other than a sleep",
                );
            }
            let (steps, interval) = self.poll_body(&body, Some(at));
            match self.cond(test) {
                Ok(cond) => out.push(Step::Until(Until {
                    line,
                    cond,
                    interval,
                    max_tries: None,
                    on_timeout: None,
                    comment: "while True: ... if COND: break (Locust polls without a bound; cicada gives up after 30 s and fails the step)".into(),
                    steps,
                })),
                Err(why) => self.note(test.line(), format!("a polling loop's test on {why}")),
            }
            return;
        }
        // while COND: <poll> → if COND: until not COND: <poll>
        let before = match self.cond(s.get("test")) {
            Ok(c) => c,
            Err(why) => return self.note(line, format!("a `while` on {why}")),
        };
        if Self::break_if(&body).is_some() {
            return self.note(line, "a `while COND` loop with a `break` inside");
        }
        let (steps, interval) = self.poll_body(&body, None);
        let after = match self.cond(s.get("test")) {
            Ok(c) => c,
            Err(why) => {
                return self.note(
                    line,
                    format!("a `while` whose test, after the loop's requests, reads {why}"),
                );
            }
        };
        out.push(Step::If(If {
            line,
            cond: before,
            steps: vec![Step::Until(Until {
                line,
                cond: format!("not ({after})"),
                interval,
                max_tries: None,
                on_timeout: None,
                comment: "while COND: ... (Locust polls without a bound; cicada gives up after 30 s and fails the step)".into(),
                steps,
            })],
            else_: Vec::new(),
        }));
    }

    fn for_stmt(&mut self, s: Node<'a>, out: &mut Vec<Step>) {
        let line = s.line();
        if !self.flow {
            return self.note(
                line,
                "a loop in on_start/on_stop: cicada's on_start and on_stop hold requests only",
            );
        }
        let iter = s.get("iter");
        let count = (iter.get("func").name() == Some("range") && iter.list("args").len() == 1)
            .then(|| iter.list("args")[0].const_num())
            .flatten()
            .filter(|n| n.fract() == 0.0 && *n >= 1.0)
            .map(|n| n as u64);
        let Some(count) = count else {
            return self.foreach(s, out);
        };
        let body = s.list("body");
        match Self::break_if(&body) {
            Some((at, test)) => {
                if body[at + 1..].iter().any(|st| !is_sleep(*st)) {
                    return self.note(
                        line,
                        "a polling loop with statements after its `break` test other than a sleep",
                    );
                }
                let (steps, interval) = self.poll_body(&body, Some(at));
                match self.cond(test) {
                    Ok(cond) => out.push(Step::Until(Until {
                        line,
                        cond,
                        interval,
                        max_tries: Some(count),
                        on_timeout: Some("continue"),
                        comment: format!("for _ in range({count}): ... if COND: break (after {count} tries Locust goes on, and so does cicada)"),
                        steps,
                    })),
                    Err(why) => self.note(test.line(), format!("a polling loop's test on {why}")),
                }
            }
            None => {
                let mut steps = Vec::new();
                self.stmts(&body, &mut steps);
                out.push(Step::Loop(Loop { line, count, steps }));
            }
        }
    }

    /// `for x in r.json()["items"][:5]:` → `foreach = "/items"`, `as = "x"`, `limit = 5`; a
    /// body that uses `x["id"]` gets `select = "/id"`.
    fn foreach(&mut self, s: Node<'a>, out: &mut Vec<Step>) {
        let line = s.line();
        let mut iter = s.get("iter");
        let mut limit = None;
        if iter.is("Subscript") && iter.get("slice").is("Slice") {
            let sl = iter.get("slice");
            let upper = sl
                .get("upper")
                .const_num()
                .filter(|n| n.fract() == 0.0 && *n >= 1.0);
            match (sl.get("lower").is_null(), sl.get("step").is_null(), upper) {
                (true, true, Some(n)) => limit = Some(n as u64),
                _ => return self.note(line, "a `for` over a slice other than [:N]"),
            }
            iter = iter.get("value");
        }
        let pointer = match self.resp_ref(iter) {
            Ok(Some((id, RespPart::Json(p)))) if self.last == Some(id) && !p.is_empty() => p,
            Ok(Some(_)) => return self.note(line, "a `for` over a response that is not the task's last one, or not a list in its JSON"),
            _ => return self.note(line, "a `for` loop over something other than range(N) or a list in the last response's JSON"),
        };
        let Some(target) = s.get("target").name() else {
            return self.note(line, "a `for` that binds several names");
        };
        if !s.list("orelse").is_empty() || Self::break_if(&s.list("body")).is_some() {
            return self.note(line, "a `for` over a response with a `break` or an `else`");
        }
        let var = self.cx.capture_name(target);
        let saved = self
            .locals
            .insert(target.to_owned(), Local::Elem(var.clone()));
        let mut steps = Vec::new();
        self.stmts(&s.list("body"), &mut steps);
        match saved {
            Some(l) => self.locals.insert(target.to_owned(), l),
            None => self.locals.remove(target),
        };
        let mut uses = self.elem_use.remove(&var).unwrap_or_default();
        uses.dedup();
        let select = match uses.as_slice() {
            [] | [None] => None,
            [Some(p)] => Some(p.clone()),
            _ => return self.note(line, "a `for` whose element is used in different ways (cicada binds one value of each element)"),
        };
        // After the loop, which response is last depends on the list's length.
        self.last = None;
        out.push(Step::Foreach(crate::model::Foreach {
            line,
            pointer,
            as_: var,
            select,
            limit,
            steps,
        }));
    }
}

fn is_sleep(s: Node) -> bool {
    s.is("Expr")
        && matches!(
            s.get("value").get("func").dotted().as_deref(),
            Some("time.sleep" | "sleep" | "gevent.sleep")
        )
}

/// `time.sleep(0.5)` → `"500ms"`; `time.sleep(random.uniform(1, 2))` → `["1s", "2s"]`.
fn sleep_value(call: Node) -> Option<String> {
    let arg = *call.list("args").first()?;
    if let Some(s) = arg.const_num() {
        return Some(format!("\"{}\"", crate::convert::duration(s)?));
    }
    let f = arg.get("func").dotted()?;
    let a = arg.list("args");
    if matches!(f.as_str(), "random.uniform" | "uniform") && a.len() == 2 {
        let (x, y) = (a[0].const_num()?, a[1].const_num()?);
        return Some(format!(
            "[\"{}\", \"{}\"]",
            crate::convert::duration(x)?,
            crate::convert::duration(y)?
        ));
    }
    None
}

fn text_of(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if b { "True" } else { "False" }.to_owned()),
        _ => None,
    }
}

fn is_number_gen(cx: &Cx, s: &str) -> bool {
    cx.generators
        .iter()
        .any(|g| matches!(g.kind, GenKind::Int(..)) && s == format!("{{{{{}}}}}", g.name))
}

/// `a=1&b={{x}}` → pairs (the values stay templates).
fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// Percent-encoding of a form field, leaving `{{templates}}` alone.
fn form_escape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(end) = rest.strip_prefix("{{").and_then(|r| r.find("}}")) {
            out.push_str(&rest[..end + 4]);
            rest = &rest[end + 4..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        if c.is_ascii_alphanumeric() || "-_.~".contains(c) {
            out.push(c);
        } else if c == ' ' {
            out.push('+');
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}
