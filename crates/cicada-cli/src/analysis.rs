//! Performance analysis during `cicada run`: the flags (`--target-pid`, `--scrape`,
//! `--scrape-metrics`, `--scaling-probe` and its limits), the background monitor that samples
//! resources, scrapes and probes once a second, and the analysis attached to the report at
//! the end (resources, scraped series, generator health, ranked findings — the database ones
//! with the report's `Server-Timing` figures — and scaling checks).

use std::time::{Duration, Instant};

use cicada_analysis::findings::FindingsConfig;
use cicada_analysis::monitor::{Monitor, MonitorConfig, Monitored};
use cicada_analysis::prom::MetricSelector;
use cicada_analysis::scaling::{ScalingLimits, evaluate, parse_probe, timeline};
use cicada_analysis::{Collected, attach_analysis};
use cicada_report::RunReport;
use clap::Args;

/// How long one scrape or probe may take (below the one-second sampling period).
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// Analysis flags of `cicada run`.
#[derive(Debug, Args, Clone, Default)]
pub struct AnalysisArgs {
    /// Track this process's CPU and RSS as the target's (a managed --target-cmd is tracked
    /// without it).
    #[arg(long, value_name = "PID")]
    pub target_pid: Option<u32>,
    /// Scrape the target's Prometheus metrics at URL once a second, e.g.
    /// http://127.0.0.1:8000/metrics.
    #[arg(long, value_name = "URL")]
    pub scrape: Option<String>,
    /// Keep only scraped metrics whose name matches PATTERN (`*` wildcards; repeatable;
    /// default: all).
    #[arg(long = "scrape-metrics", value_name = "PATTERN", requires = "scrape")]
    pub scrape_metrics: Vec<String>,
    /// Read a replica/worker count once a second and check auto-scaling at the end:
    /// 'prom:URL#metric{label="v"}', 'json:URL#/json/pointer' or 'cmd:COMMAND'.
    #[arg(long, value_name = "SPEC")]
    pub scaling_probe: Option<String>,
    #[command(flatten)]
    pub limits: ScalingLimitArgs,
}

/// Limits of the auto-scaling checks (defaults in brackets).
#[derive(Debug, Args, Clone, Default)]
pub struct ScalingLimitArgs {
    /// Scale-out must begin within this long after the load rises [60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "scaling_probe")]
    pub scale_out_within: Option<Duration>,
    /// The needed count must be reached within this long after the load rises [3m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "scaling_probe")]
    pub scale_reach_within: Option<Duration>,
    /// The count the spike needs [the highest seen during the hold].
    #[arg(long, value_name = "COUNT", requires = "scaling_probe")]
    pub scale_needed: Option<f64>,
    /// P95 SLO, in ms, that must hold again after scaling out [500].
    #[arg(long, value_name = "MS", requires = "scaling_probe")]
    pub scale_slo_p95: Option<f64>,
    /// P95 must be back under the SLO within this long after the scale-out [2m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "scaling_probe")]
    pub scale_recovery_within: Option<Duration>,
    /// Scale-in must begin within this long after the load drops [5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "scaling_probe")]
    pub scale_in_within: Option<Duration>,
    /// Most changes of direction allowed while the load is flat [1].
    #[arg(long, value_name = "N", requires = "scaling_probe")]
    pub scale_max_reversals: Option<u32>,
    /// Most errors allowed around scale events [0].
    #[arg(long, value_name = "N", requires = "scaling_probe")]
    pub scale_max_errors: Option<u64>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cicada::duration::parse_duration(s).map_err(|e| e.to_string())
}

impl ScalingLimitArgs {
    fn limits(&self) -> ScalingLimits {
        let d = ScalingLimits::default();
        let secs = |v: Option<Duration>, default: f64| v.map_or(default, |v| v.as_secs_f64());
        ScalingLimits {
            scale_out_reaction_s: secs(self.scale_out_within, d.scale_out_reaction_s),
            reach_needed_s: secs(self.scale_reach_within, d.reach_needed_s),
            needed_replicas: self.scale_needed.or(d.needed_replicas),
            slo_p95_ms: self.scale_slo_p95.unwrap_or(d.slo_p95_ms),
            slo_recovery_s: secs(self.scale_recovery_within, d.slo_recovery_s),
            scale_in_s: secs(self.scale_in_within, d.scale_in_s),
            max_reversals: self.scale_max_reversals.unwrap_or(d.max_reversals),
            max_errors_during_scale: self.scale_max_errors.unwrap_or(d.max_errors_during_scale),
            ..d
        }
    }
}

/// The analysis settings, validated once before any traffic.
#[derive(Debug)]
pub struct Plan {
    config: MonitorConfig,
    limits: ScalingLimits,
}

impl Plan {
    /// Validate the flags; `managed_pid` is the PID of a target started by `--target-cmd`.
    pub fn new(args: &AnalysisArgs, managed_pid: Option<u32>) -> Result<Self, String> {
        let scrape_selector = if args.scrape_metrics.is_empty() {
            MetricSelector::all()
        } else {
            MetricSelector::new(&args.scrape_metrics)
                .map_err(|e| format!("--scrape-metrics: {e}"))?
        };
        let probe = args
            .scaling_probe
            .as_deref()
            .map(|spec| parse_probe(spec, PROBE_TIMEOUT))
            .transpose()
            .map_err(|e| format!("--scaling-probe: {e}"))?;
        Ok(Self {
            config: MonitorConfig {
                target_pid: args.target_pid.or(managed_pid),
                scrape_url: args.scrape.clone(),
                scrape_selector,
                probe,
                scrape_timeout: PROBE_TIMEOUT,
                ..MonitorConfig::default()
            },
            limits: args.limits.limits(),
        })
    }

    /// Start sampling on whole seconds after `traffic_started`.
    pub fn start(self, traffic_started: Instant) -> Result<Running, String> {
        let monitor = Monitor::start(self.config, traffic_started).map_err(|e| e.to_string())?;
        Ok(Running {
            monitor,
            limits: self.limits,
        })
    }
}

/// The monitor of a running test.
#[derive(Debug)]
pub struct Running {
    monitor: Monitor,
    limits: ScalingLimits,
}

impl Running {
    /// Stop sampling and return what was collected.
    pub async fn stop(self) -> Collection {
        Collection {
            monitored: self.monitor.stop().await,
            limits: self.limits,
        }
    }
}

/// Everything collected during a run, ready to attach to its report.
#[derive(Debug)]
pub struct Collection {
    monitored: Monitored,
    limits: ScalingLimits,
}

impl Collection {
    /// Put resources, scraped series, the scaling checks, the generator-health verdict and
    /// the ranked findings into `report.analysis`. The database rules also read the
    /// `Server-Timing` figures the engine already put in the report (database share and pool
    /// wait per second), so nothing more is collected here for them.
    pub fn attach(self, report: &mut RunReport) {
        let m = self.monitored;
        let scaling = m.probe.as_deref().map(|probe| {
            evaluate(
                probe,
                &timeline(report, &m.probe_readings),
                m.probe_failures,
                &self.limits,
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
            &FindingsConfig::default(),
        );
    }
}
