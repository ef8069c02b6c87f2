//! Helpers shared by the `cicada` binary's end-to-end tests: the binary, a local HTTP server on
//! 127.0.0.1 port 0, a scenario file, and the binary's output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use axum::Router;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cicada")
}

/// Serve `app` on 127.0.0.1 (a free port) for the rest of the test; returns its base URL.
pub async fn serve_app(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Write `text` as `load.toml` in `dir`.
pub fn scenario(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("load.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Run the binary to completion.
pub async fn cicada(args: &[&str]) -> Output {
    tokio::process::Command::new(bin())
        .args(args)
        .output()
        .await
        .unwrap()
}

/// stdout then stderr, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
