//! The DRYAD scenario of `dryad.toml`, built in code with the builder API, then compiled and
//! (given a host) run for a few seconds with a control handle.
//!
//! ```text
//! cargo run -p cicada --example builder                              # validate and describe
//! cargo run -p cicada --example builder -- http://127.0.0.1:8000    # also run 5 s against it
//! ```

use std::time::Duration;

use cicada::prelude::*;
use cicada::scenario::{Check, FeederMode};
use serde_json::json;

fn scenario() -> Scenario {
    let agents = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agents.csv");
    let analyst = UserType::new("analyst")
        .wait(Wait::Between(
            Duration::from_secs(1),
            Duration::from_secs(3),
        ))
        .header("Authorization", "Bearer {{token}}")
        .on_start(
            Request::post("/api/v1/auth/login")
                .name("login")
                .json(json!({ "username": "{{username}}", "password": "{{password}}" }))
                .capture_json("token", "/access_token"),
        )
        .task(
            Task::single(
                Request::get("/api/v1/agent-studio/agents/{{agent_id}}/executions")
                    .query("limit", "20"),
            )
            .weight(5),
        )
        .task(
            Task::single(Request::get(
                "/api/v1/agent-studio/agents/{{agent_id}}/metrics",
            ))
            .weight(3),
        )
        .task(
            Task::single(
                Request::post("/api/v1/agent-studio/execute")
                    .json(
                        json!({ "agent_id": "{{agent_id}}", "prompt": "Summarise the latest run" }),
                    )
                    .check(Check::JsonExists("/execution_id".into())),
            )
            .weight(1),
        );
    Scenario::builder("dryad (built in code)")
        .host("http://127.0.0.1:8000")
        .header("Accept", "application/json")
        .variable("username", "loadtest")
        .variable("password", "test123")
        .feeder("agents", agents, FeederMode::Shared)
        .user_type(analyst)
        .threshold("p95<200ms")
        .threshold("error_rate<1%")
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let program = Program::compile(&scenario(), &CompileOptions::default())?;
    let load = LoadSpec {
        users: Some(10),
        spawn_rate: Some(5.0),
        run_time: Some(Duration::from_secs(5)),
        ..LoadSpec::default()
    };
    let plan = LoadPlan::resolve(&load, &program.load)?;
    println!(
        "{}: {} request rows; plan: {}",
        program.name,
        program.rows.len(),
        plan.describe()
    );
    for row in &program.rows {
        println!("  {} {} ({})", row.method, row.name, row.user_type);
    }
    let Some(host) = std::env::args().nth(1) else {
        println!("(pass a host URL to run it)");
        return Ok(());
    };
    let handle = Runner::start(RunConfig::new(program, plan, &host)?).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = handle.snapshot();
    println!("after 2 s: {} requests", live.aggregated.requests);
    let report = handle.wait().await?;
    println!(
        "{} requests, {:.2}% failed, p95 {:.1} ms, thresholds {}",
        report.aggregated.requests,
        report.aggregated.failure_ratio * 100.0,
        report.aggregated.percentiles.p95,
        if report.verdict.passed {
            "passed"
        } else {
            "failed"
        }
    );
    Ok(())
}
