//! The CPU a process (or a process tree) may use: its CPU affinity mask (`Cpus_allowed_list`)
//! and its cgroup's CPU quota — cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` over
//! `cpu.cfs_period_us` — of its own cgroup and every ancestor; the smaller wins.
//!
//! Everything is read below a procfs root (`/proc`), and the cgroup files below its sibling
//! `sys/fs/cgroup` (`/sys/fs/cgroup`), so tests can build a fake root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cicada_report::analysis_model::{CpuLimit, CpuLimitSource};

use super::procfs::{
    cpu_list, format_cpu_list, parse_cgroup_cpu_max, parse_cgroup_v1_cpu, parse_cgroup_v1_quota,
    parse_cgroup_v2_path, parse_pid_status, parse_proc_stat,
};
use super::sampler::ResourceError;

/// A cgroup CPU quota in cores and the file it was read from.
#[derive(Debug, Clone, PartialEq)]
struct Quota {
    cores: f64,
    file: PathBuf,
}

fn cgroup_root(proc_root: &Path) -> PathBuf {
    proc_root
        .parent()
        .unwrap_or(Path::new("/"))
        .join("sys/fs/cgroup")
}

/// `dir` and each of its ancestors up to `root`, leaf first.
fn up_to(root: &Path, rel: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut rel = PathBuf::from(rel.trim_start_matches('/'));
    loop {
        dirs.push(root.join(&rel));
        if !rel.pop() {
            break;
        }
    }
    dirs
}

