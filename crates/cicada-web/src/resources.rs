//! The generator's and the target's CPU and RSS for the live view, sampled from `/proc` when a
//! snapshot asks (at most about once a second however many pages watch); the final report's
//! resource series come from the session's monitor as headless.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cicada_analysis::resources::sampler::ProcessSampler;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// CPU and RSS of the load generator and of the target right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourcesNow {
    /// The generator's CPU since the previous sample, relative to one core (200 = two busy).
    pub generator_cpu_pct: Option<f64>,
    pub generator_rss_bytes: Option<u64>,
    /// The target's (a managed target, or `--target-pid`), when known.
    pub target_cpu_pct: Option<f64>,
    pub target_rss_bytes: Option<u64>,
}

/// Shorter than this after a sample, the last sample is returned again.
const MIN_PERIOD: Duration = Duration::from_millis(900);

/// Samplers of this process and of the target.
#[derive(Debug)]
pub struct LiveResources {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    generator: Option<ProcessSampler>,
    target: Option<ProcessSampler>,
    last: Option<(Instant, ResourcesNow)>,
}

impl LiveResources {
    /// Sample this process, and `target_pid` when given (a sampler that cannot start is left
    /// out: no `/proc`, or the process is gone).
    pub fn new(target_pid: Option<u32>) -> Self {
        Self {
            state: Mutex::new(State {
                generator: ProcessSampler::current().ok(),
                target: target_pid.and_then(|p| ProcessSampler::new(p).ok()),
                last: None,
            }),
        }
    }

    /// The latest figures (sampled now unless sampled under a second ago).
    pub fn now(&self) -> ResourcesNow {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, r)) = s.last
            && at.elapsed() < MIN_PERIOD
        {
            return r;
        }
        let mut r = ResourcesNow::default();
        if let Some(sample) = s.generator.as_mut().and_then(|g| g.sample(0.0).ok()) {
            r.generator_cpu_pct = Some(sample.cpu_core_pct);
            r.generator_rss_bytes = Some(sample.rss_bytes);
        }
        match s.target.as_mut().map(|t| t.sample(0.0)) {
            Some(Ok(sample)) => {
                r.target_cpu_pct = Some(sample.cpu_core_pct);
                r.target_rss_bytes = Some(sample.rss_bytes);
            }
            Some(Err(_)) => s.target = None,
            None => {}
        }
        s.last = Some((Instant::now(), r));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_and_a_target() {
        let live = LiveResources::new(Some(std::process::id()));
        std::thread::sleep(Duration::from_millis(50));
        let r = live.now();
        assert!(r.generator_rss_bytes.unwrap() > 0);
        assert!(r.target_rss_bytes.unwrap() > 0);
        assert!(r.generator_cpu_pct.unwrap() >= 0.0);
        // Within a second: the same sample again.
        assert_eq!(live.now(), r);
    }
}
