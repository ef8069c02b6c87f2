//! Python expressions of a Locust function, turned into cicada's pieces: templates
//! (`f"/agents/{agent_id}"` → `/agents/{{agent_id}}`), JSON bodies, generators (`uuid4()`,
//! `random.randint`, `random.choice`), response references (`r.json()["id"]`), conditions
//! (`r.json()["status"] == "DONE"` → `json("/status") == "DONE"`) and checks.

use serde_json::Value;

use crate::ast::Node;
use crate::func::{Fx, Local};
use crate::model::{Check, GenKind};

/// A part of a response that an expression reads.
#[derive(Debug, Clone, PartialEq)]
pub enum RespPart {
    /// `r.json()[...]`: a JSON pointer ("" is the whole document).
    Json(String),
    Status,
    Header(String),
    Body,
    /// `r.ok`
    Ok,
}

/// What a passing response satisfies (from `catch_response` code).
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Status(Vec<u16>),
    Check(Check),
}

type R<T> = Result<T, String>;

impl<'a> Fx<'_, 'a> {
    /// An expression as a template string.
    pub fn tmpl(&mut self, e: Node<'a>, hint: Option<&str>) -> R<String> {
        match e.ty() {
            "Constant" => match e.constant() {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(python_scalar(v)),
                _ => Err("a constant that is not text or a number".into()),
            },
            "JoinedStr" => {
                let mut out = String::new();
                for part in e.list("values") {
                    if part.is("FormattedValue") {
                        if !part.get("format_spec").is_null() {
                            return Err("an f-string format spec (`{x:...}`)".into());
                        }
                        let inner = part.get("value");
                        let hint = inner.name().or(hint);
                        out.push_str(&self.tmpl(inner, hint)?);
                    } else {
                        out.push_str(&self.tmpl(part, hint)?);
                    }
                }
                Ok(out)
            }
            "Name" => {
                let name = e.name().unwrap_or_default();
                match self.locals.get(name).cloned() {
                    Some(Local::Tmpl(t)) => Ok(t),
                    Some(Local::Elem(var)) => {
                        self.elem_use.entry(var.clone()).or_default().push(None);
                        Ok(format!("{{{{{var}}}}}"))
                    }
                    Some(Local::Json(Value::String(s))) => Ok(s),
                    Some(Local::Json(v)) if v.is_number() => Ok(v.to_string()),
                    Some(_) => Err(format!("`{name}` is not a text value")),
                    None => match self.constant(name) {
                        Some(Value::String(s)) => Ok(s),
                        Some(v) if v.is_number() || v.is_boolean() => Ok(python_scalar(&v)),
                        _ => Err(format!("`{name}` is not a value cicada can compute")),
                    },
                }
            }
            "Attribute" => {
                if let Some(attr) = self.self_attr(e) {
                    let value = self
                        .user
                        .attrs
                        .get(attr)
                        .cloned()
                        .or_else(|| self.user.consts.get(attr).cloned().map(Local::Json));
                    return match value {
                        Some(Local::Tmpl(t)) => Ok(t),
                        Some(Local::Json(Value::String(s))) => Ok(s),
                        Some(Local::Json(v)) if v.is_number() => Ok(v.to_string()),
                        _ => Err(format!("`self.{attr}` has no value cicada can compute")),
                    };
                }
                self.resp_template(e)
            }
            "Subscript" => {
                let elem = match e.get("value").name().and_then(|n| self.locals.get(n)) {
                    Some(Local::Elem(var)) => Some(var.clone()),
                    _ => None,
                };
                match (elem, pointer_segment(e.get("slice"))) {
                    (Some(var), Some(key)) => {
                        self.elem_use
                            .entry(var.clone())
                            .or_default()
                            .push(Some(format!("/{key}")));
                        Ok(format!("{{{{{var}}}}}"))
                    }
                    (Some(_), None) => {
                        Err("an element subscript that is not a constant key".into())
                    }
                    (None, _) => self.resp_template(e),
                }
            }
            "Call" => self.call_template(e, hint),
            "BinOp" if e.get("op").is("Add") => {
                let l = self.tmpl(e.get("left"), hint)?;
                let r = self.tmpl(e.get("right"), hint)?;
                Ok(l + &r)
            }
            other => Err(format!("a {other} expression")),
        }
    }

    /// `r.json()["id"]` inside a template: captured into a variable named after the key.
    fn resp_template(&mut self, e: Node<'a>) -> R<String> {
        match self.resp_ref(e)? {
            Some((id, RespPart::Json(ptr))) if !ptr.is_empty() => {
                let hint = ptr.rsplit('/').next().unwrap_or("value").to_owned();
                let name = self.capture(id, &hint, crate::model::Capture::Json(ptr));
                Ok(format!("{{{{{name}}}}}"))
            }
            Some((id, RespPart::Header(h))) => {
                let name = self.capture(id, &h, crate::model::Capture::Header(h.clone()));
                Ok(format!("{{{{{name}}}}}"))
            }
            Some(_) => Err("a response part that is not a JSON value or a header".into()),
            None => Err(format!(
                "`{}`",
                e.dotted().unwrap_or_else(|| e.ty().to_owned())
            )),
        }
    }

    fn call_template(&mut self, e: Node<'a>, hint: Option<&str>) -> R<String> {
        let func = e.get("func").dotted().unwrap_or_default();
        let args = e.list("args");
        let line = e.line();
        match func.as_str() {
            "uuid4" | "uuid.uuid4" => {
                let name = self.generator(hint.unwrap_or("uuid"), GenKind::Uuid, line);
                Ok(format!("{{{{{name}}}}}"))
            }
            "str" if args.len() == 1 => self.tmpl(args[0], hint),
            "randint" | "random.randint" if args.len() == 2 => {
                let n = |x: Node| x.const_num().filter(|v| v.fract() == 0.0).map(|v| v as i64);
                match (n(args[0]), n(args[1])) {
                    (Some(a), Some(b)) if a <= b => {
                        let name =
                            self.generator(hint.unwrap_or("number"), GenKind::Int(a, b), line);
                        Ok(format!("{{{{{name}}}}}"))
                    }
                    _ => {
                        Err("random.randint with bounds that are not whole-number constants".into())
                    }
                }
            }
            "choice" | "random.choice" if args.len() == 1 => {
                let values = match self.json(args[0], None) {
                    Ok(Value::Array(a)) if !a.is_empty() => a,
                    _ => {
                        return Err(
                            "random.choice over something that is not a constant list".into()
                        );
                    }
                };
                let mut texts = Vec::new();
                for v in &values {
                    match v {
                        Value::String(s) if !s.contains("{{") => texts.push(s.clone()),
                        Value::Number(_) | Value::Bool(_) => texts.push(python_scalar(v)),
                        _ => {
                            return Err(
                                "random.choice over values that are not constant text or numbers"
                                    .into(),
                            );
                        }
                    }
                }
                let from = args[0].name().map(str::to_ascii_lowercase);
                let name = self.generator(
                    hint.or(from.as_deref()).unwrap_or("choice"),
                    GenKind::Choice(texts),
                    line,
                );
                Ok(format!("{{{{{name}}}}}"))
            }
            _ => Err(format!(
                "a call to {}()",
                if func.is_empty() { "a function" } else { &func }
            )),
        }
    }

    /// An expression as a JSON value (strings are templates).
    pub fn json(&mut self, e: Node<'a>, hint: Option<&str>) -> R<Value> {
        match e.ty() {
            "Constant" => match e.constant() {
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                    Ok(v.clone())
                }
                _ => Err("a constant that JSON cannot hold".into()),
            },
            "Dict" => {
                let mut m = serde_json::Map::new();
                for (k, v) in e.list("keys").into_iter().zip(e.list("values")) {
                    if k.is_null() {
                        match self.json(v, None)? {
                            Value::Object(inner) => m.extend(inner),
                            _ => return Err("`**` of something that is not a dict".into()),
                        }
                        continue;
                    }
                    let key = self.tmpl(k, None)?;
                    let value = self.json(v, Some(&key))?;
                    m.insert(key, value);
                }
                Ok(Value::Object(m))
            }
            "List" | "Tuple" => {
                let items = e.list("elts");
                items
                    .into_iter()
                    .map(|x| self.json(x, hint))
                    .collect::<R<Vec<_>>>()
                    .map(Value::Array)
            }
            "Name" => {
                let name = e.name().unwrap_or_default();
                match self.locals.get(name).cloned() {
                    Some(Local::Json(v)) => Ok(v),
                    Some(Local::Tmpl(t)) => Ok(Value::String(t)),
                    Some(Local::Resp(_)) => Err(format!("`{name}` is a response, not a value")),
                    Some(Local::Elem(_)) => self.tmpl(e, hint).map(Value::String),
                    None => self
                        .constant(name)
                        .ok_or_else(|| format!("`{name}` is not a value cicada can compute")),
                }
            }
            "Attribute" => match self.self_attr(e).map(str::to_owned) {
                Some(attr) => match self
                    .user
                    .attrs
                    .get(&attr)
                    .cloned()
                    .or_else(|| self.user.consts.get(&attr).cloned().map(Local::Json))
                {
                    Some(Local::Json(v)) => Ok(v),
                    Some(Local::Tmpl(t)) => Ok(Value::String(t)),
                    _ => Err(format!("`self.{attr}` has no value cicada can compute")),
                },
                None => self.tmpl(e, hint).map(Value::String),
            },
            _ => self.tmpl(e, hint).map(Value::String),
        }
    }

    /// A constant of the class or the module, as JSON.
    pub fn constant(&self, name: &str) -> Option<Value> {
        self.user
            .consts
            .get(name)
            .or_else(|| self.cx.consts.get(name))
            .cloned()
    }

    /// `self.NAME` (or `user.NAME` in a module-level task function) → NAME.
    pub fn self_attr(&self, e: Node<'a>) -> Option<&'a str> {
        if e.is("Attribute") && e.get("value").name() == Some(self.self_name.as_str()) {
            e.str("attr")
        } else {
            None
        }
    }

    /// What part of which response `e` reads; `Ok(None)` when it reads none.
    pub fn resp_ref(&self, e: Node<'a>) -> R<Option<(usize, RespPart)>> {
        let resp = |n: Node<'a>| match n.name().and_then(|x| self.locals.get(x)) {
            Some(Local::Resp(id)) => Some(*id),
            _ => None,
        };
        match e.ty() {
            "Attribute" => {
                let Some(id) = resp(e.get("value")) else {
                    return Ok(None);
                };
                Ok(match e.str("attr").unwrap_or_default() {
                    "status_code" => Some((id, RespPart::Status)),
                    "text" | "content" => Some((id, RespPart::Body)),
                    "ok" => Some((id, RespPart::Ok)),
                    "headers" => None,
                    other => return Err(format!("the response's `.{other}`")),
                })
            }
            "Call" => {
                let func = e.get("func");
                if func.is("Attribute") && func.str("attr") == Some("json") {
                    return Ok(
                        resp(func.get("value")).map(|id| (id, RespPart::Json(String::new())))
                    );
                }
                if func.is("Attribute") && func.str("attr") == Some("get") {
                    let args = e.list("args");
                    let Some(key) = args.first().and_then(|k| pointer_segment(*k)) else {
                        return Ok(None);
                    };
                    if args.len() > 1 {
                        return Err("`.get(key, default)` with a default".into());
                    }
                    return Ok(match self.resp_ref(func.get("value"))? {
                        Some((id, RespPart::Json(p))) => {
                            Some((id, RespPart::Json(format!("{p}/{key}"))))
                        }
                        _ => self
                            .headers_of(func.get("value"))
                            .map(|id| (id, RespPart::Header(key))),
                    });
                }
                Ok(None)
            }
            "Subscript" => {
                let Some(key) = pointer_segment(e.get("slice")) else {
                    return match self.resp_ref(e.get("value"))? {
                        Some(_) => Err("a subscript that is not a constant key or index".into()),
                        None => Ok(None),
                    };
                };
                if let Some(id) = self.headers_of(e.get("value")) {
                    return Ok(Some((id, RespPart::Header(key))));
                }
                Ok(match self.resp_ref(e.get("value"))? {
                    Some((id, RespPart::Json(p))) => {
                        Some((id, RespPart::Json(format!("{p}/{key}"))))
                    }
                    Some(_) => return Err("a subscript of a response part that is not JSON".into()),
                    None => None,
                })
            }
            _ => Ok(None),
        }
    }

    /// `r.headers` → the response's id.
    fn headers_of(&self, e: Node<'a>) -> Option<usize> {
        if e.is("Attribute") && e.str("attr") == Some("headers") {
            match e.get("value").name().and_then(|x| self.locals.get(x)) {
                Some(Local::Resp(id)) => Some(*id),
                _ => None,
            }
        } else {
            None
        }
    }

    /// A condition in cicada's expression language (docs/scenario.md); a response it reads must
    /// be the task's last.
    pub fn cond(&mut self, e: Node<'a>) -> R<String> {
        match e.ty() {
            "BoolOp" => {
                let op = if e.get("op").is("And") {
                    " and "
                } else {
                    " or "
                };
                let parts = e
                    .list("values")
                    .into_iter()
                    .map(|v| self.cond(v).map(|c| format!("({c})")))
                    .collect::<R<Vec<_>>>()?;
                Ok(parts.join(op))
            }
            "UnaryOp" if e.get("op").is("Not") => {
                Ok(format!("not ({})", self.cond(e.get("operand"))?))
            }
            "Compare" => {
                let ops = e.list("ops");
                let rights = e.list("comparators");
                if ops.len() != 1 {
                    return Err("a chained comparison".into());
                }
                let left = self.operand(e.get("left"))?;
                let (op, right) = match (ops[0].ty(), rights[0].constant()) {
                    ("Is", Some(Value::Null)) => ("==", "null".to_owned()),
                    ("IsNot", Some(Value::Null)) => ("!=", "null".to_owned()),
                    (op, _) => {
                        let op = match op {
                            "Eq" => "==",
                            "NotEq" => "!=",
                            "Lt" => "<",
                            "LtE" => "<=",
                            "Gt" => ">",
                            "GtE" => ">=",
                            "In" => "in",
                            "NotIn" => "not in",
                            other => return Err(format!("the operator {other}")),
                        };
                        (op, self.operand(rights[0])?)
                    }
                };
                Ok(format!("{left} {op} {right}"))
            }
            _ => self.operand(e),
        }
    }

    fn operand(&mut self, e: Node<'a>) -> R<String> {
        if let Some((id, part)) = self.resp_ref(e)? {
            if self.last != Some(id) {
                return Err("it reads a response that is not the task's last one (cicada's conditions read the last response)".into());
            }
            return Ok(match part {
                RespPart::Json(p) if p.is_empty() => return Err("the whole JSON document".into()),
                RespPart::Json(p) => format!("json({})", quote(&p)),
                RespPart::Status => "status".into(),
                RespPart::Header(h) => format!("header({})", quote(&h)),
                RespPart::Body => "body".into(),
                RespPart::Ok => "(status < 400)".into(),
            });
        }
        match e.ty() {
            "Constant" => match e.constant() {
                Some(Value::String(s)) => Ok(quote(s)),
                Some(Value::Null) => Ok("null".into()),
                Some(v) => Ok(python_scalar(v)),
                None => Err("a constant".into()),
            },
            "List" | "Tuple" | "Set" => {
                let items = e
                    .list("elts")
                    .into_iter()
                    .map(|x| self.operand(x))
                    .collect::<R<Vec<_>>>()?;
                Ok(format!("[{}]", items.join(", ")))
            }
            "Name" | "Attribute" => {
                let t = self.tmpl(e, None)?;
                match variable_only(&t) {
                    Some(v) => Ok(v.to_owned()),
                    None if !t.contains("{{") => Ok(quote(&t)),
                    None => Err("a value made of several variables".into()),
                }
            }
            other => Err(format!("a {other} expression")),
        }
    }

    /// What a passing response satisfies, from `if e: r.success()` (`negate` false) or
    /// `if e: r.failure(...)` (`negate` true).
    pub fn expects(&mut self, e: Node<'a>, negate: bool) -> R<Vec<Expect>> {
        match e.ty() {
            "UnaryOp" if e.get("op").is("Not") => self.expects(e.get("operand"), !negate),
            "BoolOp" => {
                let and = e.get("op").is("And");
                // pass-when (a and b) and fail-when (a or b) both give every part as a check.
                if and != negate {
                    let mut out = Vec::new();
                    for v in e.list("values") {
                        out.extend(self.expects(v, negate)?);
                    }
                    Ok(out)
                } else {
                    Err("an `or` of checks (cicada's checks must all pass)".into())
                }
            }
            "Compare" if e.list("ops").len() == 1 => {
                let op = e.list("ops")[0].ty();
                let op = match (op, negate) {
                    ("Eq", false) | ("NotEq", true) => "==",
                    ("In", false) | ("NotIn", true) => "in",
                    ("IsNot", false) | ("Is", true) => "is not",
                    _ => {
                        return Err(
                            "a comparison other than ==, != , in, not in, is (not) None".into()
                        );
                    }
                };
                let left = e.get("left");
                let right = e.list("comparators")[0];
                match op {
                    "==" => match self.resp_ref(left)? {
                        Some((_, RespPart::Status)) => {
                            Ok(vec![Expect::Status(vec![status_code(right)?])])
                        }
                        Some((_, RespPart::Json(p))) if !p.is_empty() => {
                            let v = self.json(right, None)?;
                            Ok(vec![Expect::Check(Check::JsonEquals(p, v))])
                        }
                        _ => Err(
                            "a comparison of something other than the status or a JSON value"
                                .into(),
                        ),
                    },
                    "in" => match (self.resp_ref(left)?, self.resp_ref(right)?) {
                        (Some((_, RespPart::Status)), None) => {
                            let codes = right
                                .list("elts")
                                .into_iter()
                                .map(status_code)
                                .collect::<R<Vec<_>>>()?;
                            Ok(vec![Expect::Status(codes)])
                        }
                        (None, Some((_, RespPart::Body))) => Ok(vec![Expect::Check(
                            Check::BodyContains(self.tmpl(left, None)?),
                        )]),
                        (None, Some((_, RespPart::Json(p)))) => {
                            let key =
                                pointer_segment(left).ok_or("a key that is not a constant")?;
                            Ok(vec![Expect::Check(Check::Json(format!("{p}/{key}")))])
                        }
                        _ => Err("an `in` test cicada's checks cannot say".into()),
                    },
                    _ => match (self.resp_ref(left)?, right.constant()) {
                        (Some((_, RespPart::Json(p))), Some(Value::Null)) if !p.is_empty() => {
                            Ok(vec![Expect::Check(Check::Json(p))])
                        }
                        _ => Err("an `is` test other than a JSON value `is not None`".into()),
                    },
                }
            }
            _ if !negate => match self.resp_ref(e)? {
                Some((_, RespPart::Json(p))) if !p.is_empty() => {
                    Ok(vec![Expect::Check(Check::Json(p))])
                }
                Some((_, RespPart::Ok)) => Ok(vec![Expect::Status(Vec::new())]),
                _ => Err("a test cicada's checks cannot say".into()),
            },
            _ => Err("a test cicada's checks cannot say".into()),
        }
    }
}

fn status_code(e: Node) -> R<u16> {
    e.const_num()
        .filter(|v| v.fract() == 0.0 && (100.0..=999.0).contains(v))
        .map(|v| v as u16)
        .ok_or_else(|| "a status that is not a constant code".into())
}

/// A constant dict key or list index as a JSON pointer segment (`~` and `/` escaped).
fn pointer_segment(e: Node) -> Option<String> {
    match e.constant()? {
        Value::String(s) => Some(s.replace('~', "~0").replace('/', "~1")),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// `{{name}}` → `name`.
fn variable_only(t: &str) -> Option<&str> {
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains('{') && !inner.contains('}')).then_some(inner)
}

/// A string literal of the expression language.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A number or bool as Python prints it in an f-string (`True`, `3`, `1.5`).
fn python_scalar(v: &Value) -> String {
    match v {
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}
