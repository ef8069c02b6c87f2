//! Parsing Python: the source goes to Python's own `ast` module through a small helper script
//! (`ast_json.py`, embedded in this crate), which prints the tree as JSON. Nothing of the Locust
//! file is executed.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::error::ImportError;

const HELPER: &str = include_str!("ast_json.py");

/// Parse `source` with `python` (e.g. `python3`); returns the `Module` node as JSON.
pub fn parse(python: &str, file: &str, source: &str) -> Result<Value, ImportError> {
    let mut child = Command::new(python)
        .args(["-I", "-c", HELPER, file])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ImportError::PythonMissing {
            python: python.to_owned(),
            source,
        })?;
    let failed = |message: String| ImportError::PythonFailed {
        python: python.to_owned(),
        message,
    };
    // The helper reads all of stdin before it writes, so writing first cannot deadlock.
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(source.as_bytes())
        .map_err(|e| failed(e.to_string()))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(failed(format!(
            "{}: {}",
            out.status,
            stderr.trim().lines().last().unwrap_or("no message")
        )));
    }
    let mut doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| failed(format!("unreadable output of the parser helper: {e}")))?;
    if let Some(e) = doc.get("syntax_error") {
        let n = |k: &str| e.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
        return Err(ImportError::Syntax {
            file: file.to_owned(),
            line: n("line"),
            column: n("column"),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("invalid syntax")
                .to_owned(),
        });
    }
    match doc.get_mut("module") {
        Some(m) => Ok(m.take()),
        None => Err(failed("the parser helper printed no module".to_owned())),
    }
}
