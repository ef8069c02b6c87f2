//! The Locust file as a whole: module-level constants and event listeners, the user classes
//! (with their bases), their attributes (`host`, `wait_time`, `weight`, `fixed_count`, `tasks`),
//! and the tasks, TaskSets and SequentialTaskSets flattened into weighted tasks.

use std::collections::HashMap;

use serde_json::Value;

use crate::ast::Node;
use crate::cx::Cx;
use crate::func::{self, UserCx};
use crate::model::{Scenario, Step, Task, User};
use crate::note::NoteKind;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    HttpUser,
    OtherUser,
    TaskSet,
    Sequential,
    Other,
}

struct Module<'a> {
    classes: HashMap<&'a str, Node<'a>>,
    functions: HashMap<&'a str, Node<'a>>,
}

/// A task to be converted, with its share of the user's iterations.
struct Entry<'a> {
    share: (u64, u64),
    name: String,
    line: usize,
    doc: Option<String>,
    tags: Vec<String>,
    /// (self name, function body) in order: one for a task, several for a sequence.
    bodies: Vec<(String, Vec<Node<'a>>)>,
}

/// Convert the parsed module.
pub fn module<'a>(cx: &mut Cx<'a>, m: Node<'a>, name: &str) -> Scenario {
    let mut md = Module {
        classes: HashMap::new(),
        functions: HashMap::new(),
    };
    let body = m.list("body");
    for s in &body {
        match s.ty() {
            "ClassDef" => {
                if let Some(n) = s.str("name") {
                    md.classes.insert(n, *s);
                }
            }
            "FunctionDef" | "AsyncFunctionDef" => {
                if let Some(n) = s.str("name") {
                    md.functions.insert(n, *s);
                }
            }
            _ => {}
        }
    }
    for s in &body {
        module_stmt(cx, *s);
    }
    let mut scenario = Scenario {
        name: name.to_owned(),
        ..Scenario::default()
    };
    for s in &body {
        if !s.is("ClassDef") {
            continue;
        }
        match kind(&md, *s, 0) {
            Kind::HttpUser if !own_abstract(*s) => {
                if let Some(u) = user(cx, &md, *s, &mut scenario) {
                    scenario.users.push(u);
                }
            }
            Kind::OtherUser if !own_abstract(*s) => cx.not_converted(
                s.line(),
                "a User that is not an HttpUser or FastHttpUser: its client is not HTTP, so cicada cannot send its requests",
            ),
            _ => {}
        }
    }
    scenario
}

fn module_stmt<'a>(cx: &mut Cx<'a>, s: Node<'a>) {
    let line = s.line();
    match s.ty() {
        "Import" | "ImportFrom" | "ClassDef" => {}
        "Expr" if s.get("value").const_str().is_some() => {}
        "Assign" => {
            let targets = s.list("targets");
            let value = s.get("value");
            match (targets.as_slice(), const_value(cx, value)) {
                ([t], Some(v)) if t.name().is_some() => {
                    cx.consts.insert(t.name().unwrap_or_default().to_owned(), v);
                }
                _ if value.get("func").dotted().as_deref() == Some("logging.getLogger") => {}
                _ => cx.not_converted(line, "module-level code: cicada does not run it"),
            }
        }
        "FunctionDef" | "AsyncFunctionDef" => {
            for d in s.list("decorator_list") {
                let dotted = d.dotted().unwrap_or_default();
                let event = dotted
                    .strip_prefix("events.")
                    .or_else(|| dotted.strip_prefix("locust.events."))
                    .and_then(|e| e.strip_suffix(".add_listener"));
                match event {
                    Some("test_stop" | "quitting") if only_logging(s) => cx.note(
                        NoteKind::Covered,
                        d.line(),
                        "summary logging at test stop: cicada's end-of-run summary prints the total requests, the failure rate and the P95 (and --json/--html/--csv keep them)",
                    ),
                    Some(e) => cx.not_converted(
                        d.line(),
                        format!("an event listener ({e}): cicada runs no Python code around a test"),
                    ),
                    None => cx.not_converted(d.line(), format!("a decorator `{dotted}` cicada has no counterpart for")),
                }
            }
        }
        "If" if s.get("test").get("left").name() == Some("__name__") => cx.not_converted(
            line,
            "a `__main__` block: run the converted scenario with `cicada run` instead",
        ),
        other => cx.not_converted(
            line,
            format!("module-level {other}: cicada does not run it"),
        ),
    }
}

