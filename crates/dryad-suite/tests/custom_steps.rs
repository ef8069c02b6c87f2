//! The custom-step example (`crates/cicada/examples/custom_steps.rs`) against a real dryad, run
//! in-process by the engine: the closure's requests are counted exactly as dryad counts them,
//! its custom timing `CUSTOM execute→completed` has one sample per journey and covers dryad's
//! own time from request to finish, and the execution id it set reached the file step after
//! it.

mod support;

#[path = "../../cicada/examples/custom_steps.rs"]
#[allow(dead_code)] // the example's own `main` is not called here
mod example;

use std::collections::HashSet;

use chrono::DateTime;
use cicada::launch::{LaunchOptions, prepare};
use cicada::runner::Runner;
use cicada::scenario::LoadSpec;
use serde_json::Value;
use support::api::{executions, served, token};
use support::{Dryad, Scratch, bins};

const JOURNEYS: u64 = 12;

fn ms(v: &Value) -> f64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp_micros() as f64
        / 1000.0
}

#[test]
fn the_custom_step_example_polls_dryad_until_done_and_times_it() {
    let bins = bins();
    let scratch = Scratch::new("custom-steps", "");
    scratch.seed_with(&bins, 4, 2);
    let dryad = Dryad::start(&bins, &scratch, &[], &[]);
    let token = token(&dryad.base);
    let agents: Vec<String> = std::fs::read_to_string(scratch.path("data/agents.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let before: HashSet<String> = executions(&dryad.base, &token, &agents)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    let options = LaunchOptions {
        scenario: Some(example::scenario(&scratch.path("data/agents.csv"))),
        host: Some(dryad.base.clone()),
        load: LoadSpec {
            users: Some(3),
            spawn_rate: Some(10.0),
            iterations: Some(JOURNEYS),
            run_time: Some(std::time::Duration::from_secs(60)),
            ..LoadSpec::default()
        },
        seed: Some(7),
        ..LaunchOptions::default()
    };
    let config = prepare(&options).expect("the example's scenario is valid");
    // The helpers above and below block: the run gets a runtime of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(async { Runner::start(config).await?.wait().await });
    let report = report.expect("the run ends");
    let row = |method: &str, name: &str| {
        report
            .requests
            .iter()
            .find(|r| r.method == method && r.name == name)
            .unwrap_or_else(|| panic!("no row {method} {name}: {:?}", report.failures))
    };

    let step = row("CUSTOM", "execute and wait");
    let timing = row("CUSTOM", example::TIMING);
    assert_eq!(
        (step.requests, step.failures),
        (JOURNEYS, 0),
        "{:?}",
        report.failures
    );
    assert_eq!((timing.requests, timing.failures), (JOURNEYS, 0));
    // The closure's requests, row by row, as dryad itself counted them.
    let post = row("POST", "/api/v1/agent-studio/execute");
    let poll = row("GET", "/api/v1/agent-studio/executions/{id}");
    assert_eq!(post.requests, JOURNEYS);
    assert_eq!(
        post.requests,
        served(&dryad.base, "POST", "/api/v1/agent-studio/execute")
    );
    assert!(poll.requests >= JOURNEYS, "at least one poll per journey");
    assert_eq!(
        poll.requests,
        served(
            &dryad.base,
            "GET",
            "/api/v1/agent-studio/executions/{execution_id}"
        )
    );
    // The file step after the closure read each agent's history.
    let history = row("GET", "/api/v1/agent-studio/agents/{{agent_id}}/executions");
    assert_eq!((history.requests, history.failures), (JOURNEYS, 0));
    assert_eq!(
        report.aggregated.requests,
        3 + post.requests + poll.requests + history.requests,
        "3 logins, then the journeys' requests; custom rows are not requests"
    );

    // dryad's own account of the same executions: each finished, and the custom timing,
    // from before the request to the poll that saw the end, is at least dryad's own time.
    let new: Vec<Value> = executions(&dryad.base, &token, &agents)
        .into_iter()
        .filter(|e| !before.contains(e["id"].as_str().unwrap()))
        .collect();
    assert_eq!(new.len() as u64, JOURNEYS);
    let took: Vec<f64> = new
        .iter()
        .map(|e| {
            assert!(
                matches!(e["status"].as_str(), Some("COMPLETED" | "FAILED")),
                "{e}"
            );
            ms(&e["execution_end"]) - ms(&e["execution_start"])
        })
        .collect();
    let dryad_min = took.iter().copied().fold(f64::MAX, f64::min);
    let dryad_mean = took.iter().sum::<f64>() / took.len() as f64;
    let why = format!(
        "timing {:.1}-{:.1} ms (mean {:.1}), dryad {took:?}",
        timing.min_ms, timing.max_ms, timing.mean_ms
    );
    assert!(timing.min_ms >= dryad_min - 1.0, "{why}");
    assert!(timing.mean_ms >= dryad_mean - 1.0, "{why}");
    let t = report
        .thresholds
        .iter()
        .find(|t| t.scope.as_deref() == Some("CUSTOM execute→completed"))
        .expect("the example's threshold on its custom timing");
    assert_eq!(t.observed, Some(timing.percentiles.p95));
}
