//! The managed target's whole life against real processes: ready, failing to start, never ready,
//! ignoring SIGTERM, starting children, dropped without stop. Each test also proves that no
//! process of the target's group is left behind.

use std::net::TcpListener;
use std::time::Duration;

use cicada_target::{ManagedTarget, TargetError, TargetSpec};
use nix::sys::signal::killpg;
use nix::unistd::Pid;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn group_alive(pgid: u32) -> bool {
    killpg(Pid::from_raw(pgid as i32), None).is_ok()
}

async fn wait_group_gone(pgid: u32) -> bool {
    for _ in 0..100 {
        if !group_alive(pgid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn waits_for_ready_then_stops_the_whole_group() {
    let dir = std::env::temp_dir().join(format!("cicada-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ready"), "ok").unwrap();
    let port = free_port();
    // A child in the background too, to prove the group is stopped, not just the shell.
    let cmd = format!(
        "sleep 30 & exec python3 -m http.server {port} --bind 127.0.0.1 --directory {}",
        dir.display()
    );
    let spec = TargetSpec::new(cmd)
        .ready_url(format!("http://127.0.0.1:{port}/ready").parse().unwrap())
        .ready_timeout(Duration::from_secs(20));
    let target = ManagedTarget::start(&spec)
        .await
        .expect("target becomes ready");
    let pid = target.pid();
    assert!(group_alive(pid));
    let outcome = target.stop().await.unwrap();
    assert!(!outcome.killed, "python exits on SIGTERM: {outcome:?}");
    assert!(
        wait_group_gone(pid).await,
        "no process of the group may remain"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn target_that_exits_early_reports_its_output() {
    let spec = TargetSpec::new("echo 'database is locked' >&2; exit 3").ready_url(
        format!("http://127.0.0.1:{}/ready", free_port())
            .parse()
            .unwrap(),
    );
    let err = ManagedTarget::start(&spec).await.unwrap_err();
    match &err {
        TargetError::ExitedBeforeReady { status, output, .. } => {
            assert!(status.contains('3'), "{status}");
            assert!(output.contains("database is locked"), "{output}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("database is locked"));
}

#[tokio::test]
async fn target_never_ready_times_out_and_is_stopped() {
    let spec = TargetSpec::new("echo starting; exec sleep 30")
        .ready_url(
            format!("http://127.0.0.1:{}/ready", free_port())
                .parse()
                .unwrap(),
        )
        .ready_timeout(Duration::from_millis(600));
    let started = std::time::Instant::now();
    let err = ManagedTarget::start(&spec).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8));
    match err {
        TargetError::NotReady {
            output, last_error, ..
        } => {
            assert!(output.contains("starting"), "{output}");
            assert!(
                last_error.to_lowercase().contains("refused"),
                "{last_error}"
            );
        }
        other => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn target_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    let spec = TargetSpec::new("trap '' TERM; echo armed; sleep 30")
        .stop_timeout(Duration::from_millis(500));
    let target = ManagedTarget::start(&spec).await.unwrap();
    let pid = target.pid();
    // Signal only once the shell has ignored SIGTERM (a fresh sh would simply die of it).
    while !target.recent_output().contains("armed") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcome = target.stop().await.unwrap();
    assert!(outcome.killed, "{outcome:?}");
    assert!(outcome.took >= Duration::from_millis(500));
    assert!(wait_group_gone(pid).await);
}

#[tokio::test]
async fn dropping_a_running_target_kills_its_group() {
    let target = ManagedTarget::start(&TargetSpec::new("sleep 30 & sleep 30"))
        .await
        .unwrap();
    let pid = target.pid();
    assert!(group_alive(pid));
    drop(target);
    assert!(wait_group_gone(pid).await);
}

#[tokio::test]
async fn output_goes_to_the_log_file_too() {
    let log = std::env::temp_dir().join(format!("cicada-target-log-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let spec = TargetSpec::new("echo hello-out; echo hello-err >&2; exec sleep 30").log_file(&log);
    let target = ManagedTarget::start(&spec).await.unwrap();
    while !(target.recent_output().contains("hello-out")
        && target.recent_output().contains("hello-err"))
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    target.stop().await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("hello-out") && text.contains("hello-err"),
        "{text}"
    );
    std::fs::remove_file(log).unwrap();
}