/// Whether a function only logs or prints (the usual test_stop summary).
fn only_logging(def: Node) -> bool {
    def.list("body").iter().all(|s| {
        s.is("Expr")
            && (s.get("value").const_str().is_some() || {
                let f = s.get("value").get("func").dotted().unwrap_or_default();
                f == "print"
                    || f.starts_with("logging.")
                    || f.starts_with("logger.")
                    || f.starts_with("log.")
            })
    })
}

fn kind<'a>(md: &Module<'a>, class: Node<'a>, depth: usize) -> Kind {
    if depth > 16 {
        return Kind::Other;
    }
    for b in class.list("bases") {
        let name = b.dotted().unwrap_or_default();
        let last = name.rsplit('.').next().unwrap_or_default();
        let k = match last {
            "HttpUser" | "FastHttpUser" | "HttpLocust" => Kind::HttpUser,
            "User" => Kind::OtherUser,
            "TaskSet" => Kind::TaskSet,
            "SequentialTaskSet" => Kind::Sequential,
            _ => match md.classes.get(name.as_str()) {
                Some(c) => kind(md, *c, depth + 1),
                None => Kind::Other,
            },
        };
        if k != Kind::Other {
            return k;
        }
    }
    Kind::Other
}

fn own_abstract(class: Node) -> bool {
    class.list("body").iter().any(|s| {
        s.is("Assign")
            && s.list("targets").first().and_then(|t| t.name()) == Some("abstract")
            && s.get("value").constant() == Some(&Value::Bool(true))
    })
}

