//! A worker (`cicada run SCENARIO --worker --master-host H`): it connects to the coordinator,
//! introduces itself (version, scenario hash, host, pid, token), and runs each part it is sent
//! through a [`Session`] like a normal run, sending its report every second. When the
//! coordinator is lost it stops within the heartbeat timeout and writes its own JSON report.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cicada_analysis::resources::sampler::ProcessSampler;
use cicada_render::{OutputOptions, write_outputs};
use cicada_report::RunReport;
use cicada_session::log::Log;
use cicada_session::{Session, SessionOptions};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::error::DistError;
use crate::identity::{VERSION, scenario_hash};
use crate::protocol::{
    DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_PORT, HANDSHAKE_TIMEOUT, HEARTBEAT_EVERY, Hello,
    MAX_HANDSHAKE_FRAME, PROTOCOL, Progress, StartOrder, ToCoordinator, ToWorker, from_unix_ms,
    read_magic, read_msg, read_msg_max, unix_ms, write_magic, write_msg,
};
use crate::share::{ENGINE_SPLITS, rate_for, users_for};
use crate::spec::{Local, worker_config};

/// A worker's settings.
#[derive(Clone)]
pub struct WorkerOptions {
    /// `--master-host` and `--master-port`.
    pub master_host: String,
    pub master_port: u16,
    /// `--master-auth-token`.
    pub token: Option<String>,
    /// The coordinator is lost after this long without a word from it.
    pub heartbeat_timeout: Duration,
    /// How long to keep trying to connect (the coordinator may start later).
    pub connect_for: Duration,
    pub scenario_path: PathBuf,
    /// `--json`: write every run's own report here. Without it, the report is written only
    /// when the coordinator is lost, to `cicada-worker-<index>-<pid>.json` in the current
    /// directory.
    pub json: Option<PathBuf>,
    /// This worker's runtime threads and `--local-ips`.
    pub local: Local,
    pub session: SessionOptions,
}

impl std::fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("master_host", &self.master_host)
            .field("master_port", &self.master_port)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("scenario_path", &self.scenario_path)
            .finish_non_exhaustive()
    }
}

impl WorkerOptions {
    pub fn new(scenario_path: impl Into<PathBuf>, master_host: impl Into<String>) -> Self {
        Self {
            master_host: master_host.into(),
            master_port: DEFAULT_PORT,
            token: None,
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            connect_for: Duration::from_secs(30),
            scenario_path: scenario_path.into(),
            json: None,
            local: Local::default(),
            session: SessionOptions::default(),
        }
    }
}

/// How a worker ended (after it had attached).
#[derive(Debug)]
pub enum WorkerEnd {
    /// The coordinator said it is done.
    Quit { runs: u64 },
    /// The coordinator went away; `report` is where this worker's report of the run it was
    /// in was written (if it was in one).
    CoordinatorLost {
        why: String,
        report: Option<PathBuf>,
        report_error: Option<String>,
    },
    /// Ctrl-C / SIGTERM.
    Interrupted,
}

/// The default report path of worker `index` when the coordinator is lost.
pub fn default_report_path(index: u64) -> PathBuf {
    PathBuf::from(format!("cicada-worker-{index}-{}.json", std::process::id()))
}

/// Run a worker until the coordinator quits or is lost, or `interrupted` resolves.
pub async fn run_worker(
    opts: WorkerOptions,
    log: Arc<dyn Log>,
    interrupted: impl Future<Output = ()>,
) -> Result<WorkerEnd, DistError> {
    let path = opts.scenario_path.display().to_string();
    let bytes = std::fs::read(&opts.scenario_path).map_err(|e| DistError::Scenario {
        path: path.clone(),
        source: e,
    })?;
    let scenario = cicada::scenario::load_scenario_file(&opts.scenario_path)
        .map_err(|e| DistError::BadScenario(e.to_string()))?;
    let addr = format!("{}:{}", opts.master_host, opts.master_port);
    let stream = connect(&addr, opts.connect_for, log.as_ref()).await?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let machine = cicada::runner::machine_info(opts.local.worker_threads.max(1));
    let hello = Hello {
        protocol: PROTOCOL,
        version: VERSION.to_string(),
        scenario: scenario.name.clone(),
        scenario_hash: scenario_hash(&bytes),
        hostname: machine.hostname,
        pid: std::process::id(),
        token: opts.token.clone(),
    };
    let handshake = async {
        write_magic(&mut wr).await?;
        write_msg(&mut wr, &ToCoordinator::Hello(hello)).await?;
        read_magic(&mut rd).await?;
        read_msg_max::<_, ToWorker>(&mut rd, MAX_HANDSHAKE_FRAME).await
    };
    let answer = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Err(_) => {
            return Err(DistError::HandshakeTimeout {
                addr,
                timeout_s: HANDSHAKE_TIMEOUT.as_secs(),
            });
        }
        Ok(Err(source)) => return Err(DistError::Handshake { addr, source }),
        Ok(Ok(answer)) => answer,
    };
    let (index, count) = match answer {
        Some(ToWorker::Accept { index, count, .. }) => (index, count),
        Some(ToWorker::Refuse { reason }) => return Err(DistError::Refused { addr, reason }),
        other => {
            return Err(DistError::Handshake {
                addr,
                source: crate::protocol::ProtocolError::Io(std::io::Error::other(format!(
                    "expected an accept or a refusal, got {}",
                    other.map_or("the end of the connection".into(), |m| format!("{m:?}"))
                ))),
            });
        }
    };
    log.line(&format!(
        "cicada: worker {index} of {count} attached to the coordinator at {addr}; waiting for a run"
    ));
    let (tx, out_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(writer(wr, out_rx));
    let (in_tx, mut inbox) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Ok(Some(m)) = read_msg::<_, ToWorker>(&mut rd).await {
            if in_tx.send(m).is_err() {
                return;
            }
        }
    });
    let session = match Session::open(
        opts.session.clone(),
        Box::new(cicada_session::log::Stderr),
        std::future::pending(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Err(DistError::BadScenario(e.to_string())),
    };
    let mut part = Part {
        opts: &opts,
        log: log.as_ref(),
        tx: &tx,
        inbox: &mut inbox,
        session: &session,
        index,
    };
    tokio::pin!(interrupted);
    let end = part.idle(&mut interrupted).await;
    reader.abort();
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    session.close().await;
    Ok(end)
}

