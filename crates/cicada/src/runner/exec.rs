//! Executing one compiled request for a virtual user: render, send, judge, capture, record.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use cicada_report::model::FailureKind;

use super::Shared;
use super::vu::{LastResponse, Vu};
use crate::http::request::valid_target;
use crate::http::{Exchange, Prepared, ResponseView};
use crate::scenario::compile::{
    CompiledBody, CompiledCaptureSource, CompiledCheck, CompiledRequest, HeaderTemplate,
    JsonTemplate, Program, percent_encode_into,
};
use crate::stats::{HttpStatus, Sample};

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Run one request and record it. `timed_from` is the instant latency counts from (the
/// intended start in the open model); `None` means "now". Returns whether it succeeded.
pub async fn execute(
    shared: &Shared,
    vu: &mut Vu,
    req: &CompiledRequest,
    timed_from: Option<Instant>,
) -> bool {
    let started = Instant::now();
    let origin = timed_from.unwrap_or(started).min(started);
    let result = match build(shared, vu, req) {
        Ok(body) => {
            let body = body.as_ref().map(|(b, ct)| (b.as_ref(), *ct));
            vu.client.send(body, req.needs_body).await
        }
        Err(message) => {
            let unsent = Sample {
                status: HttpStatus::NoResponse,
                ..Sample::default()
            };
            vu.shard
                .record(req.row, &unsent, Some((FailureKind::Other, &message)));
            if req.keep {
                vu.last = None;
            }
            return false;
        }
    };
    let total_us = micros(origin.elapsed()).max(1);
    match result {
        Err(f) => {
            let sample = Sample {
                total_us,
                ttfb_us: f.ttfb.map_or(0, micros),
                connect_us: f.connect.map(micros),
                status: HttpStatus::NoResponse,
                ..Sample::default()
            };
            vu.shard
                .record(req.row, &sample, Some((f.kind, &f.message)));
            if req.keep {
                vu.last = None;
            }
            false
        }
        Ok(exchange) => {
            let mut sample = Sample {
                total_us,
                ttfb_us: micros(exchange.ttfb),
                connect_us: exchange.connect.map(micros),
                bytes: exchange.bytes,
                server: exchange.server,
                status: HttpStatus::Code(exchange.status),
                ..Sample::default()
            };
            let judged = judge(vu, req, &exchange, &mut sample);
            let ok = match judged {
                Ok(()) => {
                    vu.shard.record(req.row, &sample, None);
                    true
                }
                Err((kind, message)) => {
                    // The body's first bytes go with the failure (copied only when it
                    // starts a new failure group).
                    let excerpt = vu.client.response().excerpt();
                    vu.shard
                        .record_failed_response(req.row, &sample, kind, &message, excerpt);
                    false
                }
            };
            if req.keep {
                vu.last = Some(LastResponse::of(&vu.client.response()));
            }
            ok
        }
    }
}

fn unset(program: &Program, id: usize) -> String {
    format!(
        "variable {{{{{}}}}} has no value yet (its capture has not run or failed)",
        program.vars.name(id)
    )
}

/// Render a request's target (base path, path, query) into `buf` and check it.
pub fn render_uri(
    program: &Program,
    base_path: &str,
    req: &CompiledRequest,
    vars: &[Option<String>],
    buf: &mut String,
    scratch: &mut String,
) -> Result<(), String> {
    buf.clear();
    buf.push_str(base_path);
    req.path
        .render_into(vars, buf)
        .map_err(|id| unset(program, id))?;
    for (i, (key, value)) in req.query.iter().enumerate() {
        buf.push(if i == 0 && !buf.contains('?') {
            '?'
        } else {
            '&'
        });
        buf.push_str(key);
        buf.push('=');
        scratch.clear();
        value
            .render_into(vars, scratch)
            .map_err(|id| unset(program, id))?;
        percent_encode_into(scratch, buf);
    }
    if valid_target(buf) {
        Ok(())
    } else {
        Err("rendered path is not a valid URI".to_string())
    }
}

/// What every request sends the same each time (the request line when path and query have
/// no variables, `Host`, fixed headers), rendered once per run, by request id.
pub fn prepare(program: &Program, base_path: &str, host: &str) -> Vec<Prepared> {
    let mut prepared = vec![Prepared::default(); program.request_count];
    let (mut buf, mut scratch) = (String::new(), String::new());
    for req in program.requests() {
        let fixed = req.path.as_static().is_some()
            && req.query.iter().all(|(_, v)| v.as_static().is_some());
        let target = (fixed
            && render_uri(program, base_path, req, &[], &mut buf, &mut scratch).is_ok())
        .then_some(buf.as_str());
        let fixed_headers = req.headers.iter().filter_map(|(name, value)| match value {
            HeaderTemplate::Static(v) => Some((name.as_str(), v.as_bytes())),
            HeaderTemplate::Dynamic { .. } => None,
        });
        let names = req.headers.iter().map(|(name, _)| name.as_str());
        // Compiled header names and values are valid: preparing cannot fail on them.
        if let Ok(p) = Prepared::new(&req.method, host, target, fixed_headers, names) {
            prepared[req.id] = p;
        }
    }
    prepared
}

/// A request body and its content type.
type Body<'r> = (Cow<'r, [u8]>, &'r [u8]);

/// Write the request into the user's client; returns its body.
fn build<'r>(
    shared: &Shared,
    vu: &mut Vu,
    req: &'r CompiledRequest,
) -> Result<Option<Body<'r>>, String> {
    let program = &*shared.program;
    let Vu {
        vars,
        buf,
        scratch,
        client,
        ..
    } = vu;
    let prepared = &shared.prepared[req.id];
    let body = match &req.body {
        CompiledBody::None => None,
        CompiledBody::Static(bytes, ct) => Some((Cow::Borrowed(bytes.as_ref()), ct.as_bytes())),
        CompiledBody::Raw(t, ct) => {
            let text = t.render(vars).map_err(|id| unset(program, id))?;
            Some((Cow::Owned(text.into_bytes()), ct.as_bytes()))
        }
        CompiledBody::Json(t) => {
            let mut out = String::new();
            render_json(t, vars, &mut out).map_err(|id| unset(program, id))?;
            Some((Cow::Owned(out.into_bytes()), &b"application/json"[..]))
        }
    };
    let target = if prepared.has_line() {
        None
    } else {
        render_uri(program, &shared.base_path, req, vars, buf, scratch)?;
        Some(buf.as_str())
    };
    let mut writer = client
        .request(prepared, &req.method, target)
        .map_err(|e| e.to_string())?;
    for (name, value) in &req.headers {
        let HeaderTemplate::Dynamic {
            template,
            inherited,
        } = value
        else {
            continue;
        };
        scratch.clear();
        match template.render_into(vars, scratch) {
            Ok(()) => {}
            Err(_) if *inherited => continue,
            Err(id) => return Err(unset(program, id)),
        }
        writer
            .header(name.as_str(), scratch.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    Ok(body)
}

fn render_json(t: &JsonTemplate, vars: &[Option<String>], out: &mut String) -> Result<(), usize> {
    match t {
        JsonTemplate::Literal(v) => out.push_str(&v.to_string()),
        JsonTemplate::String(s) => {
            let text = s.render(vars)?;
            out.push_str(&serde_json::Value::String(text).to_string());
        }
        JsonTemplate::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_json(item, vars, out)?;
            }
            out.push(']');
        }
        JsonTemplate::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                render_json(v, vars, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Decide whether a response passes, and take its captures.
/// Judge a response: its status, then its checks in order (counted in `sample`), then its
/// captures.
fn judge(
    vu: &mut Vu,
    req: &CompiledRequest,
    exchange: &Exchange,
    sample: &mut Sample,
) -> Result<(), (FailureKind, String)> {
    let status = exchange.status;
    let response: ResponseView<'_> = vu.client.response();
    let status_ok = if req.expect_status.is_empty() {
        (200..400).contains(&status)
    } else {
        req.expect_status.contains(&status)
    };
    if !status_ok {
        return Err((FailureKind::Status, format!("HTTP {status}")));
    }
    let body: &[u8] = response.body().unwrap_or_default();
    let mut json: Option<Option<serde_json::Value>> = None;
    let mut parsed = || -> Option<serde_json::Value> { serde_json::from_slice(body).ok() };
    for check in &req.checks {
        let ok = match check {
            CompiledCheck::Status(s) => status == *s,
            CompiledCheck::JsonExists(p) => json
                .get_or_insert_with(&mut parsed)
                .as_ref()
                .is_some_and(|v| v.pointer(p).is_some()),
            CompiledCheck::JsonEquals(p, expected) => json
                .get_or_insert_with(&mut parsed)
                .as_ref()
                .is_some_and(|v| v.pointer(p) == Some(expected)),
            CompiledCheck::BodyContains(text) => memchr_find(body, text.as_bytes()),
        };
        sample.checks_run += 1;
        if ok {
            sample.checks_passed += 1;
        } else {
            let what = match check {
                CompiledCheck::Status(s) => format!("status == {s}"),
                CompiledCheck::JsonExists(p) => format!("JSON {p} exists"),
                CompiledCheck::JsonEquals(p, v) => format!("JSON {p} == {v}"),
                CompiledCheck::BodyContains(t) => format!("body contains {t:?}"),
            };
            return Err((FailureKind::Check, format!("check failed: {what}")));
        }
    }
    for capture in &req.captures {
        let value = match &capture.source {
            CompiledCaptureSource::JsonPointer(p) => json
                .get_or_insert_with(&mut parsed)
                .as_ref()
                .and_then(|v| v.pointer(p))
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            CompiledCaptureSource::Header(h) => response
                .header(h.as_str())
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string),
            CompiledCaptureSource::Regex(re) => std::str::from_utf8(body).ok().and_then(|text| {
                re.captures(text)
                    .and_then(|c| c.get(1).or_else(|| c.get(0)))
                    .map(|m| m.as_str().to_string())
            }),
        };
        match value {
            Some(v) => vu.vars[capture.var] = Some(v),
            None => {
                let source = match &capture.source {
                    CompiledCaptureSource::JsonPointer(p) => format!("JSON {p}"),
                    CompiledCaptureSource::Header(h) => format!("header {h}"),
                    CompiledCaptureSource::Regex(r) => format!("regex {:?}", r.as_str()),
                };
                return Err((
                    FailureKind::Protocol,
                    format!("capture failed: {source} not found in the response"),
                ));
            }
        }
    }
    Ok(())
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
