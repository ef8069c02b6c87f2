//! The simulated agent: stands in for the LLM call of the production service. It takes a
//! random time (log-normal by default), fails a configured fraction of the time, and answers
//! with output derived from the prompt.

use std::time::Duration;

use rand::Rng;
use serde_json::json;

/// How long one agent run takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyModel {
    /// `median * exp(sigma * Z)`, Z standard normal: right-skewed like real model calls.
    LogNormal {
        /// Median run time.
        median: Duration,
        /// Spread of `ln(latency)`; 0.5 puts p95 at about 2.3 × the median.
        sigma: f64,
    },
    /// Always the same.
    Constant(Duration),
}

/// The simulated agent's behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentConfig {
    /// Run-time distribution.
    pub latency: LatencyModel,
    /// Upper clamp on one run (must stay under the worker lease).
    pub max_latency: Duration,
    /// Fraction of runs that fail, 0..=1.
    pub failure_ratio: f64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            latency: LatencyModel::LogNormal {
                median: Duration::from_millis(250),
                sigma: 0.5,
            },
            max_latency: Duration::from_secs(10),
            failure_ratio: 0.02,
        }
    }
}

/// What one run will do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPlan {
    /// How long it takes.
    pub latency: Duration,
    /// Whether it fails.
    pub fails: bool,
}

/// A standard normal sample (Box–Muller).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl AgentConfig {
    /// Draws the latency and outcome of one run.
    pub fn plan<R: Rng + ?Sized>(&self, rng: &mut R) -> RunPlan {
        let latency = match self.latency {
            LatencyModel::Constant(d) => d,
            LatencyModel::LogNormal { median, sigma } => {
                let factor = (sigma * standard_normal(rng)).exp();
                Duration::from_secs_f64((median.as_secs_f64() * factor).max(0.0))
            }
        };
        RunPlan {
            latency: latency.min(self.max_latency),
            fails: rng.random::<f64>() < self.failure_ratio,
        }
    }
}

/// The agent's answer to `prompt`, as JSON text.
pub fn output_for(prompt: &str, agent_id: &str) -> String {
    let words = prompt.split_whitespace().count();
    let summary: String = prompt.chars().take(120).collect();
    json!({
        "response": format!("Agent {agent_id} processed: {summary}"),
        "prompt_chars": prompt.chars().count(),
        "prompt_words": words,
        "tokens_used": words * 4 / 3 + 16,
    })
    .to_string()
}

/// The error message of a failed run.
pub const FAILURE_MESSAGE: &str = "simulated agent failure: upstream model returned an error";

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn lognormal_median_and_failure_ratio_hold() {
        let cfg = AgentConfig::default();
        let mut rng = StdRng::seed_from_u64(7);
        let mut lat: Vec<Duration> = Vec::new();
        let mut fails = 0;
        for _ in 0..20_000 {
            let p = cfg.plan(&mut rng);
            lat.push(p.latency);
            fails += usize::from(p.fails);
        }
        lat.sort();
        let median = lat[lat.len() / 2].as_secs_f64();
        assert!((0.235..0.265).contains(&median), "median {median}");
        let ratio = f64::from(u32::try_from(fails).unwrap()) / 20_000.0;
        assert!((0.015..0.025).contains(&ratio), "failure ratio {ratio}");
        assert!(lat.iter().all(|d| *d <= cfg.max_latency));
    }

    #[test]
    fn output_derives_from_prompt() {
        let out: serde_json::Value =
            serde_json::from_str(&output_for("hello big world", "a1")).unwrap();
        assert_eq!(out["prompt_words"], 3);
        assert_eq!(out["prompt_chars"], 15);
        assert!(
            out["response"]
                .as_str()
                .unwrap()
                .contains("hello big world")
        );
    }
}
