//! A fake `/proc` and `/sys/fs/cgroup` in a temporary directory, for the unit tests of the
//! tree sampler and the CPU limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A temporary root holding `proc/` and `sys/fs/cgroup/`; removed on drop.
pub struct FakeRoot {
    dir: PathBuf,
}

/// What a fake process's `stat` says.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: u32,
    pub comm: String,
    pub state: char,
    pub utime: u64,
    pub cutime: u64,
    pub starttime: u64,
    pub rss_pages: u64,
}

impl FakeRoot {
    /// A root with `/proc/stat` listing `cpus` CPUs.
    pub fn new(cpus: u32) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cicada-fake-proc-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        std::fs::create_dir_all(dir.join("sys/fs/cgroup")).unwrap();
        let mut stat = String::from("cpu  100 0 100 1000 0 0 0 0 0 0\n");
        for c in 0..cpus {
            stat.push_str(&format!("cpu{c} 50 0 50 500 0 0 0 0 0 0\n"));
        }
        std::fs::write(dir.join("proc/stat"), stat).unwrap();
        Self { dir }
    }

    pub fn proc(&self) -> PathBuf {
        self.dir.join("proc")
    }

    /// Add a sleeping process with no CPU used yet, 1000 pages resident.
    pub fn process(&self, pid: u32, ppid: u32, pgrp: u32, comm: &str, cpus: &str, cgroup: &str) {
        let p = Proc {
            pid,
            ppid,
            pgrp,
            comm: comm.to_owned(),
            state: 'S',
            utime: 0,
            cutime: 0,
            starttime: u64::from(pid) * 10,
            rss_pages: 1000,
        };
        let dir = self.proc().join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("status"),
            format!("Name:\t{comm}\nState:\tS (sleeping)\nCpus_allowed_list:\t{cpus}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("cgroup"), cgroup).unwrap();
        self.write(&p);
    }

    /// Rewrite a process's `stat`.
    pub fn write(&self, p: &Proc) {
        let line = format!(
            "{} ({}) {} {} {} {} 0 -1 4194304 0 0 0 0 {} 0 {} 0 20 0 1 0 {} 1000000 {} \
             18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
            p.pid,
            p.comm,
            p.state,
            p.ppid,
            p.pgrp,
            p.pgrp,
            p.utime,
            p.cutime,
            p.starttime,
            p.rss_pages
        );
        std::fs::write(self.proc().join(p.pid.to_string()).join("stat"), line).unwrap();
    }

    /// The current `stat` of a process, to change and [`write`](Self::write) back.
    pub fn get(&self, pid: u32) -> Proc {
        let text = std::fs::read_to_string(self.proc().join(pid.to_string()).join("stat")).unwrap();
        let s = super::procfs::parse_pid_stat(&text).unwrap();
        Proc {
            pid: s.pid,
            ppid: s.ppid,
            pgrp: s.pgrp,
            comm: s.comm,
            state: s.state,
            utime: s.utime,
            cutime: s.cutime,
            starttime: s.starttime,
            rss_pages: s.rss_pages,
        }
    }

    /// Change a process's `stat` in place.
    pub fn update(&self, pid: u32, f: impl FnOnce(&mut Proc)) {
        let mut p = self.get(pid);
        f(&mut p);
        self.write(&p);
    }

    /// The process exits and is reaped: its directory goes away.
    pub fn remove(&self, pid: u32) {
        std::fs::remove_dir_all(self.proc().join(pid.to_string())).unwrap();
    }

    /// Write a file below `sys/fs/cgroup`.
    pub fn cgroup_file(&self, rel: &str, text: &str) {
        let path = self.dir.join("sys/fs/cgroup").join(rel);
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/"))).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

impl Drop for FakeRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
