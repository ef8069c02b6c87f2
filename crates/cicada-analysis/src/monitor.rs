//! A background task that does the once-a-second collection of a run: resource samples,
//! scrapes of the target's `/metrics`, and scaling-probe readings, all stamped with the seconds
//! since the start of traffic. The engine starts it with the run and stops it at the end.
//!
//! ```no_run
//! # async fn demo(target_pid: Option<u32>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::{Duration, Instant};
//! use cicada_analysis::monitor::{Monitor, MonitorConfig};
//! let traffic_started = Instant::now();
//! let monitor = Monitor::start(
//!     MonitorConfig {
//!         target_pid,
//!         scrape_url: Some("http://127.0.0.1:8000/metrics".into()),
//!         ..MonitorConfig::default()
//!     },
//!     traffic_started,
//! )?;
//! // ... the run ...
//! let so_far = monitor.reader().read().await; // while running: the samples so far
//! let collected = monitor.stop().await;
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use cicada_report::analysis_model::{ResourceSeries, ScrapedMetrics};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::http_get::HttpGetError;
use crate::prom::{MetricSelector, Scraper, SeriesAccumulator};
use crate::resources::{ResourceError, ResourceSampler, TargetProcess};
use crate::scaling::{ProbeRecorder, ScalingProbe};

/// What to collect.
#[derive(Debug)]
pub struct MonitorConfig {
    /// Sample this process as the target (`--target-pid`, or the managed target's PID).
    pub target_pid: Option<u32>,
    /// Sample the target's whole process tree, not just its PID (`--target-tree`; always for a
    /// managed target, which runs under a shell).
    pub target_tree: bool,
    /// Scrape this `/metrics` URL (`--scrape`).
    pub scrape_url: Option<String>,
    /// Which scraped metric families to keep.
    pub scrape_selector: MetricSelector,
    /// Histogram quantiles to compute per interval.
    pub quantiles: Vec<f64>,
    /// Read this probe (`--scaling-probe`).
    pub probe: Option<Box<dyn ScalingProbe>>,
    /// Collection period (1 s).
    pub interval: Duration,
    /// Timeout of one scrape.
    pub scrape_timeout: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            target_pid: None,
            target_tree: false,
            scrape_url: None,
            scrape_selector: MetricSelector::all(),
            quantiles: vec![0.5, 0.95, 0.99],
            probe: None,
            interval: Duration::from_secs(1),
            scrape_timeout: Duration::from_millis(800),
        }
    }
}

