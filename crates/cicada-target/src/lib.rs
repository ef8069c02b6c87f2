//! A managed local load-test target.
//!
//! `cicada run --target-cmd 'dryad serve' --target-ready http://127.0.0.1:8000/ready` starts the
//! system under test, waits until its readiness URL answers 2xx, keeps its PID (for resource
//! tracking), and stops it cleanly when the run ends — on success, on failure and on Ctrl-C. The
//! target runs in a process group of its own, so the whole tree it starts is signalled together
//! and nothing is left behind; dropping a [`ManagedTarget`] that was not stopped kills the group.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cicada_target::TargetError> {
//! use std::time::Duration;
//! use cicada_target::{ManagedTarget, TargetSpec};
//!
//! let spec = TargetSpec::new("dryad serve --bind 127.0.0.1:8000")
//!     .ready_url("http://127.0.0.1:8000/ready".parse()?)
//!     .ready_timeout(Duration::from_secs(30));
//! let target = ManagedTarget::start(&spec).await?;
//! println!("target pid {}", target.pid());
//! // ... run the load test ...
//! let outcome = target.stop().await?;
//! println!("target stopped: {}", outcome.status);
//! # Ok(()) }
//! ```

mod output;
mod ready;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

pub use output::OutputLog;
pub use ready::{ProbeError, ReadyUrl, ReadyUrlError};

/// How to start and stop a target.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    command: String,
    ready_url: Option<ReadyUrl>,
    ready_timeout: Duration,
    stop_timeout: Duration,
    log_file: Option<PathBuf>,
}

impl TargetSpec {
    /// A target started as `sh -c COMMAND`, with no readiness URL, a 60 s ready timeout and a
    /// 10 s stop timeout.
    pub fn new(command: impl Into<String>) -> Self {
        TargetSpec {
            command: command.into(),
            ready_url: None,
            ready_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
            log_file: None,
        }
    }

    /// Wait until a GET of this URL answers 2xx before traffic starts.
    pub fn ready_url(mut self, url: ReadyUrl) -> Self {
        self.ready_url = Some(url);
        self
    }

    /// How long to wait for readiness before giving up (the target is then stopped).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How long to wait after SIGTERM before the process group is killed.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Append everything the target prints (stdout and stderr) to this file as well.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// The command line, as given.
    pub fn command(&self) -> &str {
        &self.command
    }
}

/// Why a target could not be started, made ready or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot start target `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("target `{command}` exited ({status}) before it was ready; its last output:\n{output}")]
    ExitedBeforeReady {
        command: String,
        status: String,
        output: String,
    },
    #[error(
        "target `{command}` was not ready at {url} within {timeout:?} (last attempt: {last_error}); \
         it was stopped; its last output:\n{output}"
    )]
    NotReady {
        command: String,
        url: String,
        timeout: Duration,
        last_error: String,
        output: String,
    },
    #[error(transparent)]
    ReadyUrl(#[from] ReadyUrlError),
    #[error("cannot signal target process group {pgid}: {source}")]
    Signal {
        pgid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("waiting for target: {0}")]
    Wait(#[source] std::io::Error),
}

/// How a stopped target ended.
#[derive(Debug, Clone)]
pub struct StopOutcome {
    /// The exit status of the target's main process, as text (`exit status: 0`, `signal: 9`).
    pub status: String,
    /// True when the target did not exit within the stop timeout and was killed.
    pub killed: bool,
    /// How long the stop took.
    pub took: Duration,
}

/// A running target. Stop it with [`ManagedTarget::stop`]; if it is dropped instead, its whole
/// process group is killed.
#[derive(Debug)]
pub struct ManagedTarget {
    child: Child,
    pid: u32,
    command: String,
    stop_timeout: Duration,
    log: OutputLog,
    stopped: bool,
}

impl ManagedTarget {
    /// Start the target and wait until it is ready.
    pub async fn start(spec: &TargetSpec) -> Result<Self, TargetError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&spec.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| TargetError::Spawn {
                command: spec.command.clone(),
                source,
            })?;
        let pid = child.id().expect("a just-spawned child has a pid");
        let log = OutputLog::capture(&mut child, spec.log_file.as_deref());
        let mut target = ManagedTarget {
            child,
            pid,
            command: spec.command.clone(),
            stop_timeout: spec.stop_timeout,
            log,
            stopped: false,
        };
        match target.wait_ready(spec).await {
            Ok(()) => Ok(target),
            Err(err) => {
                // Best effort: the error is what matters to the caller.
                let _ = target.stop_inner().await;
                Err(err)
            }
        }
    }

    /// PID of the target's main process (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last lines the target printed.
    pub fn recent_output(&self) -> String {
        self.log.recent()
    }

    /// Stop the target: SIGTERM to its process group, wait up to the stop timeout for every
    /// process in the group to exit, then SIGKILL what is left.
    pub async fn stop(mut self) -> Result<StopOutcome, TargetError> {
        self.stop_inner().await
    }

    async fn wait_ready(&mut self, spec: &TargetSpec) -> Result<(), TargetError> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(TargetError::Wait)? {
                // Give the output readers a moment to drain the pipes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(TargetError::ExitedBeforeReady {
                    command: self.command.clone(),
                    status: status.to_string(),
                    output: self.log.recent(),
                });
            }
            let Some(url) = &spec.ready_url else {
                return Ok(());
            };
            let last_error = match url.probe(Duration::from_secs(2)).await {
                Ok(status) if (200..300).contains(&status) => return Ok(()),
                Ok(status) => format!("HTTP {status}"),
                Err(err) => err.to_string(),
            };
            if started.elapsed() >= spec.ready_timeout {
                return Err(TargetError::NotReady {
                    command: self.command.clone(),
                    url: url.to_string(),
                    timeout: spec.ready_timeout,
                    last_error,
                    output: self.log.recent(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop_inner(&mut self) -> Result<StopOutcome, TargetError> {
        let started = Instant::now();
        self.stopped = true;
        let pgid = Pid::from_raw(self.pid as i32);
        if let Err(source) = killpg(pgid, Signal::SIGTERM)
            && source != nix::errno::Errno::ESRCH
        {
            return Err(TargetError::Signal {
                pgid: self.pid,
                source,
            });
        }
        let deadline = started + self.stop_timeout;
        let mut status = None;
        let mut killed = false;
        loop {
            if status.is_none() {
                status = self.child.try_wait().map_err(TargetError::Wait)?;
            }
            // The group is gone once no process in it remains (signal 0 probes).
            let group_alive = killpg(pgid, None).is_ok();
            if status.is_some() && !group_alive {
                break;
            }
            if Instant::now() >= deadline {
                killed = true;
                let _ = killpg(pgid, Signal::SIGKILL);
                if status.is_none() {
                    status = Some(self.child.wait().await.map_err(TargetError::Wait)?);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let status = status.expect("the loop ends with a status");
        Ok(StopOutcome {
            status: status.to_string(),
            killed,
            took: started.elapsed(),
        })
    }
}

impl Drop for ManagedTarget {
    fn drop(&mut self) {
        if !self.stopped {
            tracing::warn!(
                pid = self.pid,
                "managed target dropped without stop: killing it"
            );
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
    }
}
