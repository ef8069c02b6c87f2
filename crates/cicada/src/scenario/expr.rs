//! Conditions of flow steps (`until`, `if`): a small expression language over the user's
//! variables and the last response, parsed and checked when the scenario is loaded.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := value (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") value)?
//! value   := string | number | true | false | null | [value, ...] | ( expr )
//!          | status | json("/pointer") | header("Name") | body | NAME
//! ```
//!
//! `NAME` is a scenario variable (its value is a string, or null while unset); `status` is the
//! last response's status code (null when the request got no response), `json("/p")` the
//! value at a JSON pointer in its body (null when absent), `header("h")` a header's value.
//! A string compared with a number is compared as a number when it reads as one.
//!
//! ```
//! use cicada::scenario::expr::{Expr, Resolve};
//! let e = Expr::parse(r#"status == 200 and json("/status") in ["COMPLETED", "FAILED"]"#).unwrap();
//! assert_eq!(e.to_string(), r#"((status == 200.0) and (json("/status") in ["COMPLETED", "FAILED"]))"#);
//! assert!(Expr::parse("status = 200").is_err());
//! ```

use std::fmt;

use serde_json::Value;

use crate::template::VarId;

/// A parse or name error, at a character offset into the expression text (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::In => "in",
            Self::NotIn => "not in",
        })
    }
}

/// A parsed expression. Variables are names until [`Expr::resolve`] binds them to slots.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    List(Vec<Expr>),
    /// A variable by name (offset kept for errors), and its slot once resolved.
    Var {
        name: String,
        offset: usize,
        id: Option<VarId>,
    },
    Status,
    Json(String),
    Header(http::HeaderName),
    Body,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Box<Expr>, CmpOp, Box<Expr>),
}

/// Looks variable names up (the scenario's variable table).
pub trait Resolve {
    fn slot(&self, name: &str) -> Option<VarId>;
}

impl Resolve for crate::template::VarTable {
    fn slot(&self, name: &str) -> Option<VarId> {
        self.get(name)
    }
}

/// What a condition can read at run time.
pub trait Facts {
    /// A variable's value, `None` while unset.
    fn var(&self, id: VarId) -> Option<&str>;
    /// The last response's status, `None` when there is none.
    fn status(&self) -> Option<u16>;
    /// The value at a JSON pointer in the last response body.
    fn json(&self, pointer: &str) -> Option<Value>;
    fn header(&self, name: &http::HeaderName) -> Option<&str>;
    fn body(&self) -> Option<&str>;
}

