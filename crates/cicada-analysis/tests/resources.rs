//! Resource sampling against real processes.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cicada_analysis::resources::{ProcessSampler, ResourceError, ResourceSampler, TargetProcess};

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(script: &str) -> Reaped {
    Reaped(
        Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sh"),
    )
}

#[test]
fn a_busy_child_shows_cpu_and_an_idle_one_does_not() {
    // Bounded: the busy loop (shell arithmetic only, no child processes) ends by itself after
    // 200 million iterations even if the test dies; the guard kills it first.
    let busy = spawn("i=0; while [ $i -lt 200000000 ]; do i=$((i+1)); done");
    let idle = spawn("sleep 20");
    let mut b = ProcessSampler::new(busy.0.id()).unwrap();
    let mut i = ProcessSampler::new(idle.0.id()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let bs = b.sample(1.5).unwrap();
    let is = i.sample(1.5).unwrap();
    // One core spinning: close to 100 % of a core on a quiet machine, less when builds share
    // it; far above an idle process in any case.
    assert!(bs.cpu_core_pct > 5.0, "busy child: {bs:?}");
    assert!(bs.cpu_core_pct <= 110.0 * b.cores_available(), "{bs:?}");
    assert!(
        (bs.cpu_available_pct - bs.cpu_core_pct / b.cores_available()).abs() < 1e-6
            || bs.cpu_available_pct == 100.0
    );
    assert!(is.cpu_core_pct < 2.0, "idle child: {is:?}");
    assert!(bs.rss_bytes > 0 && is.rss_bytes > 0);
}

#[test]
fn a_killed_child_is_reported_gone() {
    let mut child = spawn("sleep 20");
    let pid = child.0.id();
    let mut s = ProcessSampler::new(pid).unwrap();
    s.sample(0.0).unwrap();
    child.0.kill().unwrap();
    // Killed but not yet reaped: a zombie, or already gone if the kernel was quick.
    std::thread::sleep(Duration::from_millis(100));
    let err = s.sample(1.0).unwrap_err();
    assert!(err.is_process_gone(), "{err}");
    child.0.wait().unwrap();
    let err = s.sample(2.0).unwrap_err();
    assert!(
        matches!(
            err,
            ResourceError::ProcessGone { pid: p } | ResourceError::PidReused { pid: p } if p == pid
        ),
        "{err}"
    );
}

#[test]
fn the_run_sampler_records_generator_target_and_system_and_survives_the_target_exiting() {
    let mut child = spawn("sleep 20");
    let mut sampler = ResourceSampler::new(Some(TargetProcess {
        pid: child.0.id(),
        tree: false,
    }))
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(sampler.tick(1.0).is_empty());
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let errors = sampler.tick(2.0);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].is_process_gone());
    // Once gone, the target is no longer sampled and no more errors come.
    assert!(sampler.tick(3.0).is_empty());
    let series = sampler.finish();
    let generator = series.generator.unwrap();
    assert_eq!(generator.pid, std::process::id());
    assert_eq!(generator.samples.len(), 3);
    assert!(generator.samples.iter().all(|s| s.rss_bytes > 0));
    let target = series.target.unwrap();
    assert_eq!(target.samples.len(), 1);
    assert!(
        target.ended.as_deref().unwrap().contains("at 2s"),
        "{:?}",
        target.ended
    );
    assert_eq!(series.system.len(), 3);
}

#[test]
fn a_process_pinned_to_one_core_has_one_core_available() {
    // `taskset -c 0` execs the shell, so the PID is the pinned process.
    let mut pinned = Reaped(
        Command::new("taskset")
            .args([
                "-c",
                "0",
                "sh",
                "-c",
                "i=0; while [ $i -lt 200000000 ]; do i=$((i+1)); done",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("taskset (util-linux)"),
    );
    // Wait until taskset has set the mask and exec'd the shell.
    let comm = format!("/proc/{}/comm", pinned.0.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sh" {
        assert!(
            std::time::Instant::now() < deadline,
            "taskset did not exec sh"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = ProcessSampler::new(pinned.0.id()).unwrap();
    assert_eq!(s.cores_available(), 1.0);
    std::thread::sleep(Duration::from_millis(1000));
    let sample = s.sample(1.0).unwrap();
    // Relative to its one core, the available share equals the per-core share (capped at 100).
    assert!(
        (sample.cpu_available_pct - sample.cpu_core_pct.min(100.0)).abs() < 1e-9,
        "{sample:?}"
    );
    assert!(sample.cpu_core_pct > 5.0, "{sample:?}");
    let _ = pinned.0.kill();
    // And an unpinned process sees every core this machine gives it.
    let free = spawn("sleep 20");
    let s = ProcessSampler::new(free.0.id()).unwrap();
    let online = cicada_analysis::resources::SystemCpuSampler::new()
        .unwrap()
        .cpus() as f64;
    assert!(s.cores_available() <= online && s.cores_available() > 0.0);
}
