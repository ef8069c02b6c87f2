//! Executing one compiled request for a virtual user: render, send, judge, capture, record.

use std::time::{Duration, Instant};

use bytes::Bytes;
use cicada_report::model::FailureKind;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Uri};
use http_body_util::Full;

use super::Shared;
use super::vu::{LastResponse, Vu};
use crate::http::HttpResponse;
use crate::scenario::compile::{
    CompiledBody, CompiledCaptureSource, CompiledCheck, CompiledRequest, HeaderTemplate,
    JsonTemplate, Program, percent_encode_into,
};
use crate::stats::{Sample, ServerTimes};

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
    let request = match build(shared, vu, req) {
        Ok(r) => r,
        Err(message) => {
            vu.shard.record(
                req.row,
                &Sample::default(),
                Some((FailureKind::Other, &message)),
            );
            if req.keep {
                vu.last = None;
            }
            return false;
        }
    };
    let result = vu.client.send(request, req.needs_body).await;
    let total_us = micros(origin.elapsed()).max(1);
    match result {
        Err(f) => {
            let sample = Sample {
                total_us,
                ttfb_us: f.ttfb.map_or(0, micros),
                connect_us: f.connect.map(micros),
                bytes: 0,
                server: None,
            };
            vu.shard
                .record(req.row, &sample, Some((f.kind, &f.message)));
            if req.keep {
                vu.last = None;
            }
            false
        }
        Ok(response) => {
            let sample = Sample {
                total_us,
                ttfb_us: micros(response.ttfb),
                connect_us: response.connect.map(micros),
                bytes: response.bytes,
                server: ServerTimes::from_headers(&response.headers),
            };
            let ok = match judge(vu, req, &response) {
                Ok(()) => {
                    vu.shard.record(req.row, &sample, None);
                    true
                }
                Err((kind, message)) => {
                    vu.shard.record(req.row, &sample, Some((kind, &message)));
                    false
                }
            };
            if req.keep {
                vu.last = Some(LastResponse {
                    status: response.status.as_u16(),
                    headers: response.headers,
                    body: response.body,
                    json: std::sync::OnceLock::new(),
                });
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

/// Render a request's URI (base path, path, query) into `buf`, then parse it.
pub fn render_uri(
    program: &Program,
    base_path: &str,
    req: &CompiledRequest,
    vars: &[Option<String>],
    buf: &mut String,
    scratch: &mut String,
) -> Result<Uri, String> {
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
    Uri::try_from(buf.as_str()).map_err(|_| "rendered path is not a valid URI".to_string())
}

/// URIs of requests without variables in path or query, rendered once per run.
pub fn static_uris(program: &Program, base_path: &str) -> Vec<Option<Uri>> {
    let mut uris = vec![None; program.request_count];
    let (mut buf, mut scratch) = (String::new(), String::new());
    for req in program.requests() {
        let fixed = req.path.as_static().is_some()
            && req.query.iter().all(|(_, v)| v.as_static().is_some());
        if fixed {
            uris[req.id] = render_uri(program, base_path, req, &[], &mut buf, &mut scratch).ok();
        }
    }
    uris
}

fn build(
    shared: &Shared,
    vu: &mut Vu,
    req: &CompiledRequest,
) -> Result<http::Request<Full<Bytes>>, String> {
    let program = &*shared.program;
    let Vu {
        vars, buf, scratch, ..
    } = vu;
    let uri = match &shared.static_uris[req.id] {
        Some(uri) => uri.clone(),
        None => render_uri(program, &shared.base_path, req, vars, buf, scratch)?,
    };
    let body = match &req.body {
        CompiledBody::None => None,
        CompiledBody::Static(bytes, ct) => Some((bytes.clone(), ct.clone())),
        CompiledBody::Raw(t, ct) => {
            let text = t.render(vars).map_err(|id| unset(program, id))?;
            Some((Bytes::from(text), ct.clone()))
        }
        CompiledBody::Json(t) => {
            let mut out = String::new();
            render_json(t, vars, &mut out).map_err(|id| unset(program, id))?;
            Some((
                Bytes::from(out),
                HeaderValue::from_static("application/json"),
            ))
        }
    };
    let mut request = http::Request::new(Full::new(
        body.as_ref().map(|b| b.0.clone()).unwrap_or_default(),
    ));
    *request.method_mut() = req.method.clone();
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.reserve(req.headers.len() + 3);
    if let Some((_, ct)) = body {
        headers.insert(CONTENT_TYPE, ct);
    }
    for (name, value) in &req.headers {
        let value = match value {
            HeaderTemplate::Static(v) => v.clone(),
            HeaderTemplate::Dynamic {
                template,
                inherited,
            } => {
                scratch.clear();
                match template.render_into(vars, scratch) {
                    Ok(()) => {}
                    Err(_) if *inherited => continue,
                    Err(id) => return Err(unset(program, id)),
                }
                HeaderValue::from_str(scratch)
                    .map_err(|_| format!("rendered header {name} is not a valid header value"))?
            }
        };
        headers.insert(name.clone(), value);
    }
    Ok(request)
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
fn judge(
    vu: &mut Vu,
    req: &CompiledRequest,
    response: &HttpResponse,
) -> Result<(), (FailureKind, String)> {
    let status = response.status.as_u16();
    let status_ok = if req.expect_status.is_empty() {
        (200..400).contains(&status)
    } else {
        req.expect_status.contains(&status)
    };
    if !status_ok {
        return Err((FailureKind::Status, format!("HTTP {status}")));
    }
    let body: &[u8] = response.body.as_deref().unwrap_or_default();
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
        if !ok {
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
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
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