/// Why the monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("resource sampling: {0}")]
    Resources(#[from] ResourceError),
    #[error("--scrape: {0}")]
    ScrapeUrl(#[from] HttpGetError),
    #[error("the monitor needs a period above zero")]
    ZeroInterval,
}

/// What the monitor collected.
#[derive(Debug, Default)]
pub struct Monitored {
    pub resources: Option<ResourceSeries>,
    pub scraped: Option<ScrapedMetrics>,
    /// Probe readings `(elapsed_s, count)`, `None` where a read failed.
    pub probe_readings: Vec<(f64, Option<f64>)>,
    pub probe_failures: u64,
    /// The probe, described, when there was one.
    pub probe: Option<String>,
}

/// The running monitor.
#[derive(Debug)]
pub struct Monitor {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Monitored>,
    reads: mpsc::Sender<oneshot::Sender<Monitored>>,
}

/// Reads what a running monitor collected so far (cheap to clone; the live view holds one
/// while [`Monitor::stop`] is left to the end of the run).
#[derive(Debug, Clone)]
pub struct MonitorReader {
    reads: mpsc::Sender<oneshot::Sender<Monitored>>,
}

impl MonitorReader {
    /// A copy of the samples so far (resources, scraped series, probe readings); `None` once
    /// the monitor has stopped. Answered between two ticks, so it waits at most for one tick's
    /// scrape and probe.
    pub async fn read(&self) -> Option<Monitored> {
        let (answer, answered) = oneshot::channel();
        self.reads.send(answer).await.ok()?;
        answered.await.ok()
    }
}

struct State {
    started: Instant,
    resources: ResourceSampler,
    scraper: Option<Scraper>,
    probe: Option<ProbeRecorder>,
}

impl State {
    async fn tick(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        // Resource reads are a few /proc files: cheap enough to do inline.
        let _ = self.resources.tick(elapsed);
        let scrape = async {
            if let Some(s) = &mut self.scraper {
                let _ = s.tick(elapsed).await;
            }
        };
        let probe = async {
            if let Some(p) = &mut self.probe {
                let _ = p.tick(elapsed).await;
            }
        };
        tokio::join!(scrape, probe);
    }

    fn so_far(&self) -> Monitored {
        let (probe_readings, probe_failures, probe) = match &self.probe {
            Some(p) => (p.readings().to_vec(), p.failures(), Some(p.describe())),
            None => (Vec::new(), 0, None),
        };
        Monitored {
            resources: Some(self.resources.so_far()),
            scraped: self.scraper.as_ref().map(Scraper::so_far),
            probe_readings,
            probe_failures,
            probe,
        }
    }

    fn finish(self) -> Monitored {
        let (probe_readings, probe_failures, probe) = match self.probe {
            Some(p) => (p.readings().to_vec(), p.failures(), Some(p.describe())),
            None => (Vec::new(), 0, None),
        };
        Monitored {
            resources: Some(self.resources.finish()),
            scraped: self.scraper.map(Scraper::finish),
            probe_readings,
            probe_failures,
            probe,
        }
    }
}

impl Monitor {
    /// Validate the configuration and start collecting on the current Tokio runtime. Ticks fall
    /// on whole seconds after `traffic_started` (a late tick is not made up for).
    pub fn start(config: MonitorConfig, traffic_started: Instant) -> Result<Self, MonitorError> {
        if config.interval.is_zero() {
            return Err(MonitorError::ZeroInterval);
        }
        let resources = ResourceSampler::new(config.target_pid.map(|pid| TargetProcess {
            pid,
            tree: config.target_tree,
        }))?;
        let scraper = config
            .scrape_url
            .as_deref()
            .map(|url| {
                Scraper::new(
                    url,
                    config.scrape_timeout,
                    SeriesAccumulator::new(config.scrape_selector.clone(), &config.quantiles),
                )
            })
            .transpose()?;
        let mut state = State {
            started: traffic_started,
            resources,
            scraper,
            probe: config.probe.map(ProbeRecorder::new),
        };
        let (stop, mut stopped) = oneshot::channel();
        let (reads, mut read_requests) = mpsc::channel::<oneshot::Sender<Monitored>>(8);
        let interval = config.interval;
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(
                tokio::time::Instant::from_std(traffic_started + interval),
                interval,
            );
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    // A stop request wins over a due tick.
                    biased;
                    _ = &mut stopped => break,
                    _ = ticker.tick() => state.tick().await,
                    Some(answer) = read_requests.recv() => {
                        let _ = answer.send(state.so_far());
                    }
                }
            }
            state.finish()
        });
        Ok(Self { stop, task, reads })
    }

    /// A reader of the samples so far, usable while the monitor runs.
    pub fn reader(&self) -> MonitorReader {
        MonitorReader {
            reads: self.reads.clone(),
        }
    }

    /// Stop collecting and return what was collected.
    pub async fn stop(self) -> Monitored {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(m) => m,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down; nothing was kept.
            Err(_) => Monitored::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_the_samples_so_far_while_running_and_none_after_the_stop() {
        let monitor = Monitor::start(
            MonitorConfig {
                interval: Duration::from_millis(20),
                ..MonitorConfig::default()
            },
            Instant::now(),
        )
        .unwrap();
        let reader = monitor.reader();
        let samples = |m: &Monitored| {
            m.resources
                .as_ref()
                .and_then(|r| r.generator.as_ref())
                .map_or(0, |g| g.samples.len())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0;
        while seen < 2 && Instant::now() < deadline {
            seen = samples(&reader.read().await.expect("running"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(seen >= 2, "the series grows while running");
        let last = monitor.stop().await;
        assert!(
            samples(&last) >= seen,
            "the final series holds what was read"
        );
        assert!(
            reader.read().await.is_none(),
            "nothing to read once stopped"
        );
    }
}
