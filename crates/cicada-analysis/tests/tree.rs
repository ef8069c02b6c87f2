//! Process-tree sampling against real processes: a wrapper shell whose child does the work,
//! and a loop of short-lived children, each seen by the tree sampler and (nearly) missed by
//! sampling the top PID alone; and a real restart of a long-lived child.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cicada_analysis::resources::{ProcessSampler, TreeSampler};

/// Killed (its whole process group) and reaped when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// `timeout 30 sh -c SCRIPT` in a process group of its own (bounded even if the test dies).
fn spawn(script: &str) -> Group {
    use std::os::unix::process::CommandExt as _;
    Group(
        Command::new("timeout")
            .args(["30", "sh", "-c", script])
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn timeout sh"),
    )
}

/// Wait until the tree of `pid` has at least `n` members.
fn wait_members(pid: u32, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = TreeSampler::new(pid).unwrap();
        if t.member_pids().len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tree of {pid}: {:?}",
            t.member_pids()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_busy_child_of_a_wrapper_counts_for_the_tree_not_for_the_top_pid() {
    // `timeout` forks the shell, which forks the busy one (the `; true` keeps it from exec).
    let g = spawn("sh -c 'i=0; while [ $i -lt 300000000 ]; do i=$((i+1)); done'; true");
    wait_members(g.0.id(), 3);
    let mut tree = TreeSampler::new(g.0.id()).unwrap();
    let mut top = ProcessSampler::new(g.0.id()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = tree.sample(1.5).unwrap();
    let p = top.sample(1.5).unwrap();
    // The busy loop gets a good share of a core even on a shared machine; the wrapper itself
    // only waits.
    assert!(t.cpu_core_pct > 10.0, "tree {t:?}");
    assert!(
        t.cpu_core_pct > 5.0 * p.cpu_core_pct,
        "tree {t:?}, top pid {p:?}"
    );
    assert!(t.rss_bytes > p.rss_bytes, "tree {t:?}, top pid {p:?}");
    assert_eq!(tree.member_pids()[0], g.0.id());
}

#[test]
fn short_lived_children_are_counted_through_their_parent() {
    // Each child works briefly and exits; the sampler sees few of them alive, but the shell
    // reaps every one, so their CPU lands in its cutime.
    let g = spawn("while :; do sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'; done");
    wait_members(g.0.id(), 2);
    let mut tree = TreeSampler::new(g.0.id()).unwrap();
    let mut top = ProcessSampler::new(g.0.id()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = tree.sample(1.5).unwrap();
    let p = top.sample(1.5).unwrap();
    assert!(t.cpu_core_pct > 10.0, "tree {t:?}");
    assert!(
        t.cpu_core_pct > 5.0 * p.cpu_core_pct,
        "tree {t:?}, top pid {p:?}"
    );
    assert!(tree.take_restarts().is_empty());
}

#[test]
fn a_child_restarted_by_a_shell_loop_is_a_restart() {
    // A long-lived `sleep` that "crashes" after ~3 s and is started again.
    let g = spawn("while :; do sleep 3; done");
    wait_members(g.0.id(), 3);
    let mut tree = TreeSampler::new(g.0.id()).unwrap();
    let started = Instant::now();
    let mut restarts = Vec::new();
    while started.elapsed() < Duration::from_secs(10) && restarts.is_empty() {
        std::thread::sleep(Duration::from_millis(500));
        tree.sample(started.elapsed().as_secs_f64()).unwrap();
        restarts.extend(tree.take_restarts());
    }
    let r = restarts.first().expect("a restart within 10 s");
    assert_eq!(r.name, "sleep");
    assert_ne!(r.old_pid, r.new_pid);
    assert!(r.restarted_at_s > r.exited_after_s, "{r:?}");
}
