//! The coordinator (`cicada run --master`): it runs no users. It listens for workers, admits
//! up to `--expect-workers` of them after a handshake, sends each its part of a run and the
//! common start, merges the data they send every second exactly, and keeps the run's live view,
//! thresholds and reports. [`Coordinator`] is a [`cicada_web::Driver`], so `--master --web`
//! steers the workers from the page and the API unchanged.

mod conn;
pub mod run;
mod view;

pub use run::DistRun;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use cicada::runner::RunConfig;
use cicada_report::RunReport;
use cicada_report::model::WorkerStatus;
use cicada_session::log::Log;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};

use crate::error::DistError;
use crate::protocol::{DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_PORT, HEARTBEAT_EVERY, Hello, ToWorker};

/// The coordinator's settings, validated by [`Coordinator::bind`].
#[derive(Clone)]
pub struct CoordinatorOptions {
    /// `--master-bind-host`: an IP address, or `*` for every interface.
    pub bind_host: String,
    /// `--master-bind-port` (0: a free one).
    pub bind_port: u16,
    /// `--expect-workers`.
    pub expect_workers: u64,
    /// `--master-auth-token`: required of every worker when set; required to be set off
    /// loopback.
    pub token: Option<String>,
    /// A worker not heard from for this long is lost.
    pub heartbeat_timeout: Duration,
    /// `--stop-on-worker-loss`: a lost worker stops the run (else the rest carry on).
    pub stop_on_worker_loss: bool,
    /// `--abort-on-threshold-fail [DELAY]`: from this far into the run on, the thresholds are
    /// judged on the merged numbers once a second and the first one that fails on data stops
    /// every worker (k6's `abortOnFail` with its `delayAbortEval`); `None`: never abort.
    pub abort_on_threshold_fail: Option<Duration>,
    /// The scenario's name and [`crate::scenario_hash`] (a worker's must match).
    pub scenario_name: String,
    pub scenario_hash: String,
}

impl std::fmt::Debug for CoordinatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorOptions")
            .field("bind_host", &self.bind_host)
            .field("bind_port", &self.bind_port)
            .field("expect_workers", &self.expect_workers)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("stop_on_worker_loss", &self.stop_on_worker_loss)
            .field("abort_on_threshold_fail", &self.abort_on_threshold_fail)
            .field("scenario_hash", &self.scenario_hash)
            .finish_non_exhaustive()
    }
}

impl Default for CoordinatorOptions {
    fn default() -> Self {
        Self {
            bind_host: "127.0.0.1".into(),
            bind_port: DEFAULT_PORT,
            expect_workers: 1,
            token: None,
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            stop_on_worker_loss: false,
            abort_on_threshold_fail: None,
            scenario_name: String::new(),
            scenario_hash: String::new(),
        }
    }
}

impl CoordinatorOptions {
    /// The address to bind, refusing a non-loopback one without a token.
    pub fn bind_addr(&self) -> Result<SocketAddr, DistError> {
        if self.expect_workers == 0 {
            return Err(DistError::NoWorkers);
        }
        let ip = match self.bind_host.trim() {
            "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| DistError::BadBindHost(h.to_string()))?,
        };
        if !ip.is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            return Err(DistError::TokenRequired(ip));
        }
        Ok(SocketAddr::new(ip, self.bind_port))
    }
}

/// A listening coordinator. Dropping it does not stop its tasks: call [`Coordinator::quit`].
#[derive(Clone)]
pub struct Coordinator {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) opts: CoordinatorOptions,
    pub(crate) id: String,
    pub(crate) log: Arc<dyn Log>,
    state: Mutex<State>,
    /// Bumped on every change (a worker attached, sent data, ended, was lost).
    pub(crate) changed: watch::Sender<u64>,
}

#[derive(Default)]
pub(crate) struct State {
    next_conn: u64,
    /// The attached workers, by index (`expect_workers` slots).
    pub(crate) conns: Vec<Option<Conn>>,
    /// The current or last run.
    pub(crate) run: Option<run::RunRecord>,
    runs: u64,
    quitting: bool,
}

pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) hello: Hello,
    pub(crate) tx: mpsc::UnboundedSender<ToWorker>,
    pub(crate) kill: Arc<Notify>,
    pub(crate) last_heard: Instant,
    pub(crate) rtt_ms: Option<f64>,
    pub(crate) skew_ms: Option<f64>,
}