async fn connect(addr: &str, connect_for: Duration, log: &dyn Log) -> Result<TcpStream, DistError> {
    let deadline = Instant::now() + connect_for;
    let mut said = false;
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => {
                return Err(DistError::Connect {
                    addr: addr.to_string(),
                    message: format!("{e} (tried for {} s)", connect_for.as_secs()),
                });
            }
            Err(e) => {
                if !said {
                    log.line(&format!(
                        "cicada: waiting for the coordinator at {addr} ({e}); retrying for up to {} s",
                        connect_for.as_secs()
                    ));
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

async fn writer(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<ToCoordinator>) {
    while let Some(msg) = rx.recv().await {
        if write_msg(&mut wr, &msg).await.is_err() {
            return;
        }
    }
}

struct Part<'a> {
    opts: &'a WorkerOptions,
    log: &'a dyn Log,
    tx: &'a mpsc::UnboundedSender<ToCoordinator>,
    inbox: &'a mut mpsc::UnboundedReceiver<ToWorker>,
    session: &'a Session,
    index: u64,
}

/// How one run on this worker ended.
enum PartEnd {
    Finished,
    Quit,
    Lost {
        why: String,
        report: Option<Box<RunReport>>,
    },
}

impl Part<'_> {
    fn send(&self, msg: ToCoordinator) {
        let _ = self.tx.send(msg);
    }

    fn pong(&self, ping_ms: u64) {
        self.send(ToCoordinator::Pong {
            ping_ms,
            worker_ms: unix_ms(SystemTime::now()),
        });
    }

    fn silent_for(&self) -> String {
        format!(
            "nothing heard from it for {} s (heartbeat timeout)",
            self.opts.heartbeat_timeout.as_secs_f64()
        )
    }

    /// Between runs: answer heartbeats, start what is sent.
    async fn idle(&mut self, interrupted: &mut (impl Future<Output = ()> + Unpin)) -> WorkerEnd {
        let mut runs = 0;
        loop {
            let msg = tokio::select! {
                () = &mut *interrupted => return WorkerEnd::Interrupted,
                m = tokio::time::timeout(self.opts.heartbeat_timeout, self.inbox.recv()) => m,
            };
            match msg {
                Err(_) => return self.lost(self.silent_for(), None),
                Ok(None) if runs > 0 => {
                    self.log
                        .line("cicada: the coordinator closed the connection; exiting");
                    return WorkerEnd::Quit { runs };
                }
                Ok(None) => return self.lost("it closed the connection".into(), None),
                Ok(Some(ToWorker::Ping { ping_ms })) => self.pong(ping_ms),
                Ok(Some(ToWorker::Quit)) => return WorkerEnd::Quit { runs },
                Ok(Some(ToWorker::Start(order))) => {
                    runs += 1;
                    match self.run(*order).await {
                        PartEnd::Finished => {}
                        PartEnd::Quit => return WorkerEnd::Quit { runs },
                        PartEnd::Lost { why, report } => return self.lost(why, report),
                    }
                }
                Ok(Some(_)) => {}
            }
        }
    }

    fn lost(&self, why: String, report: Option<Box<RunReport>>) -> WorkerEnd {
        let (path, report_error) = match report {
            Some(r) => {
                let path = self
                    .opts
                    .json
                    .clone()
                    .unwrap_or_else(|| default_report_path(self.index));
                match write_json(&r, &path) {
                    Ok(()) => (Some(path), None),
                    Err(e) => (None, Some(e)),
                }
            }
            None => (None, None),
        };
        WorkerEnd::CoordinatorLost {
            why,
            report: path,
            report_error,
        }
    }

    /// One run: build the part, start it at the common instant, send every second, follow
    /// the coordinator's steering, send the final report.
    async fn run(&mut self, order: StartOrder) -> PartEnd {
        let start_at = from_unix_ms(order.start_at_ms);
        let config = match worker_config(
            &order.spec,
            &self.opts.scenario_path,
            &self.opts.local,
            &order.sequence,
            order.index,
            start_at,
        ) {
            Ok(c) => c,
            Err(e) => {
                self.log.line(&format!("cicada: cannot run this part: {e}"));
                self.send(ToCoordinator::StartFailed {
                    reason: e.to_string(),
                });
                return PartEnd::Finished;
            }
        };
        let stripe = config.segment.clone();
        self.log.line(&format!(
            "cicada: run {} — this worker's part {stripe} of {}",
            order.run_id,
            config.plan.describe()
        ));
        let mut stop_early = false;
        let mut quit = false;
        if !ENGINE_SPLITS {
            // The engine starts at once: wait for the common start here, answering heartbeats.
            let wait = start_at
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let until = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    m = self.inbox.recv() => match m {
                        None => return PartEnd::Lost { why: "it closed the connection".into(), report: None },
                        Some(ToWorker::Ping { ping_ms }) => self.pong(ping_ms),
                        Some(ToWorker::Stop) => stop_early = true,
                        Some(ToWorker::Quit) => { stop_early = true; quit = true; }
                        Some(_) => {}
                    },
                }
            }
        }
        let running = match self.session.start(config).await {
            Ok(r) => r,
            Err(e) => {
                self.log
                    .line(&format!("cicada: the run did not start: {e}"));
                self.send(ToCoordinator::StartFailed {
                    reason: e.to_string(),
                });
                return PartEnd::Finished;
            }
        };
        self.send(ToCoordinator::Started);
        let control = running.control().clone();
        if stop_early {
            control.stop();
        }
        let signals = {
            let control = control.clone();
            tokio::spawn(async move {
                cicada_session::signals::stop_on_signal(control, &cicada_session::log::Stderr)
                    .await;
            })
        };
        let mut sampler = ProcessSampler::current().ok();
        let finish = running.finish();
        tokio::pin!(finish);
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        tick.tick().await;
        let mut last_heard = Instant::now();
        let mut lost: Option<String> = None;
        let finished = loop {
            tokio::select! {
                f = &mut finish => break f,
                _ = tick.tick() => {
                    if lost.is_none() && last_heard.elapsed() > self.opts.heartbeat_timeout {
                        let why = self.silent_for();
                        self.log.line(&format!("cicada: the coordinator is lost: {why}; stopping this worker's run"));
                        lost = Some(why);
                        control.stop();
                    }
                    if lost.is_none() {
                        let sample = sampler.as_mut().and_then(|s| s.sample(control.elapsed().as_secs_f64()).ok());
                        self.send(ToCoordinator::Progress(Box::new(Progress {
                            report: control.snapshot(),
                            users: control.users(),
                            cpu_pct: sample.as_ref().map(|s| s.cpu_core_pct),
                            rss_bytes: sample.as_ref().map(|s| s.rss_bytes),
                        })));
                    }
                }
                m = self.inbox.recv(), if lost.is_none() => {
                    last_heard = Instant::now();
                    match m {
                        None => {
                            self.log.line("cicada: the coordinator is lost: it closed the connection; stopping this worker's run");
                            lost = Some("it closed the connection".into());
                            control.stop();
                        }
                        Some(ToWorker::Ping { ping_ms }) => self.pong(ping_ms),
                        Some(ToWorker::SetUsers { total }) => {
                            control.set_users(users_for(total, &stripe));
                        }
                        Some(ToWorker::SetRate { total }) => {
                            control.set_rate(rate_for(total, &stripe));
                        }
                        Some(ToWorker::ResetStats) => control.reset_stats(),
                        Some(ToWorker::Stop) => control.stop(),
                        Some(ToWorker::Quit) => {
                            quit = true;
                            control.stop();
                        }
                        Some(_) => {}
                    }
                }
            }
        };
        signals.abort();
        let report = match finished {
            Ok(f) => {
                if let Some(message) = &f.failure {
                    self.log.line(&format!(
                        "cicada: this worker's run failed: {message}; sending the partial report"
                    ));
                }
                Some(f.report)
            }
            Err(e) => {
                self.log
                    .line(&format!("cicada: this worker's run was lost: {e}"));
                self.send(ToCoordinator::StartFailed {
                    reason: e.to_string(),
                });
                None
            }
        };
        if let Some(why) = lost {
            return PartEnd::Lost {
                why,
                report: report.map(Box::new),
            };
        }
        if let Some(r) = &report {
            if let Some(path) = &self.opts.json
                && let Err(e) = write_json(r, path)
            {
                self.log.line(&format!("cicada: {e}"));
            }
            self.send(ToCoordinator::Finished {
                report: Box::new(r.clone()),
            });
        }
        if quit {
            PartEnd::Quit
        } else {
            PartEnd::Finished
        }
    }
}

fn write_json(report: &RunReport, path: &Path) -> Result<(), String> {
    let outputs = OutputOptions {
        json: Some(path.to_path_buf()),
        ..OutputOptions::default()
    };
    match write_outputs(report, &outputs).into_iter().next() {
        None => Ok(()),
        Some(e) => Err(e.to_string()),
    }
}