/// A class's attributes and methods, its local bases' first (Python's order for single
/// inheritance).
fn members<'a>(
    md: &Module<'a>,
    class: Node<'a>,
    depth: usize,
) -> (Vec<(String, Node<'a>)>, Vec<Node<'a>>) {
    let mut attrs: Vec<(String, Node<'a>)> = Vec::new();
    let mut methods: Vec<Node<'a>> = Vec::new();
    if depth < 16 {
        for b in class.list("bases") {
            if let Some(base) = b.dotted().and_then(|n| md.classes.get(n.as_str()).copied()) {
                let (a, m) = members(md, base, depth + 1);
                attrs.extend(a);
                methods.extend(m);
            }
        }
    }
    for s in class.list("body") {
        match s.ty() {
            "Assign" | "AnnAssign" => {
                let t = if s.is("Assign") {
                    s.list("targets").first().copied()
                } else {
                    Some(s.get("target"))
                };
                if let Some(n) = t.and_then(|t| t.name()) {
                    attrs.retain(|(k, _)| k != n);
                    attrs.push((n.to_owned(), s));
                }
            }
            "FunctionDef" | "AsyncFunctionDef" => {
                let n = s.str("name");
                methods.retain(|m| m.str("name") != n);
                methods.push(s);
            }
            _ => {}
        }
    }
    (attrs, methods)
}

fn user<'a>(
    cx: &mut Cx<'a>,
    md: &Module<'a>,
    class: Node<'a>,
    scenario: &mut Scenario,
) -> Option<User> {
    let name = class.str("name").unwrap_or("user").to_owned();
    let mut u = User {
        name: name.clone(),
        line: class.line(),
        doc: docstring(class),
        ..User::default()
    };
    let mut ucx = UserCx::default();
    let (attrs, methods) = members(md, class, 0);
    let mut entries: Vec<(u64, Entry<'a>)> = Vec::new();
    let mut tasksets: Vec<(u64, Node<'a>, usize)> = Vec::new();
    for (attr, s) in &attrs {
        let value = s.get("value");
        let line = s.line();
        match attr.as_str() {
            "abstract" => {}
            "host" => match value.const_str() {
                Some(h) if !h.is_empty() => match &scenario.host {
                    Some((other, _)) if other != h => cx.not_converted(line, format!("a second host ({h}): a cicada scenario has one host; {other} is used")),
                    Some(_) => {}
                    None => scenario.host = Some((h.trim_end_matches('/').to_owned(), line)),
                },
                _ => cx.not_converted(line, "a host that is not a constant string (pass -H/--host to cicada run)"),
            },
            "wait_time" => match wait(cx, value) {
                Some((toml, step)) => {
                    u.wait = Some((toml, format!("line {line}: {}", cx.code(line))));
                    ucx.wait = step;
                }
                None => cx.not_converted(line, "a wait_time other than between, constant, constant_pacing or constant_throughput of constants"),
            },
            "weight" | "fixed_count" => match value.const_num().filter(|v| v.fract() == 0.0 && *v >= 1.0) {
                Some(w) => {
                    if attr == "fixed_count" {
                        cx.note(NoteKind::Approximated, line, "fixed_count: cicada assigns users to types by weight; converted as weight, so the counts are exact when -u is the sum of the fixed counts");
                    }
                    u.weight = Some((w as u64, format!("line {line}: {}", cx.code(line))));
                }
                None => cx.not_converted(line, format!("a {attr} that is not a whole number of at least 1")),
            },
            "tasks" => task_attr(cx, md, value, &mut entries, &mut tasksets),
            _ => match const_value(cx, value) {
                Some(v) => {
                    ucx.consts.insert(attr.clone(), v);
                }
                None => cx.not_converted(line, format!("the class attribute `{attr}` is not a constant")),
            },
        }
    }
    let mut on_start = None;
    let mut on_stop = None;
    for m in &methods {
        let mname = m.str("name").unwrap_or_default();
        match mname {
            "on_start" => on_start = Some(*m),
            "on_stop" => on_stop = Some(*m),
            _ => match task_weight(cx, *m) {
                Some(w) => entries.push((w, method_entry(*m, &self_name(*m)))),
                None => {
                    ucx.methods.insert(mname.to_owned(), *m);
                }
            },
        }
    }
    // TaskSets: each becomes tasks (or one sequence) carrying its share.
    let total: u64 =
        entries.iter().map(|e| e.0).sum::<u64>() + tasksets.iter().map(|t| t.0).sum::<u64>();
    let mut flat: Vec<Entry<'a>> = Vec::new();
    for (w, mut e) in entries {
        e.share = (w, total);
        flat.push(e);
    }
    for (w, ts, line) in tasksets {
        taskset(cx, md, ts, (w, total), line, &mut ucx, &mut u, &mut flat, 0);
    }
    if let Some(m) = on_start {
        let steps = func::convert(cx, &mut ucx, &self_name(m), &m.list("body"), false);
        u.on_start.splice(0..0, steps);
    }
    let weights = integer_weights(&flat.iter().map(|e| e.share).collect::<Vec<_>>());
    for (e, weight) in flat.into_iter().zip(weights) {
        let mut steps: Vec<Step> = Vec::new();
        let n = e.bodies.len();
        for (i, (self_name, body)) in e.bodies.iter().enumerate() {
            steps.extend(func::convert(cx, &mut ucx, self_name, body, true));
            if i + 1 < n {
                match &ucx.wait {
                    Some(w) => steps.push(Step::Wait(w.clone(), e.line)),
                    None if u.wait.is_some() => cx.note(NoteKind::Approximated, e.line, "the sequence's waits between its tasks: a wait step takes a constant or between wait_time only; the sequence runs without them"),
                    None => {}
                }
            }
        }
        if steps.is_empty() {
            cx.not_converted(e.line, format!("task {}: nothing in it converts (see the notes on its lines), so it is left out and the other tasks share its weight", e.name));
            continue;
        }
        u.tasks.push(Task {
            name: e.name,
            line: e.line,
            doc: e.doc,
            weight,
            tags: e.tags,
            steps,
        });
    }
    if let Some(m) = on_stop {
        u.on_stop = func::convert(cx, &mut ucx, &self_name(m), &m.list("body"), false);
    }
    if u.tasks.is_empty() {
        cx.not_converted(
            class.line(),
            format!("user class {name}: no task converts, so the class is left out"),
        );
        return None;
    }
    Some(u)
}

#[allow(clippy::too_many_arguments)]
fn taskset<'a>(
    cx: &mut Cx<'a>,
    md: &Module<'a>,
    ts: Node<'a>,
    share: (u64, u64),
    line: usize,
    ucx: &mut UserCx<'a>,
    u: &mut User,
    flat: &mut Vec<Entry<'a>>,
    depth: usize,
) {
    let name = ts.str("name").unwrap_or_default().to_owned();
    let k = kind(md, ts, 0);
    let (attrs, methods) = members(md, ts, 0);
    let class_tags = tags(ts);
    let mut entries: Vec<(u64, Entry<'a>)> = Vec::new();
    let mut nested: Vec<(u64, Node<'a>, usize)> = Vec::new();
    for (attr, s) in &attrs {
        match attr.as_str() {
            "tasks" => task_attr(cx, md, s.get("value"), &mut entries, &mut nested),
            _ => match const_value(cx, s.get("value")) {
                Some(v) => {
                    ucx.consts.insert(attr.clone(), v);
                }
                None => cx.not_converted(
                    s.line(),
                    format!("the TaskSet attribute `{attr}` is not a constant"),
                ),
            },
        }
    }
    for m in &methods {
        let mname = m.str("name").unwrap_or_default();
        match mname {
            "on_start" | "on_stop" => {
                cx.note(NoteKind::Approximated, m.line(), format!("{name}.{mname}: runs once per user, as the user's {mname} (Locust runs it each time the TaskSet is entered or left)"));
                let steps = func::convert(cx, ucx, &self_name(*m), &m.list("body"), false);
                if mname == "on_start" {
                    u.on_start.extend(steps);
                } else {
                    u.on_stop.extend(steps);
                }
            }
            _ => match task_weight(cx, *m) {
                Some(w) => entries.push((w, method_entry(*m, &self_name(*m)))),
                None => {
                    ucx.methods.insert(mname.to_owned(), *m);
                }
            },
        }
    }
    if k == Kind::Sequential {
        cx.note(NoteKind::Approximated, line, format!("SequentialTaskSet {name}: one cicada task whose steps are its tasks in order (each repeated by its weight), with the user's wait between them"));
        let mut bodies = Vec::new();
        for (w, e) in &entries {
            for _ in 0..*w {
                bodies.extend(e.bodies.iter().cloned());
            }
        }
        if !nested.is_empty() {
            cx.not_converted(
                line,
                format!("a TaskSet inside the SequentialTaskSet {name}"),
            );
        }
        flat.push(Entry {
            share,
            name,
            line: ts.line(),
            doc: docstring(ts),
            tags: class_tags,
            bodies,
        });
        return;
    }
    cx.note(NoteKind::Approximated, line, format!("TaskSet {name}: its tasks become the user's tasks, weighted by the TaskSet's share (Locust stays in a TaskSet until interrupt(); cicada picks from all tasks every iteration)"));
    let total: u64 =
        entries.iter().map(|e| e.0).sum::<u64>() + nested.iter().map(|t| t.0).sum::<u64>();
    for (w, mut e) in entries {
        e.share = reduce((share.0 * w, share.1 * total));
        e.tags.extend(class_tags.iter().cloned());
        flat.push(e);
    }
    for (w, inner, l) in nested {
        if depth > 4 {
            cx.not_converted(l, "TaskSets nested more than four deep");
            continue;
        }
        taskset(
            cx,
            md,
            inner,
            reduce((share.0 * w, share.1 * total)),
            l,
            ucx,
            u,
            flat,
            depth + 1,
        );
    }
}

/// `tasks = [a, b]` or `{a: 3, b: 1}`: functions, methods or TaskSet classes.
fn task_attr<'a>(
    cx: &mut Cx<'a>,
    md: &Module<'a>,
    value: Node<'a>,
    entries: &mut Vec<(u64, Entry<'a>)>,
    tasksets: &mut Vec<(u64, Node<'a>, usize)>,
) {
    let items: Vec<(Node<'a>, u64)> = match value.ty() {
        "List" | "Tuple" => value.list("elts").into_iter().map(|e| (e, 1)).collect(),
        "Dict" => {
            let mut out = Vec::new();
            for (k, v) in value.list("keys").into_iter().zip(value.list("values")) {
                match v.const_num().filter(|w| w.fract() == 0.0 && *w >= 1.0) {
                    Some(w) => out.push((k, w as u64)),
                    None => cx.not_converted(
                        v.line(),
                        "a task weight that is not a whole number of at least 1",
                    ),
                }
            }
            out
        }
        _ => return cx.not_converted(value.line(), "a `tasks` that is not a list or a dict"),
    };
    for (item, w) in items {
        let name = item.name().unwrap_or_default();
        if let Some(class) = md.classes.get(name) {
            tasksets.push((w, *class, item.line()));
        } else if let Some(f) = md.functions.get(name) {
            entries.push((w, method_entry(*f, &self_name(*f))));
        } else {
            cx.not_converted(
                item.line(),
                format!(
                    "a task `{}` that is not a function or TaskSet of this file",
                    cx.code(item.line())
                ),
            );
        }
    }
}

fn method_entry<'a>(m: Node<'a>, self_name: &str) -> Entry<'a> {
    Entry {
        share: (1, 1),
        name: m.str("name").unwrap_or("task").to_owned(),
        line: m.line(),
        doc: docstring(m),
        tags: tags(m),
        bodies: vec![(self_name.to_owned(), m.list("body"))],
    }
}

/// The name of a function's first parameter (`self`, or `user` in `def task(user)`).
fn self_name(def: Node) -> String {
    def.get("args")
        .list("args")
        .first()
        .and_then(|a| a.str("arg"))
        .unwrap_or("self")
        .to_owned()
}

/// `@task` → 1, `@task(3)` / `@task(weight=3)` → 3; None when not a task.
fn task_weight(cx: &mut Cx, m: Node) -> Option<u64> {
    for d in m.list("decorator_list") {
        let (f, call) = if d.is("Call") {
            (d.get("func"), Some(d))
        } else {
            (d, None)
        };
        if !matches!(f.dotted().as_deref(), Some("task" | "locust.task")) {
            continue;
        }
        let arg = call.and_then(|c| {
            c.list("args")
                .first()
                .copied()
                .or_else(|| c.keyword("weight"))
        });
        return match arg {
            None => Some(1),
            Some(a) => {
                match a.const_num().filter(|w| w.fract() == 0.0 && *w >= 1.0) {
                    Some(w) => Some(w as u64),
                    None => {
                        cx.not_converted(d.line(), "a task weight that is not a whole number of at least 1 (converted as 1)");
                        Some(1)
                    }
                }
            }
        };
    }
    None
}

/// `@tag("a", "b")` → ["a", "b"].
fn tags(def: Node) -> Vec<String> {
    let mut out = Vec::new();
    for d in def.list("decorator_list") {
        if d.is("Call")
            && matches!(
                d.get("func").dotted().as_deref(),
                Some("tag" | "locust.tag")
            )
        {
            out.extend(
                d.list("args")
                    .iter()
                    .filter_map(|a| a.const_str())
                    .map(str::to_owned),
            );
        }
    }
    out
}

fn docstring(def: Node) -> Option<String> {
    def.list("body")
        .first()
        .and_then(|s| s.get("value").const_str())
        .filter(|_| def.list("body")[0].is("Expr"))
        .map(str::to_owned)
}

/// `wait_time = between(1, 3)` → (the TOML value, the `wait` step value for `self.wait()`).
fn wait(cx: &Cx, value: Node) -> Option<(String, Option<String>)> {
    let f = value.get("func").dotted()?;
    let f = f.rsplit('.').next()?;
    let args: Vec<f64> = value
        .list("args")
        .into_iter()
        .map(|a| const_value(cx, a).and_then(|v| v.as_f64()))
        .collect::<Option<_>>()?;
    match (f, args.as_slice()) {
        ("between", [a, b]) if a <= b => {
            let (a, b) = (duration(*a)?, duration(*b)?);
            Some((
                format!("{{ between = [\"{a}\", \"{b}\"] }}"),
                Some(format!("[\"{a}\", \"{b}\"]")),
            ))
        }
        ("constant", [a]) => {
            let a = duration(*a)?;
            Some((
                format!("{{ constant = \"{a}\" }}"),
                Some(format!("\"{a}\"")),
            ))
        }
        ("constant_pacing", [a]) => Some((format!("{{ pacing = \"{}\" }}", duration(*a)?), None)),
        ("constant_throughput", [t]) if *t > 0.0 => {
            Some((format!("{{ throughput = {t:?} }}"), None))
        }
        _ => None,
    }
}

/// Seconds as a cicada duration: `2` → `2s`, `0.5` → `500ms`, `0.0005` → `500us`.
pub fn duration(secs: f64) -> Option<String> {
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    if secs.fract() == 0.0 {
        return Some(format!("{}s", secs as u64));
    }
    let ms = secs * 1000.0;
    if (ms - ms.round()).abs() < 1e-6 {
        return Some(format!("{}ms", ms.round() as u64));
    }
    Some(format!("{}us", (secs * 1e6).round() as u64))
}

/// A constant expression (text, number, bool, None, lists/tuples/dicts of them, names of
/// module constants) as JSON.
fn const_value(cx: &Cx, e: Node) -> Option<Value> {
    match e.ty() {
        "Constant" => match e.constant()? {
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null) => {
                Some(v.clone())
            }
            _ => None,
        },
        "List" | "Tuple" => e
            .list("elts")
            .into_iter()
            .map(|x| const_value(cx, x))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        "Dict" => {
            let mut m = serde_json::Map::new();
            for (k, v) in e.list("keys").into_iter().zip(e.list("values")) {
                m.insert(k.const_str()?.to_owned(), const_value(cx, v)?);
            }
            Some(Value::Object(m))
        }
        "Name" => cx.consts.get(e.name()?).cloned(),
        "UnaryOp" if e.get("op").is("USub") => Some(Value::from(-e.get("operand").const_num()?)),
        _ => None,
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn reduce((n, d): (u64, u64)) -> (u64, u64) {
    let g = gcd(n, d).max(1);
    (n / g, d / g)
}

/// Shares (fractions) as the smallest whole-number weights in the same proportions.
fn integer_weights(shares: &[(u64, u64)]) -> Vec<u64> {
    let shares: Vec<(u64, u64)> = shares.iter().map(|s| reduce(*s)).collect();
    let lcm = shares
        .iter()
        .fold(1u64, |l, (_, d)| l / gcd(l, *d).max(1) * d.max(&1));
    let raw: Vec<u64> = shares.iter().map(|(n, d)| n * (lcm / d.max(&1))).collect();
    let g = raw.iter().fold(0, |g, w| gcd(g, *w)).max(1);
    raw.into_iter().map(|w| (w / g).max(1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_keep_the_proportions_of_nested_shares() {
        // 5:3:1 stays 5:3:1; a TaskSet of weight 2 (of 3) with tasks 1:1 beside a task of weight 1.
        assert_eq!(integer_weights(&[(5, 9), (3, 9), (1, 9)]), vec![5, 3, 1]);
        assert_eq!(integer_weights(&[(1, 3), (1, 3), (1, 3)]), vec![1, 1, 1]);
        assert_eq!(integer_weights(&[(1, 3), (2, 6), (2, 6)]), vec![1, 1, 1]);
        assert_eq!(integer_weights(&[(1, 4), (3, 8), (3, 8)]), vec![2, 3, 3]);
    }

    #[test]
    fn durations_are_written_in_the_largest_exact_unit() {
        assert_eq!(duration(2.0).as_deref(), Some("2s"));
        assert_eq!(duration(0.5).as_deref(), Some("500ms"));
        assert_eq!(duration(1.5).as_deref(), Some("1500ms"));
        assert_eq!(duration(0.0005).as_deref(), Some("500us"));
        assert_eq!(duration(-1.0), None);
    }
}