impl Conn {
    pub(crate) fn label(&self, index: usize) -> String {
        format!(
            "worker {index} ({}, pid {})",
            self.hello.hostname, self.hello.pid
        )
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Send to every attached worker.
    pub(crate) fn broadcast(state: &State, msg: &ToWorker) {
        for c in state.conns.iter().flatten() {
            let _ = c.tx.send(msg.clone());
        }
    }
}

impl Coordinator {
    /// Validate the options, listen, and start admitting workers.
    pub async fn bind(opts: CoordinatorOptions, log: Arc<dyn Log>) -> Result<Self, DistError> {
        let want = opts.bind_addr()?;
        let listener = TcpListener::bind(want).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                DistError::AddrInUse { addr: want }
            } else {
                DistError::Bind {
                    addr: want,
                    source: e,
                }
            }
        })?;
        let addr = listener.local_addr().map_err(|e| DistError::Bind {
            addr: want,
            source: e,
        })?;
        let slots = usize::try_from(opts.expect_workers).unwrap_or(usize::MAX);
        let state = State {
            conns: (0..slots).map(|_| None).collect(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            opts,
            id: uuid::Uuid::new_v4().to_string(),
            log,
            state: Mutex::new(state),
            changed: watch::channel(0).0,
        });
        tokio::spawn(accept_loop(Arc::clone(&shared), listener));
        tokio::spawn(heartbeat(Arc::clone(&shared)));
        Ok(Self { shared, addr })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `--expect-workers`.
    pub fn expected(&self) -> u64 {
        self.shared.opts.expect_workers
    }

    /// Workers attached now.
    pub fn attached(&self) -> u64 {
        self.shared.lock().conns.iter().flatten().count() as u64
    }

    /// Wait until every expected worker is attached, at most `max_wait` (`None`: forever).
    pub async fn wait_for_workers(&self, max_wait: Option<Duration>) -> Result<(), DistError> {
        let started = Instant::now();
        let mut changed = self.shared.changed.subscribe();
        loop {
            let attached = self.attached();
            if attached >= self.expected() {
                return Ok(());
            }
            let wait = match max_wait {
                Some(m) => match m.checked_sub(started.elapsed()) {
                    Some(left) => left,
                    None => {
                        return Err(DistError::NotEnoughWorkers {
                            attached,
                            expected: self.expected(),
                            waited_s: m.as_secs(),
                        });
                    }
                },
                None => Duration::from_secs(3600),
            };
            let _ = tokio::time::timeout(wait, changed.changed()).await;
        }
    }

    /// Start a run on the attached workers: each gets the whole run's options, its stripe of
    /// `--expect-workers` and a common start about two seconds from now.
    pub async fn start(&self, config: RunConfig) -> Result<DistRun, run::StartFailure> {
        run::start(Arc::clone(&self.shared), config).await
    }

    /// Tell every worker to exit, and stop admitting.
    pub fn quit(&self) {
        let mut s = self.shared.lock();
        s.quitting = true;
        Shared::broadcast(&s, &ToWorker::Quit);
        for c in s.conns.iter_mut() {
            *c = None;
        }
    }

    /// The last run's live view (`None` before the first run).
    pub fn snapshot(&self) -> Option<RunReport> {
        let mut s = self.shared.lock();
        s.run.as_mut().map(|r| view::merged(r).as_ref().clone())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if shared.lock().quitting {
                    return;
                }
                tokio::spawn(conn::serve(Arc::clone(&shared), stream, peer));
            }
            Err(e) => {
                shared
                    .log
                    .line(&format!("cicada: accepting a worker failed: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Every second: a ping to each worker; a worker silent beyond the timeout is cut off (its
/// connection task then marks it lost).
async fn heartbeat(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        let s = shared.lock();
        if s.quitting {
            return;
        }
        let ping = ToWorker::Ping {
            ping_ms: crate::protocol::unix_ms(SystemTime::now()),
        };
        for c in s.conns.iter().flatten() {
            let _ = c.tx.send(ping.clone());
            if c.last_heard.elapsed() > shared.opts.heartbeat_timeout {
                c.kill.notify_one();
            }
        }
    }
}

/// A status is final (the worker will send nothing more for this run).
pub(crate) fn is_final(status: WorkerStatus) -> bool {
    matches!(
        status,
        WorkerStatus::Done | WorkerStatus::Lost | WorkerStatus::Failed
    )
}

impl State {
    pub(crate) fn run_in_progress(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.ended)
    }

    pub(crate) fn next_conn_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    pub(crate) fn next_run(&mut self) -> u64 {
        self.runs += 1;
        self.runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(host: &str, token: Option<&str>) -> CoordinatorOptions {
        CoordinatorOptions {
            bind_host: host.into(),
            token: token.map(str::to_owned),
            ..CoordinatorOptions::default()
        }
    }

    #[test]
    fn beyond_loopback_needs_a_token_and_a_host_must_be_an_address() {
        assert_eq!(
            opts("127.0.0.1", None).bind_addr().unwrap().to_string(),
            "127.0.0.1:5557"
        );
        assert!(opts("localhost", None).bind_addr().is_ok());
        assert!(opts("::1", None).bind_addr().is_ok());
        for open in ["0.0.0.0", "*", "10.1.2.3", "[::]"] {
            let e = opts(open, None).bind_addr().unwrap_err();
            assert!(e.to_string().contains("--master-auth-token"), "{open}: {e}");
            assert!(matches!(
                opts(open, Some("")).bind_addr(),
                Err(DistError::TokenRequired(_))
            ));
            assert!(opts(open, Some("t")).bind_addr().is_ok(), "{open}");
        }
        let e = opts("coordinator.example", None).bind_addr().unwrap_err();
        assert!(matches!(e, DistError::BadBindHost(_)), "{e}");
        let none = CoordinatorOptions {
            expect_workers: 0,
            ..CoordinatorOptions::default()
        };
        assert!(matches!(none.bind_addr(), Err(DistError::NoWorkers)));
        let debug = format!("{:?}", opts("0.0.0.0", Some("s3cret")));
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[tokio::test]
    async fn waiting_for_workers_gives_up_after_the_max_wait() {
        let c = Coordinator::bind(
            CoordinatorOptions {
                bind_port: 0,
                expect_workers: 2,
                ..CoordinatorOptions::default()
            },
            Arc::new(cicada_session::log::Stderr),
        )
        .await
        .unwrap();
        assert_ne!(c.local_addr().port(), 0);
        let e = c
            .wait_for_workers(Some(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "0 of 2 workers attached within 0 s (--expect-workers-max-wait); not starting"
        );
        c.quit();
    }
}
