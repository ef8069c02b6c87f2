//! `cicada capacity` end to end against an axum server with a known capacity: 4 requests at
//! a time, 20 ms each (a FIFO semaphore), so with N users a request waits about
//! ceil(N / 4) × 20 ms: 8 users meet P95 < 50 ms, 12 do not.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::sync::Semaphore;

async fn serve() -> String {
    let permits = Arc::new(Semaphore::new(4));
    let app = Router::new().route(
        "/x",
        get(move || {
            let permits = permits.clone();
            async move {
                let _p = permits.acquire().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_finds_the_users_a_server_of_known_capacity_can_take() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("load.toml");
    std::fs::write(
        &scenario,
        "name = \"cap\"\n[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n",
    )
    .unwrap();
    let json = dir.path().join("capacity.json");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_cicada"))
        .args([
            "capacity",
            scenario.to_str().unwrap(),
            "-H",
            &host,
            "--slo",
            "p95<50ms",
            "--slo",
            "error_rate<1%",
            "--start-users",
            "2",
            "--max-users",
            "64",
            "--step-time",
            "3s",
            "--warmup",
            "1s",
            "--max-steps",
            "10",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{t}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let c = &r["analysis"]["capacity"];
    let max = c["max_passing_load"].as_f64().unwrap();
    assert!((6.0..=10.0).contains(&max), "max users {max}: {c}\n{t}");
    let min_fail = c["min_failing_load"].as_f64().unwrap();
    assert!(min_fail > max && min_fail <= 16.0, "{c}");
    assert!(c["steps"].as_array().unwrap().len() >= 4, "{c}");
    assert!(
        t.contains(&format!(
            "max users at P95 < 50 ms and error rate < 1 %: {max}"
        )),
        "{t}"
    );
}

#[tokio::test]
async fn capacity_refuses_bad_slos_and_steps() {
    for args in [
        vec!["--slo", "p95 about 200ms"],
        vec!["--slo", "p95<200ms", "--step-time", "5s", "--warmup", "5s"],
    ] {
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_cicada"))
            .args(["capacity", "nowhere.toml"])
            .args(&args)
            .output()
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error:"),
            "{args:?}"
        );
    }
}
