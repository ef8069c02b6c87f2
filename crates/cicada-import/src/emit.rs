//! Writing the converted scenario as commented TOML (the format of docs/scenario.md).

use std::fmt::Write as _;

use serde_json::Value;

use crate::model::{Capture, Check, GenKind, Request, Scenario, Step, Task, User};
use crate::note::{Note, NoteKind};

/// The scenario file's text: a header naming the source and every note, then the tables.
pub fn scenario(s: &Scenario, source_name: &str, notes: &[Note]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Converted from {source_name} by `cicada import` (docs/scenario.md, \"Importing a Locust file\")."
    );
    o.push_str("# Each part names the line of the Locust file it came from.\n");
    o.push_str("#\n#   cicada check THIS_FILE\n");
    if s.host.is_some() {
        o.push_str("#   cicada run THIS_FILE -u 100 -r 10 -t 1m\n");
    } else {
        o.push_str("#   cicada run THIS_FILE -H http://127.0.0.1:8000 -u 100 -r 10 -t 1m   # no host in the Locust file\n");
    }
    if notes.is_empty() {
        o.push_str("#\n# Everything in the Locust file was converted.\n");
    } else {
        for kind in [
            NoteKind::NotConverted,
            NoteKind::Approximated,
            NoteKind::Covered,
        ] {
            let of_kind: Vec<&Note> = notes.iter().filter(|n| n.kind == kind).collect();
            if of_kind.is_empty() {
                continue;
            }
            let _ = writeln!(o, "#\n# {} ({}):", capitalised(kind.label()), of_kind.len());
            for n in of_kind {
                let _ = writeln!(o, "#   line {}: `{}`", n.line, n.code);
                let _ = writeln!(o, "#     {}", n.reason);
            }
        }
    }
    o.push('\n');
    let _ = writeln!(o, "name = {}", string(&s.name));
    if let Some((host, line)) = &s.host {
        let _ = writeln!(o, "\n[defaults]\nhost = {}   # line {line}", string(host));
    }
    if !s.generators.is_empty() {
        o.push_str(
            "\n# Drawn anew for every task iteration; the URLs keep the template, so each\n\
             # endpoint is one row in the report however many values are drawn.\n[generators]\n",
        );
        for g in &s.generators {
            let (value, python) = match &g.kind {
                GenKind::Uuid => ("{ type = \"uuid\" }".to_owned(), "uuid4()".to_owned()),
                GenKind::Int(a, b) => (
                    format!("{{ type = \"random_int\", min = {a}, max = {b} }}"),
                    format!("random.randint({a}, {b})"),
                ),
                GenKind::Choice(values) => (
                    format!(
                        "{{ type = \"random_choice\", values = [{}] }}",
                        values
                            .iter()
                            .map(|v| string(v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "random.choice(...)".to_owned(),
                ),
            };
            let lines: Vec<String> = g.lines.iter().map(usize::to_string).collect();
            let _ = writeln!(
                o,
                "{} = {value}   # {python}, line{} {}",
                key(&g.name),
                if lines.len() > 1 { "s" } else { "" },
                lines.join(", ")
            );
        }
    }
    for u in &s.users {
        user(&mut o, u);
    }
    o
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn user(o: &mut String, u: &User) {
    let _ = writeln!(o, "\n# class {} (line {})", u.name, u.line);
    comment_doc(o, u.doc.as_deref());
    o.push_str("[[users]]\n");
    let _ = writeln!(o, "name = {}", string(&u.name));
    if let Some((w, python)) = &u.weight {
        let _ = writeln!(o, "weight = {w}   # {python}");
    }
    if let Some((w, python)) = &u.wait {
        let _ = writeln!(o, "wait = {w}   # {python}");
    }
    for s in &u.on_start {
        steps_entry(o, "users.on_start", s);
    }
    for s in &u.on_stop {
        steps_entry(o, "users.on_stop", s);
    }
    for t in &u.tasks {
        task(o, t);
    }
}

fn comment_doc(o: &mut String, doc: Option<&str>) {
    if let Some(doc) = doc {
        for l in doc.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let _ = writeln!(o, "# {l}");
        }
    }
}

fn task(o: &mut String, t: &Task) {
    let _ = writeln!(o, "\n# task {} (line {})", t.name, t.line);
    comment_doc(o, t.doc.as_deref());
    o.push_str("[[users.tasks]]\n");
    let _ = writeln!(o, "name = {}", string(&t.name));
    if t.weight != 1 {
        let _ = writeln!(o, "weight = {}", t.weight);
    }
    if !t.tags.is_empty() {
        let tags: Vec<String> = t.tags.iter().map(|s| string(s)).collect();
        let _ = writeln!(o, "tags = [{}]", tags.join(", "));
    }
    for s in &t.steps {
        steps_entry(o, "users.tasks.steps", s);
    }
}

/// One element of the array of tables `path`, then its own nested steps.
fn steps_entry(o: &mut String, path: &str, step: &Step) {
    match step {
        Step::Request(r) => {
            let _ = writeln!(o, "\n# line {}: {}", r.line, r.code);
            let _ = writeln!(o, "[[{path}]]");
            request(o, r);
        }
        Step::Wait(value, line) => {
            let _ = writeln!(o, "\n[[{path}]]   # line {line}");
            let _ = writeln!(o, "wait = {value}");
        }
        Step::Until(u) => {
            let _ = writeln!(o, "\n# line {}: {}", u.line, u.comment);
            let _ = writeln!(o, "[[{path}]]");
            let _ = writeln!(o, "until = {}", string(&u.cond));
            if let Some(i) = &u.interval {
                let _ = writeln!(o, "interval = {}", string(i));
            }
            if let Some(n) = u.max_tries {
                let _ = writeln!(o, "max_tries = {n}");
            }
            if let Some(t) = u.on_timeout {
                let _ = writeln!(o, "on_timeout = {}", string(t));
            }
            for s in &u.steps {
                steps_entry(o, &format!("{path}.steps"), s);
            }
        }
        Step::Loop(l) => {
            let _ = writeln!(o, "\n# line {}", l.line);
            let _ = writeln!(o, "[[{path}]]");
            let _ = writeln!(o, "loop = {}", l.count);
            for s in &l.steps {
                steps_entry(o, &format!("{path}.steps"), s);
            }
        }
        Step::Foreach(f) => {
            let _ = writeln!(o, "\n# line {}", f.line);
            let _ = writeln!(o, "[[{path}]]");
            let _ = writeln!(o, "foreach = {}", string(&f.pointer));
            let _ = writeln!(o, "as = {}", string(&f.as_));
            if let Some(sel) = &f.select {
                let _ = writeln!(o, "select = {}", string(sel));
            }
            if let Some(n) = f.limit {
                let _ = writeln!(o, "limit = {n}");
            }
            for s in &f.steps {
                steps_entry(o, &format!("{path}.steps"), s);
            }
        }
        Step::If(i) => {
            let _ = writeln!(o, "\n# line {}", i.line);
            let _ = writeln!(o, "[[{path}]]");
            let _ = writeln!(o, "if = {}", string(&i.cond));
            for s in &i.steps {
                steps_entry(o, &format!("{path}.steps"), s);
            }
            for s in &i.else_ {
                steps_entry(o, &format!("{path}.else"), s);
            }
        }
    }
}

fn request(o: &mut String, r: &Request) {
    let _ = writeln!(o, "method = {}", string(&r.method));
    let _ = writeln!(o, "path = {}", string(&r.path));
    if let Some(n) = &r.name {
        let _ = writeln!(o, "name = {}", string(n));
    }
    if !r.query.is_empty() {
        let _ = writeln!(o, "query = {}", pairs(&r.query));
    }
    if !r.headers.is_empty() {
        let _ = writeln!(o, "headers = {}", pairs(&r.headers));
    }
    match &r.json {
        Some(j) if has_null(j) => {
            // TOML has no null: the body is written as JSON text instead.
            let _ = writeln!(o, "body = {}", string(&j.to_string()));
            let _ = writeln!(o, "content_type = \"application/json\"");
        }
        Some(j) => {
            let _ = writeln!(o, "json = {}", value(j));
        }
        None => {}
    }
    if let Some(b) = &r.body {
        let _ = writeln!(o, "body = {}", string(b));
    }
    if let Some(c) = &r.content_type {
        let _ = writeln!(o, "content_type = {}", string(c));
    }
    match r.expect_status.as_slice() {
        [] => {}
        [one] => {
            let _ = writeln!(o, "expect_status = {one}");
        }
        many => {
            let list: Vec<String> = many.iter().map(u16::to_string).collect();
            let _ = writeln!(o, "expect_status = [{}]", list.join(", "));
        }
    }
    if !r.checks.is_empty() {
        let checks: Vec<String> = r
            .checks
            .iter()
            .map(|c| match c {
                Check::Json(p) => format!("{{ json = {} }}", string(p)),
                Check::JsonEquals(p, v) => {
                    format!("{{ json = {}, equals = {} }}", string(p), value(v))
                }
                Check::BodyContains(t) => format!("{{ body_contains = {} }}", string(t)),
            })
            .collect();
        let _ = writeln!(o, "checks = [{}]", checks.join(", "));
    }
    if !r.captures.is_empty() {
        let caps: Vec<String> = r
            .captures
            .iter()
            .map(|(name, c)| match c {
                Capture::Json(p) => format!("{} = {{ json = {} }}", key(name), string(p)),
                Capture::Header(h) => format!("{} = {{ header = {} }}", key(name), string(h)),
            })
            .collect();
        let _ = writeln!(o, "capture = {{ {} }}", caps.join(", "));
    }
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(has_null),
        Value::Object(m) => m.values().any(has_null),
        _ => false,
    }
}

fn pairs(list: &[(String, String)]) -> String {
    let inner: Vec<String> = list
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), string(v)))
        .collect();
    format!("{{ {} }}", inner.join(", "))
}

/// A JSON value (without nulls) as an inline TOML value.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "\"\"".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), value(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A TOML key: bare when it can be, else quoted.
pub fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { k.to_owned() } else { string(k) }
}

/// A TOML string: a literal string ('...') when that needs no escape, else a basic string.
pub fn string(s: &str) -> String {
    let literal_ok = !s.contains('\'') && !s.chars().any(char::is_control);
    if literal_ok && s.contains('"') {
        return format!("'{s}'");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_valid_toml_strings() {
        assert_eq!(string("plain"), "\"plain\"");
        assert_eq!(
            string(r#"json("/status") == "OK""#),
            r#"'json("/status") == "OK"'"#
        );
        assert_eq!(string("it's \"x\"\n"), r#""it's \"x\"\n""#);
        assert_eq!(string(r"a\b"), r#""a\\b""#);
        assert_eq!(key("Authorization"), "Authorization");
        assert_eq!(key("X Key"), "\"X Key\"");
    }
}
