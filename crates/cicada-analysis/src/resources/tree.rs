//! Sampling a whole process tree: a root PID and every descendant (and, when the root leads a
//! process group, every member of that group, so a daemon that detached from its parent still
//! counts). A target started through a wrapper (`sh -c 'dryad serve'`, `npm start`,
//! `cargo run`) does its work in a child, which sampling the top PID alone misses.
//!
//! Each sample rescans `/proc`, so children started since the last sample are found. CPU is
//! counted so that nothing is lost or counted twice:
//!
//! - a member seen in both samples adds its own CPU since then, plus the CPU of children it
//!   reaped since then (`cutime`/`cstime`) less what those children had already been counted
//!   for while they lived;
//! - a member new since the last sample adds everything it used (and reaped) since it started,
//!   which all falls in this interval;
//! - so a child that starts and exits between two samples is still counted, through its parent.
//!
//! RSS is the sum over the live members (shared pages are counted once per process, as `ps`
//! does). A long-lived member that exits and is followed by a new process of the same name is a
//! restart ([`ProcessRestart`]): a supervisor or a shell loop bringing the service back.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cicada_report::analysis_model::{CpuLimit, ProcessRestart, ProcessSample};

use super::limit::cpu_limit;
use super::procfs::{PidStat, parse_pid_stat};
use super::sampler::{ResourceError, cpu_available_percent, cpu_core_percent};

/// A member must have been seen in this many samples before its exit can be a restart (a
/// short-lived helper such as `sleep` in a loop is not).
const RESTART_MIN_SAMPLES: u32 = 3;
/// How long after an exit a same-named process still counts as its restart.
const RESTART_WITHIN_S: f64 = 60.0;

#[derive(Debug, Clone)]
struct Member {
    starttime: u64,
    ppid: u32,
    comm: String,
    own: u64,
    children: u64,
    seen: u32,
    /// Whether it used CPU since it was first seen (a wrapper that only waits does not).
    active: bool,
}

impl Member {
    fn total(&self) -> u64 {
        self.own + self.children
    }
}

/// A long-lived member that exited, waiting for a successor of the same name.
#[derive(Debug, Clone)]
struct Exited {
    comm: String,
    pid: u32,
    last_seen_s: f64,
}

/// Samples the CPU and RSS of a process and all its descendants.
#[derive(Debug)]
pub struct TreeSampler {
    proc_root: PathBuf,
    root: u32,
    root_starttime: u64,
    ticks_per_second: u64,
    page_size: u64,
    limit: CpuLimit,
    members: HashMap<u32, Member>,
    last_at: Instant,
    last_elapsed_s: f64,
    exited: Vec<Exited>,
    restarts: Vec<ProcessRestart>,
}

/// Every process in `proc_root` whose `stat` can be read now (processes come and go while the
/// directory is read; those are skipped).
fn scan(proc_root: &Path) -> Result<Vec<PidStat>, ResourceError> {
    let entries = std::fs::read_dir(proc_root).map_err(|source| ResourceError::Io {
        path: proc_root.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) else {
            continue;
        };
        if let Ok(stat) = parse_pid_stat(&text) {
            out.push(stat);
        }
    }
    Ok(out)
}

/// The members of the tree rooted at `root` among `all`: descendants by parent PID, plus the
/// members of the root's process group when it leads one.
fn members_of(root: &PidStat, all: Vec<PidStat>) -> Vec<PidStat> {
    let mut children: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, s) in all.iter().enumerate() {
        children.entry(s.ppid).or_default().push(i);
    }
    let leads_group = root.pgrp == root.pid;
    let mut take = vec![false; all.len()];
    let mut stack = vec![root.pid];
    while let Some(pid) = stack.pop() {
        for &i in children.get(&pid).map_or(&[][..], Vec::as_slice) {
            if !take[i] && all[i].pid != root.pid {
                take[i] = true;
                stack.push(all[i].pid);
            }
        }
    }
    for (i, s) in all.iter().enumerate() {
        if leads_group && s.pgrp == root.pid && s.pid != root.pid && !take[i] {
            take[i] = true;
            // Its own descendants too (they may have left the group).
            stack.push(s.pid);
        }
    }
    while let Some(pid) = stack.pop() {
        for &i in children.get(&pid).map_or(&[][..], Vec::as_slice) {
            if !take[i] && all[i].pid != root.pid {
                take[i] = true;
                stack.push(all[i].pid);
            }
        }
    }
    all.into_iter()
        .zip(take)
        .filter_map(|(s, t)| t.then_some(s))
        .collect()
}