fn tighter(a: Option<Quota>, b: Option<Quota>) -> Option<Quota> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.cores < a.cores { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The tightest quota of the cgroup a process is in (v2, else v1) and its ancestors.
fn cgroup_quota(proc_root: &Path, pid_dir: &Path) -> Option<Quota> {
    let text = std::fs::read_to_string(pid_dir.join("cgroup")).ok()?;
    let root = cgroup_root(proc_root);
    let mut best = None;
    if let Some(rel) = parse_cgroup_v2_path(&text) {
        for dir in up_to(&root, rel) {
            let file = dir.join("cpu.max");
            if let Ok(t) = std::fs::read_to_string(&file)
                && let Ok(Some(cores)) = parse_cgroup_cpu_max(&t)
            {
                best = tighter(best, Some(Quota { cores, file }));
            }
        }
    }
    if let Some((controllers, rel)) = parse_cgroup_v1_cpu(&text) {
        // The hierarchy is mounted as `cpu,cpuacct` (often with a `cpu` symlink) or `cpu`.
        for mount in [controllers, "cpu"] {
            let base = root.join(mount);
            if !base.is_dir() {
                continue;
            }
            for dir in up_to(&base, rel) {
                let file = dir.join("cpu.cfs_quota_us");
                if let (Ok(q), Ok(p)) = (
                    std::fs::read_to_string(&file),
                    std::fs::read_to_string(dir.join("cpu.cfs_period_us")),
                ) && let Ok(Some(cores)) = parse_cgroup_v1_quota(&q, &p)
                {
                    best = tighter(best, Some(Quota { cores, file }));
                }
            }
            break;
        }
    }
    best
}

/// CPUs online, from `/proc/stat` (falling back to what this process may use).
fn machine_cpus(proc_root: &Path) -> u32 {
    std::fs::read_to_string(proc_root.join("stat"))
        .ok()
        .and_then(|t| parse_proc_stat(&t).ok())
        .map(|(_, n)| n)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
}

/// The CPU limit of the processes `pids` taken together (one process, or every member of a
/// tree): the union of their affinity masks, capped by their cgroup quota (the largest one
/// when members sit in different cgroups). Processes that are gone are skipped; when none of
/// them can be read, the first one is reported gone.
pub fn cpu_limit(proc_root: &Path, pids: &[u32]) -> Result<CpuLimit, ResourceError> {
    let mut affinity: Option<BTreeSet<u32>> = None;
    let mut quotas: Vec<Option<Quota>> = Vec::new();
    let mut read_any = false;
    for &pid in pids {
        let dir = proc_root.join(pid.to_string());
        let path = dir.join("status");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let status = parse_pid_status(&text).map_err(|source| ResourceError::Parse {
            path: path.clone(),
            source,
        })?;
        read_any = true;
        if let Some(list) = &status.cpus_allowed_list
            && let Ok(cpus) = cpu_list(list)
        {
            affinity.get_or_insert_with(BTreeSet::new).extend(cpus);
        }
        quotas.push(cgroup_quota(proc_root, &dir));
    }
    if !read_any {
        return Err(ResourceError::ProcessGone {
            pid: pids.first().copied().unwrap_or(0),
        });
    }
    let machine = machine_cpus(proc_root);
    // Members in different cgroups: the tree may use up to the largest quota; one unlimited
    // member means no quota binds.
    let quota = if quotas.iter().all(Option::is_some) {
        quotas
            .into_iter()
            .flatten()
            .max_by(|a, b| a.cores.total_cmp(&b.cores))
    } else {
        None
    };
    let affinity_cpus = affinity.as_ref().map(|a| a.len() as u32);
    let by_affinity = f64::from(affinity_cpus.unwrap_or(machine).min(machine.max(1)));
    let (cores, source) = match &quota {
        Some(q) if q.cores < by_affinity => (q.cores, CpuLimitSource::CgroupQuota),
        _ if affinity_cpus.is_some_and(|a| a < machine) => (by_affinity, CpuLimitSource::Affinity),
        _ => (by_affinity, CpuLimitSource::Machine),
    };
    Ok(CpuLimit {
        cores: cores.max(0.01),
        source,
        machine_cpus: machine,
        affinity: affinity.as_ref().map(format_cpu_list),
        affinity_cpus,
        cgroup_quota_cores: quota.as_ref().map(|q| q.cores),
        cgroup_file: quota.map(|q| q.file.display().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fake_proc::FakeRoot;

    #[test]
    fn the_machine_when_nothing_limits() {
        let root = FakeRoot::new(4);
        root.process(10, 1, 10, "dryad", "0-3", "0::/app\n");
        let l = cpu_limit(&root.proc(), &[10]).unwrap();
        assert_eq!(l.cores, 4.0);
        assert_eq!(l.source, CpuLimitSource::Machine);
        assert_eq!(l.machine_cpus, 4);
        assert_eq!(l.affinity.as_deref(), Some("0-3"));
        assert_eq!(l.describe(), "4 cores (the whole machine)");
    }

    #[test]
    fn affinity_smaller_than_the_machine() {
        let root = FakeRoot::new(4);
        root.process(10, 1, 10, "dryad", "0", "0::/\n");
        let l = cpu_limit(&root.proc(), &[10]).unwrap();
        assert_eq!((l.cores, l.source), (1.0, CpuLimitSource::Affinity));
        assert_eq!(l.describe(), "1 core allowed (affinity 0)");
    }

    #[test]
    fn a_tree_may_use_the_union_of_its_masks() {
        let root = FakeRoot::new(8);
        root.process(10, 1, 10, "sh", "0", "0::/\n");
        root.process(11, 10, 10, "dryad", "2-3", "0::/\n");
        let l = cpu_limit(&root.proc(), &[10, 11, 999]).unwrap();
        assert_eq!(l.cores, 3.0);
        assert_eq!(l.affinity.as_deref(), Some("0,2-3"));
        // None readable: the first is gone.
        let err = cpu_limit(&root.proc(), &[998, 999]).unwrap_err();
        assert!(
            matches!(err, ResourceError::ProcessGone { pid: 998 }),
            "{err}"
        );
    }

    #[test]
    fn a_cgroup_v2_quota_of_an_ancestor_binds() {
        let root = FakeRoot::new(4);
        root.process(10, 1, 10, "dryad", "0-3", "0::/kubepods/pod1/ctr\n");
        root.cgroup_file("kubepods/pod1/ctr/cpu.max", "max 100000\n");
        root.cgroup_file("kubepods/pod1/cpu.max", "150000 100000\n");
        root.cgroup_file("kubepods/cpu.max", "300000 100000\n");
        let l = cpu_limit(&root.proc(), &[10]).unwrap();
        assert_eq!((l.cores, l.source), (1.5, CpuLimitSource::CgroupQuota));
        assert_eq!(l.cgroup_quota_cores, Some(1.5));
        assert!(
            l.cgroup_file
                .as_deref()
                .unwrap()
                .ends_with("kubepods/pod1/cpu.max"),
            "{:?}",
            l.cgroup_file
        );
        assert_eq!(l.describe(), "1.5 cores allowed (cgroup CPU quota)");
    }

    #[test]
    fn the_smaller_of_affinity_and_quota_wins() {
        let root = FakeRoot::new(4);
        root.process(10, 1, 10, "dryad", "0", "0::/app\n");
        root.cgroup_file("app/cpu.max", "200000 100000\n");
        let l = cpu_limit(&root.proc(), &[10]).unwrap();
        assert_eq!((l.cores, l.source), (1.0, CpuLimitSource::Affinity));
        assert_eq!(l.cgroup_quota_cores, Some(2.0));
    }

    #[test]
    fn a_cgroup_v1_cfs_quota_binds() {
        let root = FakeRoot::new(4);
        root.process(
            10,
            1,
            10,
            "java",
            "0-3",
            "4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n",
        );
        root.cgroup_file("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
        root.cgroup_file("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
        root.cgroup_file("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        root.cgroup_file("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        let l = cpu_limit(&root.proc(), &[10]).unwrap();
        assert_eq!((l.cores, l.source), (0.5, CpuLimitSource::CgroupQuota));
        assert_eq!(l.describe(), "0.5 cores allowed (cgroup CPU quota)");
    }

    #[test]
    fn this_process_has_a_limit_within_the_machine() {
        let l = cpu_limit(Path::new("/proc"), &[std::process::id()]).unwrap();
        assert!(
            l.cores > 0.0 && l.cores <= f64::from(l.machine_cpus),
            "{l:?}"
        );
    }
}
