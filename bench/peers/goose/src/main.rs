//! Goose side of the benchmark: every user loops `GET /` with no wait, as wrk, oha, Locust and
//! cicada do in `bench/run.sh`.
//!
//! Users, spawn rate, run time and host come from Goose's own flags (`-u`, `-r`, `-t`, `-H`).
//! `BENCH_WAIT=MIN-MAX` (seconds) adds a uniform wait between requests, for the idle-memory test.

use std::time::Duration;

use goose::prelude::*;

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    let mut scenario =
        scenario!("Hello").register_transaction(transaction!(get_root).set_name("/"));
    if let Some((min, max)) = wait_from_env() {
        scenario = scenario.set_wait_time(min, max)?;
    }
    GooseAttack::initialize()?
        .register_scenario(scenario)
        .execute()
        .await?;
    Ok(())
}

/// `BENCH_WAIT=5-10` → between 5 s and 10 s; unset or empty → no wait.
fn wait_from_env() -> Option<(Duration, Duration)> {
    let raw = std::env::var("BENCH_WAIT").ok()?;
    let (min, max) = raw.split_once('-')?;
    let secs = |s: &str| s.trim().parse::<f64>().ok().map(Duration::from_secs_f64);
    Some((secs(min)?, secs(max)?))
}

async fn get_root(user: &mut GooseUser) -> TransactionResult {
    let _response = user.get("/").await?;
    Ok(())
}