impl TreeSampler {
    /// Start sampling the tree of `root`. The first [`sample`](Self::sample) reports CPU since
    /// this call.
    pub fn new(root: u32) -> Result<Self, ResourceError> {
        Self::with_proc_root(Path::new("/proc"), root)
    }

    /// Like [`new`](Self::new) with another procfs mount (containers, tests).
    pub fn with_proc_root(proc_root: &Path, root: u32) -> Result<Self, ResourceError> {
        if !proc_root.join("stat").exists() {
            return Err(ResourceError::NoProcfs(proc_root.display().to_string()));
        }
        let mut s = Self {
            proc_root: proc_root.to_owned(),
            root,
            root_starttime: 0,
            ticks_per_second: rustix::param::clock_ticks_per_second(),
            page_size: rustix::param::page_size() as u64,
            limit: cpu_limit(proc_root, &[root])?,
            members: HashMap::new(),
            last_at: Instant::now(),
            last_elapsed_s: 0.0,
            exited: Vec::new(),
            restarts: Vec::new(),
        };
        let (root_stat, members) = s.read_tree(true)?;
        s.root_starttime = root_stat.starttime;
        s.absorb(&root_stat, &members, 0.0, true);
        s.limit = s.read_limit()?;
        Ok(s)
    }

    /// With explicit clock-tick and page sizes (tests of the arithmetic on a fake root).
    #[cfg(test)]
    fn with_units(mut self, ticks_per_second: u64, page_size: u64) -> Self {
        self.ticks_per_second = ticks_per_second;
        self.page_size = page_size;
        self
    }

    pub fn pid(&self) -> u32 {
        self.root
    }

    /// The CPU limit of the tree, as last read: of the members that used CPU (re-read whenever
    /// that set changes), else of every member.
    pub fn cpu_limit(&self) -> &CpuLimit {
        &self.limit
    }

