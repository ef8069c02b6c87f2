//! Capture of what the target prints: the last lines are kept in memory (to show when it fails
//! to start), and everything can be appended to a log file.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

/// Lines kept in memory.
const KEEP_LINES: usize = 200;

/// The last lines a target printed on stdout and stderr, interleaved as they arrived.
#[derive(Debug, Clone, Default)]
pub struct OutputLog {
    lines: Arc<Mutex<VecDeque<String>>>,
}

type SharedFile = Arc<Mutex<std::fs::File>>;

impl OutputLog {
    /// Take the child's stdout and stderr and read them in background tasks until they close.
    pub(crate) fn capture(child: &mut Child, log_file: Option<&Path>) -> Self {
        let log = OutputLog::default();
        let file = log_file.and_then(|path| {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(file) => Some(Arc::new(Mutex::new(file))),
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "cannot open target log file");
                    None
                }
            }
        });
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(log.clone().pump(stdout, file.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log.clone().pump(stderr, file));
        }
        log
    }

    /// The kept lines joined with newlines (empty if the target printed nothing).
    pub fn recent(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEEP_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    async fn pump(self, stream: impl AsyncRead + Unpin, file: Option<SharedFile>) {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Some(file) = &file {
                        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = file.write_all(&buf);
                    }
                    let text = String::from_utf8_lossy(&buf);
                    self.push(text.trim_end_matches(['\n', '\r']).to_string());
                }
            }
        }
    }
}