impl Expr {
    /// Parse an expression.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end: text.chars().count(),
        };
        let e = p.or()?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(ExprError {
                offset: t.offset,
                message: format!("unexpected {} after the end of the condition", t.kind),
            }),
        }
    }

    /// Bind every variable to its slot; an unknown name is an error at its offset.
    pub fn resolve(&mut self, names: &dyn Resolve) -> Result<(), ExprError> {
        match self {
            Self::Var { name, offset, id } => {
                *id = Some(names.slot(name).ok_or_else(|| ExprError {
                    offset: *offset,
                    message: format!(
                        "unknown name {name:?} (a variable, or one of status, json(\"/ptr\"), header(\"name\"), body, true, false, null)"
                    ),
                })?);
                Ok(())
            }
            Self::List(items) => items.iter_mut().try_for_each(|i| i.resolve(names)),
            Self::Not(e) => e.resolve(names),
            Self::And(a, b) | Self::Or(a, b) | Self::Cmp(a, _, b) => {
                a.resolve(names)?;
                b.resolve(names)
            }
            _ => Ok(()),
        }
    }

    /// Whether evaluating it reads the response (status, JSON, headers or body).
    pub fn reads_response(&self) -> bool {
        match self {
            Self::Status | Self::Json(_) | Self::Header(_) | Self::Body => true,
            Self::List(items) => items.iter().any(Self::reads_response),
            Self::Not(e) => e.reads_response(),
            Self::And(a, b) | Self::Or(a, b) | Self::Cmp(a, _, b) => {
                a.reads_response() || b.reads_response()
            }
            Self::Literal(_) | Self::Var { .. } => false,
        }
    }

    /// Whether evaluating it reads the response body.
    pub fn reads_body(&self) -> bool {
        match self {
            Self::Json(_) | Self::Body => true,
            Self::List(items) => items.iter().any(Self::reads_body),
            Self::Not(e) => e.reads_body(),
            Self::And(a, b) | Self::Or(a, b) | Self::Cmp(a, _, b) => {
                a.reads_body() || b.reads_body()
            }
            _ => false,
        }
    }

    /// Evaluate as a condition.
    pub fn holds(&self, facts: &dyn Facts) -> bool {
        truthy(&self.value(facts))
    }

    fn value(&self, facts: &dyn Facts) -> Value {
        match self {
            Self::Literal(v) => v.clone(),
            Self::List(items) => Value::Array(items.iter().map(|i| i.value(facts)).collect()),
            Self::Var { id, .. } => id
                .and_then(|id| facts.var(id))
                .map_or(Value::Null, |s| Value::String(s.to_string())),
            Self::Status => facts.status().map_or(Value::Null, Value::from),
            Self::Json(p) => facts.json(p).unwrap_or(Value::Null),
            Self::Header(h) => facts
                .header(h)
                .map_or(Value::Null, |s| Value::String(s.to_string())),
            Self::Body => facts
                .body()
                .map_or(Value::Null, |s| Value::String(s.to_string())),
            Self::Not(e) => Value::Bool(!e.holds(facts)),
            Self::And(a, b) => Value::Bool(a.holds(facts) && b.holds(facts)),
            Self::Or(a, b) => Value::Bool(a.holds(facts) || b.holds(facts)),
            Self::Cmp(a, op, b) => Value::Bool(compare(&a.value(facts), *op, &b.value(facts))),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(v) => write!(f, "{v}"),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Var { name, .. } => f.write_str(name),
            Self::Status => f.write_str("status"),
            Self::Json(p) => write!(f, "json({p:?})"),
            Self::Header(h) => write!(f, "header({:?})", h.as_str()),
            Self::Body => f.write_str("body"),
            Self::Not(e) => write!(f, "(not {e})"),
            Self::And(a, b) => write!(f, "({a} and {b})"),
            Self::Or(a, b) => write!(f, "({a} or {b})"),
            Self::Cmp(a, op, b) => write!(f, "({a} {op} {b})"),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A number, or a string that reads as one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            matches!((number(a), number(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Number(_), Value::Number(_)) => number(a) == number(b),
        _ => a == b,
    }
}

fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    use std::cmp::Ordering;
    let order = || -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => match (number(a), number(b)) {
                (Some(p), Some(q)) => p.partial_cmp(&q),
                _ => Some(x.cmp(y)),
            },
            _ => number(a)?.partial_cmp(&number(b)?),
        }
    };
    let contains = || match b {
        Value::Array(items) => items.iter().any(|i| equal(a, i)),
        Value::String(s) => match a {
            Value::String(needle) => s.contains(needle.as_str()),
            Value::Number(n) => s.contains(&n.to_string()),
            _ => false,
        },
        Value::Object(map) => a.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    };
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => order() == Some(Ordering::Less),
        CmpOp::Le => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order() == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::In => contains(),
        CmpOp::NotIn => !contains(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Str(String),
    Num(f64),
    Ident(String),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "string {s:?}"),
            Self::Num(n) => write!(f, "number {n}"),
            Self::Ident(i) => write!(f, "{i:?}"),
            Self::Op(o) => write!(f, "'{o}'"),
            Self::LParen => f.write_str("'('"),
            Self::RParen => f.write_str("')'"),
            Self::LBracket => f.write_str("'['"),
            Self::RBracket => f.write_str("']'"),
            Self::Comma => f.write_str("','"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    offset: usize,
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn lex(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |offset: usize, message: String| ExprError { offset, message };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let mut push = |kind, len: usize| {
            out.push(Token {
                kind,
                offset: start,
            });
            len
        };
        i += match c {
            ' ' | '\t' | '\n' | '\r' => 1,
            '(' => push(Kind::LParen, 1),
            ')' => push(Kind::RParen, 1),
            '[' => push(Kind::LBracket, 1),
            ']' => push(Kind::RBracket, 1),
            ',' => push(Kind::Comma, 1),
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1) == Some(&'=');
                let op = match (c, next) {
                    ('=', true) => CmpOp::Eq,
                    ('!', true) => CmpOp::Ne,
                    ('<', true) => CmpOp::Le,
                    ('>', true) => CmpOp::Ge,
                    ('<', false) => CmpOp::Lt,
                    ('>', false) => CmpOp::Gt,
                    ('=', false) => {
                        return Err(err(
                            start,
                            "'=' is not an operator: write '==' to compare".into(),
                        ));
                    }
                    _ => {
                        return Err(err(
                            start,
                            "'!' is not an operator: write '!=' or 'not'".into(),
                        ));
                    }
                };
                push(Kind::Op(op), if next { 2 } else { 1 })
            }
            '"' | '\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(err(start, "unclosed string".into())),
                        Some(q) if *q == c => break,
                        Some('\\') => {
                            match chars.get(j + 1) {
                                Some(e @ ('\\' | '"' | '\'')) => s.push(*e),
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                _ => return Err(err(
                                    j,
                                    "unknown escape in string (use \\\\, \\\", \\', \\n or \\t)"
                                        .into(),
                                )),
                            }
                            j += 2;
                            continue;
                        }
                        Some(other) => s.push(*other),
                    }
                    j += 1;
                }
                push(Kind::Str(s), j + 1 - i)
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_digit() || matches!(chars[j], '.' | 'e' | 'E' | '_'))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().filter(|c| **c != '_').collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| err(start, format!("{text:?} is not a number")))?;
                push(Kind::Num(n), j - i)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && ident_char(chars[j]) {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                push(Kind::Ident(word), j - i)
            }
            other => return Err(err(start, format!("unexpected character {other:?}"))),
        };
    }
    // "not in" is one operator.
    let mut merged: Vec<Token> = Vec::with_capacity(out.len());
    for t in out {
        if t.kind == Kind::Ident("in".into())
            && merged
                .last()
                .is_some_and(|p| p.kind == Kind::Ident("not".into()))
        {
            let not = merged.pop().expect("checked");
            merged.push(Token {
                kind: Kind::Op(CmpOp::NotIn),
                offset: not.offset,
            });
        } else if t.kind == Kind::Ident("in".into()) {
            merged.push(Token {
                kind: Kind::Op(CmpOp::In),
                offset: t.offset,
            });
        } else {
            merged.push(t);
        }
    }
    Ok(merged)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: Kind::Ident(w), .. }) if w == word)
    }

    fn expected(&self, what: &str) -> ExprError {
        match self.peek() {
            Some(t) => ExprError {
                offset: t.offset,
                message: format!("expected {what}, found {}", t.kind),
            },
            None => ExprError {
                offset: self.end,
                message: format!("expected {what}, found the end of the condition"),
            },
        }
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<(), ExprError> {
        if self.peek().map(|t| &t.kind) == Some(&kind) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.not()?;
        while self.is_word("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.is_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let left = self.value()?;
        let op = match self.peek() {
            Some(Token {
                kind: Kind::Op(op), ..
            }) => *op,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.value()?;
        if let Some(Token {
            kind: Kind::Op(_),
            offset,
        }) = self.peek()
        {
            return Err(ExprError {
                offset: *offset,
                message: "comparisons do not chain: join them with 'and'".into(),
            });
        }
        Ok(Expr::Cmp(Box::new(left), op, Box::new(right)))
    }

    fn string_arg(&mut self, function: &str) -> Result<(String, usize), ExprError> {
        self.expect(Kind::LParen, &format!("'(' after {function}"))?;
        let (s, offset) = match self.next() {
            Some(Token {
                kind: Kind::Str(s),
                offset,
            }) => (s, offset),
            _ => {
                self.pos -= 1;
                return Err(self.expected(&format!("a string argument to {function}")));
            }
        };
        self.expect(Kind::RParen, &format!("')' closing {function}(...)"))?;
        Ok((s, offset))
    }

    fn value(&mut self) -> Result<Expr, ExprError> {
        let Some(t) = self.next() else {
            return Err(self.expected("a value"));
        };
        Ok(match t.kind {
            Kind::Str(s) => Expr::Literal(Value::String(s)),
            Kind::Num(n) => {
                Expr::Literal(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
            }
            Kind::LParen => {
                let e = self.or()?;
                self.expect(Kind::RParen, "')'")?;
                e
            }
            Kind::LBracket => {
                let mut items = Vec::new();
                if self.peek().map(|t| &t.kind) != Some(&Kind::RBracket) {
                    loop {
                        items.push(self.value()?);
                        if self.peek().map(|t| &t.kind) == Some(&Kind::Comma) {
                            self.pos += 1;
                            continue;
                        }
                        break;
                    }
                }
                self.expect(Kind::RBracket, "',' or ']'")?;
                Expr::List(items)
            }
            Kind::Ident(word) => match word.as_str() {
                "true" => Expr::Literal(Value::Bool(true)),
                "false" => Expr::Literal(Value::Bool(false)),
                "null" => Expr::Literal(Value::Null),
                "status" => Expr::Status,
                "body" => Expr::Body,
                "json" => {
                    let (p, offset) = self.string_arg("json")?;
                    if !(p.is_empty() || p.starts_with('/')) {
                        return Err(ExprError {
                            offset,
                            message: format!("JSON pointer {p:?} must start with '/'"),
                        });
                    }
                    Expr::Json(p)
                }
                "header" => {
                    let (h, offset) = self.string_arg("header")?;
                    Expr::Header(http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                        ExprError {
                            offset,
                            message: format!("{h:?} is not a valid header name"),
                        }
                    })?)
                }
                "and" | "or" | "not" => {
                    return Err(ExprError {
                        offset: t.offset,
                        message: format!("expected a value, found {word:?}"),
                    });
                }
                _ if self.peek().map(|t| &t.kind) == Some(&Kind::LParen) => {
                    return Err(ExprError {
                        offset: t.offset,
                        message: format!(
                            "unknown function {word:?} (expected json(\"/ptr\") or header(\"name\"))"
                        ),
                    });
                }
                _ => Expr::Var {
                    name: word,
                    offset: t.offset,
                    id: None,
                },
            },
            other => {
                self.pos -= 1;
                let _ = other;
                return Err(self.expected("a value"));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct F {
        vars: Vec<Option<String>>,
        status: Option<u16>,
        body: Value,
    }

    impl Facts for F {
        fn var(&self, id: VarId) -> Option<&str> {
            self.vars[id].as_deref()
        }
        fn status(&self) -> Option<u16> {
            self.status
        }
        fn json(&self, pointer: &str) -> Option<Value> {
            self.body.pointer(pointer).cloned()
        }
        fn header(&self, name: &http::HeaderName) -> Option<&str> {
            (name == "x-state").then_some("ready")
        }
        fn body(&self) -> Option<&str> {
            Some("plain text")
        }
    }

    struct Names;
    impl Resolve for Names {
        fn slot(&self, name: &str) -> Option<VarId> {
            ["tries", "token", "unset"].iter().position(|n| *n == name)
        }
    }

    fn eval(text: &str) -> bool {
        let mut e = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        e.resolve(&Names).unwrap();
        let f = F {
            vars: vec![Some("3".into()), Some("abc".into()), None],
            status: Some(200),
            body: json!({"status": "COMPLETED", "n": 2, "items": [1, 2, 3], "ok": true}),
        };
        e.holds(&f)
    }

    #[test]
    fn evaluates_every_operator() {
        for (text, want) in [
            ("status == 200", true),
            ("status != 200", false),
            ("status < 300", true),
            ("status <= 199", false),
            ("status > 199 and status >= 200", true),
            (r#"json("/status") == "COMPLETED""#, true),
            (r#"json("/status") in ["COMPLETED", "FAILED"]"#, true),
            (r#"json("/status") not in ["COMPLETED", "FAILED"]"#, false),
            (r#"json("/missing") == null"#, true),
            (r#"json("/ok")"#, true),
            (r#"not json("/ok")"#, false),
            (r#"2 in json("/items")"#, true),
            ("tries == 3", true),
            (r#"tries < "10""#, true),
            ("tries > 2.5", true),
            ("unset == null", true),
            ("not unset", true),
            (r#""b" in token"#, true),
            (r#"header("X-State") == "ready""#, true),
            (r#"body in "the plain text here" or false"#, true),
            (r#""plain" in body"#, true),
            ("false or (true and not false)", true),
            ("not status == 500", true),
            ("token < 5", false),
        ] {
            assert_eq!(eval(text), want, "{text}");
        }
    }

    #[test]
    fn errors_point_at_the_problem() {
        for (text, offset, part) in [
            ("status = 200", 7, "'=='"),
            ("status == ", 10, "end of the condition"),
            ("status == 200 and", 17, "expected a value"),
            (r#"json(/x)"#, 5, "unexpected character '/'"),
            (r#"json("x")"#, 5, "must start with '/'"),
            (r#"jsn("/x")"#, 0, "unknown function"),
            ("(status == 200", 14, "')'"),
            ("1 < 2 < 3", 6, "do not chain"),
            (r#""open"#, 0, "unclosed string"),
            ("status 200", 7, "after the end"),
            ("status ! 200", 7, "'!='"),
        ] {
            let e = Expr::parse(text).expect_err(text);
            assert_eq!(e.offset, offset, "{text}: {e}");
            assert!(e.message.contains(part), "{text}: {}", e.message);
        }
        let mut e = Expr::parse("tries == 1 and nope").unwrap();
        let err = e.resolve(&Names).unwrap_err();
        assert_eq!(err.offset, 15);
        assert!(err.message.contains("unknown name \"nope\""));
    }

    #[test]
    fn knows_what_it_reads() {
        let e = Expr::parse(r#"tries == 1"#).unwrap();
        assert!(!e.reads_response());
        let e = Expr::parse(r#"status == 1"#).unwrap();
        assert!(e.reads_response() && !e.reads_body());
        let e = Expr::parse(r#"not json("/a")"#).unwrap();
        assert!(e.reads_body());
    }
}
