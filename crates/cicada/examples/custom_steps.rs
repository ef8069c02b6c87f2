//! A custom step in Rust against dryad: each user logs in (a file-style `on_start` request that
//! captures the token), then its task starts an execution and polls it in a Rust loop with
//! backoff until it is COMPLETED or FAILED, recording the whole wait as the custom timing
//! `CUSTOM execute→completed`; a file-style step then reads the agent's history with the
//! execution id the closure set.
//!
//! ```text
//! dryad seed --export-agents data/agents.csv && dryad serve &
//! cargo run -p cicada --example custom_steps -- http://127.0.0.1:8000 data/agents.csv
//! ```
//!
//! Without arguments it runs against `http://127.0.0.1:8000` with `examples/agents.csv`.

use std::path::Path;
use std::time::{Duration, Instant};

use cicada::prelude::*;
use cicada::scenario::{CustomStep, FeederMode, StepError};
use serde_json::{Value, json};

/// The row the closure records the time from asking to the answer in.
pub const TIMING: &str = "execute→completed";

/// How long the closure waits for an execution before it fails the step.
const GIVE_UP: Duration = Duration::from_secs(20);

/// Start an execution, poll it with backoff until it finishes, record how long that took.
pub fn execute_and_wait() -> CustomStep {
    CustomStep::new("execute and wait", |vu| async move {
        let agent = vu
            .var("agent_id")
            .ok_or_else(|| StepError::new("no agent_id"))?;
        let began = Instant::now();
        let started: Value = vu
            .post("/api/v1/agent-studio/execute")
            .json(&json!({ "agent_id": agent, "prompt": "Summarise the latest run" }))
            .send()
            .await?
            .json()?;
        let id = started["execution_id"]
            .as_str()
            .ok_or_else(|| StepError::new(format!("no execution_id in {started}")))?
            .to_string();
        let mut pause = Duration::from_millis(50);
        let status = loop {
            let reply = vu
                .get(&format!("/api/v1/agent-studio/executions/{id}"))
                .name("/api/v1/agent-studio/executions/{id}")
                .send()
                .await?;
            let body: Value = reply.json()?;
            match body["status"].as_str() {
                Some(s @ ("COMPLETED" | "FAILED")) => break s.to_string(),
                _ if began.elapsed() > GIVE_UP => {
                    return Err(StepError::new(format!(
                        "execution still {} after {GIVE_UP:?}",
                        body["status"]
                    )));
                }
                _ => {}
            }
            vu.sleep(pause).await?;
            pause = (pause * 3 / 2).min(Duration::from_millis(500));
        };
        vu.record(TIMING, began.elapsed());
        if status == "FAILED" {
            vu.fail("execution status", "the execution FAILED");
        }
        vu.set("execution", id)?;
        Ok(())
    })
    .sets("execution")
    .timing(TIMING)
}

/// The scenario: log in, then the journey (the custom step, then the history).
pub fn scenario(agents_csv: &Path) -> Scenario {
    let user = UserType::new("studio_user")
        .header("Authorization", "Bearer {{token}}")
        .on_start(
            Request::post("/api/v1/auth/login")
                .json(json!({ "username": "{{username}}", "password": "{{password}}" }))
                .capture_json("token", "/access_token"),
        )
        .task(
            Task::new("journey").step(execute_and_wait()).step(
                Request::get("/api/v1/agent-studio/agents/{{agent_id}}/executions")
                    .query("limit", "20"),
            ),
        );
    Scenario::builder("dryad journey (custom step)")
        .host("http://127.0.0.1:8000")
        .header("Accept", "application/json")
        .variable("username", "loadtest")
        .variable("password", "test123")
        .feeder("agents", agents_csv, FeederMode::Shared)
        .user_type(user)
        .threshold("CUSTOM execute→completed: p95<5s")
        .threshold("error_rate<1%")
        .build()
}

#[allow(dead_code)] // a module of the dryad-suite test, which calls the parts above
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8000".to_string());
    let agents = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agents.csv").to_string());
    let program = Program::compile(&scenario(Path::new(&agents)), &CompileOptions::default())?;
    let load = LoadSpec {
        users: Some(5),
        spawn_rate: Some(5.0),
        run_time: Some(Duration::from_secs(10)),
        ..LoadSpec::default()
    };
    let plan = LoadPlan::resolve(&load, &program.load)?;
    let report = Runner::start(RunConfig::new(program, plan, &host)?)
        .await?
        .wait()
        .await?;
    for r in &report.requests {
        println!(
            "{:<7} {:<55} {:>6} requests {:>4} failed  p95 {:>8.1} ms",
            r.method, r.name, r.requests, r.failures, r.percentiles.p95
        );
    }
    println!("passed: {}", report.verdict.passed);
    Ok(())
}