    /// The PIDs in the tree at the last sample, the root first.
    pub fn member_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.members.keys().copied().collect();
        pids.sort_unstable_by_key(|&p| (p != self.root, p));
        pids
    }

    /// Restarts seen so far (and forgets them: each is returned once).
    pub fn take_restarts(&mut self) -> Vec<ProcessRestart> {
        std::mem::take(&mut self.restarts)
    }

    /// The members whose CPU limit is the tree's: those that used CPU since they were first
    /// seen (a wrapper shell that only waits for its child does not, and its wider affinity
    /// would hide the child's limit), else all of them.
    fn limit_pids(&self) -> Vec<u32> {
        let mut active: Vec<u32> = self
            .members
            .iter()
            .filter(|(_, m)| m.active)
            .map(|(&p, _)| p)
            .collect();
        if active.is_empty() {
            return self.member_pids();
        }
        active.sort_unstable();
        active
    }

    fn read_limit(&self) -> Result<CpuLimit, ResourceError> {
        cpu_limit(&self.proc_root, &self.limit_pids())
    }

    /// The root's stat and the tree's members (the root included).
    fn read_tree(&self, first: bool) -> Result<(PidStat, Vec<PidStat>), ResourceError> {
        let pid = self.root;
        let all = scan(&self.proc_root)?;
        let root = all
            .iter()
            .find(|s| s.pid == pid)
            .cloned()
            .ok_or(ResourceError::ProcessGone { pid })?;
        if root.state == 'Z' || root.state == 'X' {
            return Err(ResourceError::Zombie { pid });
        }
        if !first && root.starttime != self.root_starttime {
            return Err(ResourceError::PidReused { pid });
        }
        let mut members = members_of(&root, all);
        members.push(root.clone());
        Ok((root, members))
    }

    /// Take the tree's new state in; return the CPU ticks used since the last state.
    fn absorb(&mut self, _root: &PidStat, now: &[PidStat], elapsed_s: f64, first: bool) -> u64 {
        let same = |m: &Member, s: &PidStat| m.starttime == s.starttime;
        // Members of the last state that are gone now, by their parent.
        let mut gone_by_parent: BTreeMap<u32, u64> = BTreeMap::new();
        let alive: HashMap<u32, &PidStat> = now.iter().map(|s| (s.pid, s)).collect();
        for (pid, m) in &self.members {
            if alive.get(pid).is_none_or(|s| !same(m, s)) {
                *gone_by_parent.entry(m.ppid).or_default() += m.total();
                if m.seen >= RESTART_MIN_SAMPLES {
                    self.exited.push(Exited {
                        comm: m.comm.clone(),
                        pid: *pid,
                        last_seen_s: self.last_elapsed_s,
                    });
                }
            }
        }
        self.exited
            .retain(|e| elapsed_s - e.last_seen_s <= RESTART_WITHIN_S || first);
        let mut delta = 0u64;
        let mut members = HashMap::with_capacity(now.len());
        for s in now {
            let (own, children) = (s.cpu_ticks(), s.children_cpu_ticks());
            let prev = self.members.get(&s.pid).filter(|m| same(m, s));
            let (seen, active) = match prev {
                Some(m) => {
                    let reaped = gone_by_parent.get(&s.pid).copied().unwrap_or(0);
                    delta += own.saturating_sub(m.own)
                        + children.saturating_sub(m.children).saturating_sub(reaped);
                    (m.seen + 1, m.active || own > m.own)
                }
                None => {
                    if !first {
                        delta += own + children;
                    }
                    (1, !first && own > 0)
                }
            };
            let appeared = prev.is_none_or(|m| m.comm != s.comm);
            if appeared
                && !first
                && let Some(i) = self.exited.iter().position(|e| e.comm == s.comm)
            {
                let e = self.exited.remove(i);
                self.restarts.push(ProcessRestart {
                    exited_after_s: e.last_seen_s,
                    restarted_at_s: elapsed_s,
                    name: e.comm,
                    old_pid: e.pid,
                    new_pid: s.pid,
                });
            }
            members.insert(
                s.pid,
                Member {
                    starttime: s.starttime,
                    ppid: s.ppid,
                    comm: s.comm.clone(),
                    own,
                    children,
                    seen,
                    active,
                },
            );
        }
        self.members = members;
        self.last_elapsed_s = elapsed_s;
        delta
    }

    /// Take one sample: the tree's CPU since the previous sample, its RSS now.
    pub fn sample(&mut self, elapsed_s: f64) -> Result<ProcessSample, ResourceError> {
        self.sample_at(Instant::now(), elapsed_s)
    }

    /// [`sample`](Self::sample) with the wall-clock instant given (the reading is still live).
    pub fn sample_at(
        &mut self,
        now: Instant,
        elapsed_s: f64,
    ) -> Result<ProcessSample, ResourceError> {
        let (root, members) = self.read_tree(false)?;
        let before = self.limit_pids();
        let ticks = self.absorb(&root, &members, elapsed_s, false);
        if self.limit_pids() != before {
            // Best effort: a member may be gone again already.
            if let Ok(limit) = self.read_limit() {
                self.limit = limit;
            }
        }
        let wall = now.saturating_duration_since(self.last_at).as_secs_f64();
        self.last_at = now;
        let core = cpu_core_percent(ticks, self.ticks_per_second, wall);
        let rss_pages: u64 = members
            .iter()
            .filter(|s| s.state != 'Z' && s.state != 'X')
            .map(|s| s.rss_pages)
            .sum();
        Ok(ProcessSample {
            elapsed_s,
            cpu_core_pct: core,
            cpu_available_pct: cpu_available_percent(core, self.limit.cores),
            rss_bytes: rss_pages * self.page_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resources::fake_proc::FakeRoot;

    /// A fake machine of 2 CPUs: `sh` (100, its own group) runs `dryad` (101); an unrelated
    /// process (200) is not in the tree.
    fn wrapper() -> FakeRoot {
        let root = FakeRoot::new(2);
        root.process(100, 1, 100, "sh", "0", "0::/\n");
        root.process(101, 100, 100, "dryad", "0", "0::/\n");
        root.process(200, 1, 200, "other", "0-1", "0::/\n");
        root
    }

    /// One sample a "second" later (the wall time is given, so the test is exact).
    fn tick(s: &mut TreeSampler, t0: Instant, secs: u64) -> ProcessSample {
        s.sample_at(t0 + Duration::from_secs(secs), secs as f64)
            .unwrap()
    }

    fn sampler(root: &FakeRoot, pid: u32) -> (TreeSampler, Instant) {
        let s = TreeSampler::with_proc_root(&root.proc(), pid)
            .unwrap()
            .with_units(100, 4096);
        let t0 = s.last_at;
        (s, t0)
    }

    #[test]
    fn the_child_of_a_wrapper_is_counted() {
        let root = wrapper();
        let (mut s, t0) = sampler(&root, 100);
        assert_eq!(s.member_pids(), [100, 101]);
        // dryad uses 90 ticks in a second (0.9 core at 100 Hz), the other process 100.
        root.update(101, |p| p.utime += 90);
        root.update(200, |p| p.utime += 100);
        let x = tick(&mut s, t0, 1);
        assert!((x.cpu_core_pct - 90.0).abs() < 1e-9, "{x:?}");
        // Pinned to CPU 0: 90 % of the one core it may use.
        assert_eq!(s.cpu_limit().cores, 1.0);
        assert!((x.cpu_available_pct - 90.0).abs() < 1e-9, "{x:?}");
        // RSS of both members, not of the unrelated process.
        assert_eq!(x.rss_bytes, 2 * 1000 * 4096);
    }

    #[test]
    fn a_short_lived_child_is_not_lost() {
        let root = wrapper();
        let (mut s, t0) = sampler(&root, 100);
        // Between two samples dryad starts a helper that uses 40 ticks, exits and is reaped:
        // the sampler never sees it, but dryad's cutime now holds its 40 ticks.
        root.update(101, |p| p.cutime += 40);
        let x = tick(&mut s, t0, 1);
        assert!((x.cpu_core_pct - 40.0).abs() < 1e-9, "{x:?}");
        // A child seen while it lived, then reaped: counted once, not again through cutime.
        root.process(102, 101, 100, "helper", "0", "0::/\n");
        let _ = tick(&mut s, t0, 2);
        root.update(102, |p| p.utime += 30);
        let x = tick(&mut s, t0, 3);
        assert!((x.cpu_core_pct - 30.0).abs() < 1e-9, "{x:?}");
        // It uses 20 more ticks, exits; dryad reaps it (cutime += 50, all it ever used).
        root.remove(102);
        root.update(101, |p| p.cutime += 50);
        let x = tick(&mut s, t0, 4);
        assert!((x.cpu_core_pct - 20.0).abs() < 1e-9, "{x:?}");
        assert!(s.take_restarts().is_empty());
    }

    #[test]
    fn a_new_child_counts_from_its_start_and_the_limit_is_reread() {
        let root = wrapper();
        let (mut s, t0) = sampler(&root, 100);
        // A worker on CPU 1 starts and uses 50 ticks before the next sample.
        root.process(103, 100, 100, "worker", "1", "0::/\n");
        root.update(103, |p| p.utime = 50);
        root.update(101, |p| p.utime += 10);
        let x = tick(&mut s, t0, 1);
        assert!((x.cpu_core_pct - 60.0).abs() < 1e-9, "{x:?}");
        // Both working members together may use CPUs 0 and 1.
        assert_eq!(s.cpu_limit().cores, 2.0);
        assert_eq!(s.cpu_limit().affinity.as_deref(), Some("0-1"));
        assert!((x.cpu_available_pct - 30.0).abs() < 1e-9, "{x:?}");
    }

    #[test]
    fn the_limit_is_the_working_members_not_the_waiting_wrappers() {
        let root = FakeRoot::new(2);
        // `sh -c 'taskset -c 0 dryad'`: the shell may use both CPUs, dryad only CPU 0.
        root.process(100, 1, 100, "sh", "0-1", "0::/\n");
        root.process(101, 100, 100, "dryad", "0", "0::/\n");
        let (mut s, t0) = sampler(&root, 100);
        assert_eq!(
            s.cpu_limit().cores,
            2.0,
            "nothing has worked yet: every member"
        );
        root.update(101, |p| p.utime += 95);
        let x = tick(&mut s, t0, 1);
        assert_eq!(s.cpu_limit().describe(), "1 core allowed (affinity 0)");
        assert!((x.cpu_available_pct - 95.0).abs() < 1e-9, "{x:?}");
    }

    #[test]
    fn a_detached_member_of_the_group_still_counts() {
        let root = wrapper();
        // A daemon that double-forked: reparented to init, still in the target's group.
        root.process(150, 1, 100, "daemon", "0", "0::/\n");
        let (mut s, t0) = sampler(&root, 100);
        assert_eq!(s.member_pids(), [100, 101, 150]);
        root.update(150, |p| p.utime += 10);
        assert!((tick(&mut s, t0, 1).cpu_core_pct - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_long_lived_child_replaced_by_another_of_its_name_is_a_restart() {
        let root = wrapper();
        let (mut s, t0) = sampler(&root, 100);
        for t in 1..=4 {
            tick(&mut s, t0, t);
        }
        // dryad crashes after 4 s; the shell loop starts a new one (first as a forked `sh`,
        // then exec'd into `dryad`).
        root.remove(101);
        root.process(105, 100, 100, "sh", "0", "0::/\n");
        tick(&mut s, t0, 5);
        assert!(s.take_restarts().is_empty());
        root.update(105, |p| p.comm = "dryad".into());
        tick(&mut s, t0, 6);
        let r = s.take_restarts();
        assert_eq!(
            r,
            [ProcessRestart {
                exited_after_s: 4.0,
                restarted_at_s: 6.0,
                name: "dryad".into(),
                old_pid: 101,
                new_pid: 105,
            }]
        );
        // Reported once.
        tick(&mut s, t0, 7);
        assert!(s.take_restarts().is_empty());
    }

    #[test]
    fn short_lived_helpers_in_a_loop_are_not_restarts() {
        let root = wrapper();
        let (mut s, t0) = sampler(&root, 100);
        for t in 1..=6 {
            let pid = 300 + t as u32;
            root.process(pid, 101, 100, "sleep", "0", "0::/\n");
            tick(&mut s, t0, t);
            root.remove(pid);
        }
        tick(&mut s, t0, 7);
        assert!(s.take_restarts().is_empty());
    }

    #[test]
    fn the_root_exiting_or_its_pid_reused_ends_sampling() {
        let root = wrapper();
        let (mut s, t0) = sampler(&root, 100);
        root.update(100, |p| p.starttime += 1);
        let err = s.sample_at(t0, 1.0).unwrap_err();
        assert!(
            matches!(err, ResourceError::PidReused { pid: 100 }),
            "{err}"
        );
        root.update(100, |p| p.state = 'Z');
        assert!(matches!(
            s.sample_at(t0, 1.0).unwrap_err(),
            ResourceError::Zombie { pid: 100 }
        ));
        root.remove(100);
        let err = s.sample_at(t0, 1.0).unwrap_err();
        assert!(err.is_process_gone(), "{err}");
        let err = TreeSampler::with_proc_root(&root.proc(), 100).unwrap_err();
        assert!(err.is_process_gone(), "{err}");
    }

    #[test]
    fn samples_this_process_tree() {
        let mut s = TreeSampler::new(std::process::id()).unwrap();
        assert_eq!(s.member_pids()[0], std::process::id());
        let x = s.sample(1.0).unwrap();
        assert!(x.rss_bytes > 1024 * 1024, "{x:?}");
    }
}
