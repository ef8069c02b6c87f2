//! Performance analysis during a run: the background monitor that samples resources, scrapes
//! and probes once a second, and the analysis attached to the report at the end (resources,
//! scraped series, generator health, ranked findings — the database ones with the report's
//! `Server-Timing` figures — and scaling checks).

use std::time::{Duration, Instant};

use cicada_analysis::findings::FindingsConfig;
use cicada_analysis::monitor::{Monitor, MonitorConfig, MonitorReader, Monitored};
use cicada_analysis::prom::MetricSelector;
use cicada_analysis::scaling::{ScalingLimits, evaluate, parse_probe, timeline};
use cicada_analysis::{Collected, attach_analysis};
use cicada_report::RunReport;

/// How long one scrape or probe may take (below the one-second sampling period).
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// What to collect during a run (`cicada run`'s `--target-pid`, `--scrape`, `--scrape-metrics`,
/// `--scaling-probe` and the scaling limits), as given; [`Plan::new`] validates it.
#[derive(Debug, Clone, Default)]
pub struct AnalysisOptions {
    /// Track this process's CPU and RSS as the target's (a managed target is tracked without it).
    pub target_pid: Option<u32>,
    /// Track `target_pid`'s whole process tree, not just the PID.
    pub target_tree: bool,
    /// Scrape the target's Prometheus metrics at this URL once a second.
    pub scrape: Option<String>,
    /// Keep only scraped metrics whose name matches one of these patterns (empty: all).
    pub scrape_metrics: Vec<String>,
    /// Read a replica/worker count once a second and check auto-scaling at the end.
    pub scaling_probe: Option<String>,
    /// Limits of the auto-scaling checks.
    pub limits: ScalingLimits,
    /// Limits of the bottleneck rules.
    pub findings: FindingsConfig,
}

/// The analysis settings, validated once before any traffic.
#[derive(Debug)]
pub struct Plan {
    config: MonitorConfig,
    limits: ScalingLimits,
    findings: FindingsConfig,
}

impl Plan {
    /// Validate the options; `managed_pid` is the PID of a target started by the session. A
    /// managed target runs under `sh -c` in a process group of its own, so it is always
    /// tracked as its whole tree; `--target-pid` is when `target_tree` says so.
    pub fn new(options: &AnalysisOptions, managed_pid: Option<u32>) -> Result<Self, String> {
        let scrape_selector = if options.scrape_metrics.is_empty() {
            MetricSelector::all()
        } else {
            MetricSelector::new(&options.scrape_metrics)
                .map_err(|e| format!("--scrape-metrics: {e}"))?
        };
        let probe = options
            .scaling_probe
            .as_deref()
            .map(|spec| parse_probe(spec, PROBE_TIMEOUT))
            .transpose()
            .map_err(|e| format!("--scaling-probe: {e}"))?;
        Ok(Self {
            config: MonitorConfig {
                target_pid: options.target_pid.or(managed_pid),
                target_tree: if options.target_pid.is_some() {
                    options.target_tree
                } else {
                    managed_pid.is_some()
                },
                scrape_url: options.scrape.clone(),
                scrape_selector,
                probe,
                scrape_timeout: PROBE_TIMEOUT,
                ..MonitorConfig::default()
            },
            limits: options.limits.clone(),
            findings: options.findings.clone(),
        })
    }

    /// Start sampling on whole seconds after `traffic_started`.
    pub fn start(self, traffic_started: Instant) -> Result<Running, String> {
        let monitor = Monitor::start(self.config, traffic_started).map_err(|e| e.to_string())?;
        Ok(Running {
            monitor,
            limits: self.limits,
            findings: self.findings,
        })
    }
}

/// The monitor of a running test.
#[derive(Debug)]
pub struct Running {
    monitor: Monitor,
    limits: ScalingLimits,
    findings: FindingsConfig,
}

impl Running {
    /// The analysis so far, readable while the test runs (the live view).
    pub fn live(&self) -> LiveAnalysis {
        LiveAnalysis {
            reader: self.monitor.reader(),
            limits: self.limits.clone(),
            findings: self.findings.clone(),
        }
    }

    /// Stop sampling and return what was collected.
    pub async fn stop(self) -> Collection {
        Collection {
            monitored: self.monitor.stop().await,
            limits: self.limits,
            findings: self.findings,
        }
    }
}

/// Everything collected during a run, ready to attach to its report.
#[derive(Debug)]
pub struct Collection {
    monitored: Monitored,
    limits: ScalingLimits,
    findings: FindingsConfig,
}

impl Collection {
    /// Put resources, scraped series, the scaling checks, the generator-health verdict and
    /// the ranked findings into `report.analysis`. The database rules also read the
    /// `Server-Timing` figures the engine already put in the report (database share and pool
    /// wait per second), so nothing more is collected here for them.
    pub fn attach(self, report: &mut RunReport) {
        attach(self.monitored, &self.limits, &self.findings, report);
    }
}

/// The analysis of a running test so far: the monitor's samples until now, and the findings
/// ranked on them and a partial report (cheap to clone).
#[derive(Debug, Clone)]
pub struct LiveAnalysis {
    reader: MonitorReader,
    limits: ScalingLimits,
    findings: FindingsConfig,
}

impl LiveAnalysis {
    /// Attach the analysis of the samples so far to `report` (the run's partial report), as
    /// [`Collection::attach`] does at the end. False, and `report` untouched, once the monitor
    /// has stopped.
    pub async fn attach(&self, report: &mut RunReport) -> bool {
        match self.reader.read().await {
            Some(monitored) => {
                attach(monitored, &self.limits, &self.findings, report);
                true
            }
            None => false,
        }
    }
}

fn attach(m: Monitored, limits: &ScalingLimits, findings: &FindingsConfig, report: &mut RunReport) {
    let scaling = m.probe.as_deref().map(|probe| {
        evaluate(
            probe,
            &timeline(report, &m.probe_readings),
            m.probe_failures,
            limits,
        )
    });
    attach_analysis(
        report,
        Collected {
            resources: m.resources,
            scraped: m.scraped,
            scaling,
            ..Collected::default()
        },
        findings,
    );
}
