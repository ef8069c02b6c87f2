//! The analysis flags of `cicada run` (`--target-pid`, `--target-tree`, `--scrape`, `--scrape-metrics`,
//! `--scaling-probe` and its limits), turned into `cicada_session::analysis::AnalysisOptions`;
//! the session runs the monitor and attaches the analysis to the report.

use std::time::Duration;

use cicada_analysis::findings::FindingsConfig;
use cicada_analysis::scaling::ScalingLimits;
use cicada_session::analysis::AnalysisOptions;
use clap::Args;

/// Analysis flags of `cicada run`.
#[derive(Debug, Args, Clone, Default)]
pub struct AnalysisArgs {
    /// Track this process's CPU and RSS as the target's (a managed --target-cmd is tracked
    /// without it).
    #[arg(long, value_name = "PID")]
    pub target_pid: Option<u32>,
    /// With --target-pid: track the process's whole tree (it and every descendant, CPU summed
    /// including children that exited), for a target started through a wrapper (`sh -c`,
    /// `npm start`, `cargo run`). A managed --target-cmd is always tracked as its tree.
    #[arg(long, requires = "target_pid")]
    pub target_tree: bool,
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

impl AnalysisArgs {
    /// The session's analysis options (validated when a run starts).
    pub fn options(&self) -> AnalysisOptions {
        AnalysisOptions {
            target_pid: self.target_pid,
            target_tree: self.target_tree,
            scrape: self.scrape.clone(),
            scrape_metrics: self.scrape_metrics.clone(),
            scaling_probe: self.scaling_probe.clone(),
            limits: self.limits.limits(),
            findings: FindingsConfig::default(),
        }
    }
}
