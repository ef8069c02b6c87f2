//! Pure parsers for the `/proc` files the sampler reads. Each takes the file's text and returns
//! typed numbers or a [`ParseError`] naming what was wrong; none touches the file system.

use std::fmt;

/// Why a `/proc` text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct ParseError {
    /// Which file kind, e.g. `"/proc/<pid>/stat"`.
    pub file: &'static str,
    pub reason: String,
}

impl ParseError {
    fn new(file: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            file,
            reason: reason.to_string(),
        }
    }
}

/// The fields of `/proc/<pid>/stat` the sampler uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    pub pid: u32,
    /// The command name (`comm`, at most 15 bytes).
    pub comm: String,
    /// Process state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Parent PID.
    pub ppid: u32,
    /// Process group ID.
    pub pgrp: u32,
    /// User-mode CPU time in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time in clock ticks.
    pub stime: u64,
    /// User-mode CPU time of waited-for (reaped) children, in clock ticks.
    pub cutime: u64,
    /// Kernel-mode CPU time of waited-for children, in clock ticks.
    pub cstime: u64,
    pub num_threads: u64,
    /// Start time after boot in clock ticks: with the PID, identifies the process (PIDs are reused).
    pub starttime: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
}

impl PidStat {
    /// User + kernel CPU time in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime + self.stime
    }

    /// CPU time of the children it reaped (they exited and it waited for them).
    pub fn children_cpu_ticks(&self) -> u64 {
        self.cutime + self.cstime
    }
}

const STAT: &str = "/proc/<pid>/stat";

/// Parse `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so the fields are counted from the *last* `)`.
pub fn parse_pid_stat(text: &str) -> Result<PidStat, ParseError> {
    let text = text.trim_end();
    let open = text
        .find('(')
        .ok_or_else(|| ParseError::new(STAT, "no '(' before the command name"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| ParseError::new(STAT, "no ')' after the command name"))?;
    if close < open {
        return Err(ParseError::new(STAT, "')' before '('"));
    }
    let pid = text[..open]
        .trim()
        .parse::<u32>()
        .map_err(|e| ParseError::new(STAT, format!("pid field: {e}")))?;
    // Fields from 3 (state) on; index 0 here is field 3.
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| -> Result<&str, ParseError> {
        rest.get(n - 3).copied().ok_or_else(|| {
            ParseError::new(
                STAT,
                format!("only {} fields, field {n} missing", rest.len() + 2),
            )
        })
    };
    let num = |n: usize, name: &str| -> Result<u64, ParseError> {
        let raw = field(n)?;
        // rss (field 24) is signed in the kernel's format; clamp a negative to 0.
        if let Ok(v) = raw.parse::<u64>() {
            return Ok(v);
        }
        match raw.parse::<i64>() {
            Ok(v) if v < 0 => Ok(0),
            _ => Err(ParseError::new(
                STAT,
                format!("field {n} ({name}) is not a number: {raw:?}"),
            )),
        }
    };
    let state = field(3)?
        .chars()
        .next()
        .ok_or_else(|| ParseError::new(STAT, "empty state field"))?;
    let id = |n: usize, name: &str| -> Result<u32, ParseError> {
        let v = num(n, name)?;
        u32::try_from(v).map_err(|_| ParseError::new(STAT, format!("field {n} ({name}) too large")))
    };
    Ok(PidStat {
        pid,
        comm: text[open + 1..close].to_owned(),
        state,
        ppid: id(4, "ppid")?,
        pgrp: id(5, "pgrp")?,
        utime: num(14, "utime")?,
        stime: num(15, "stime")?,
        cutime: num(16, "cutime")?,
        cstime: num(17, "cstime")?,
        num_threads: num(20, "num_threads")?,
        starttime: num(22, "starttime")?,
        rss_pages: num(24, "rss")?,
    })
}

/// Parse `/proc/<pid>/statm` and return the resident set size in pages (second field).
pub fn parse_statm_resident_pages(text: &str) -> Result<u64, ParseError> {
    const F: &str = "/proc/<pid>/statm";
    let mut fields = text.split_ascii_whitespace();
    let _size = fields
        .next()
        .ok_or_else(|| ParseError::new(F, "empty file"))?;
    let resident = fields
        .next()
        .ok_or_else(|| ParseError::new(F, "no resident field"))?;
    resident
        .parse()
        .map_err(|e| ParseError::new(F, format!("resident field {resident:?}: {e}")))
}

/// The fields of `/proc/<pid>/status` the sampler uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PidStatus {
    /// `VmRSS` in bytes; `None` for kernel threads and zombies, which have no memory.
    pub vm_rss_bytes: Option<u64>,
    /// Number of CPUs in `Cpus_allowed_list` (the affinity mask), if present.
    pub cpus_allowed: Option<u32>,
    /// `Cpus_allowed_list` as the kernel wrote it (`0-3,6`).
    pub cpus_allowed_list: Option<String>,
    /// `Threads`.
    pub threads: Option<u64>,
}

/// Parse `/proc/<pid>/status`.
pub fn parse_pid_status(text: &str) -> Result<PidStatus, ParseError> {
    const F: &str = "/proc/<pid>/status";
    let mut out = PidStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "VmRSS" => {
                let number = value.strip_suffix("kB").unwrap_or(value).trim();
                let kb: u64 = number
                    .parse()
                    .map_err(|e| ParseError::new(F, format!("VmRSS {value:?}: {e}")))?;
                out.vm_rss_bytes = Some(kb * 1024);
            }
            "Cpus_allowed_list" => {
                out.cpus_allowed = Some(
                    count_cpu_list(value)
                        .map_err(|r| ParseError::new(F, format!("Cpus_allowed_list: {r}")))?,
                );
                out.cpus_allowed_list = Some(value.to_owned());
            }
            "Threads" => {
                out.threads = Some(
                    value
                        .parse()
                        .map_err(|e| ParseError::new(F, format!("Threads {value:?}: {e}")))?,
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Count the CPUs in a kernel CPU list such as `0-3,8,10-11`.
pub fn count_cpu_list(list: &str) -> Result<u32, String> {
    cpu_list(list).map(|cpus| cpus.len() as u32)
}

/// The CPUs of a kernel CPU list such as `0-3,8,10-11`, each once, ascending.
pub fn cpu_list(list: &str) -> Result<std::collections::BTreeSet<u32>, String> {
    let mut cpus = std::collections::BTreeSet::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad range {part:?}"))?;
                let b: u32 = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad range {part:?}"))?;
                if b < a {
                    return Err(format!("descending range {part:?}"));
                }
                if b - a > 65_535 {
                    return Err(format!("range {part:?} is larger than any machine"));
                }
                cpus.extend(a..=b);
            }
            None => {
                cpus.insert(
                    part.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("bad CPU number {part:?}"))?,
                );
            }
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(cpus)
}

/// Write a CPU set the way the kernel lists it: `0-3,6`.
pub fn format_cpu_list(cpus: &std::collections::BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    for &c in cpus {
        run = match run {
            Some((a, b)) if c == b + 1 => Some((a, c)),
            Some((a, b)) => {
                parts.push(if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                });
                Some((c, c))
            }
            None => Some((c, c)),
        };
    }
    if let Some((a, b)) = run {
        parts.push(if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        });
    }
    parts.join(",")
}

/// Aggregate CPU times from the first (`cpu`) line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTimes {
    /// All ticks (guest time is already inside `user` and `nice`, so it is not added again).
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }

    /// Ticks spent doing work: everything but idle and I/O wait.
    pub fn busy(&self) -> u64 {
        self.total() - self.idle - self.iowait
    }
}

/// Parse the aggregate `cpu` line of `/proc/stat` (and the number of per-CPU lines).
pub fn parse_proc_stat(text: &str) -> Result<(CpuTimes, u32), ParseError> {
    const F: &str = "/proc/stat";
    let mut aggregate = None;
    let mut cpus = 0u32;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        match fields.next() {
            Some("cpu") => {
                let nums: Vec<u64> = fields
                    .map(|f| {
                        f.parse::<u64>()
                            .map_err(|e| ParseError::new(F, format!("cpu field {f:?}: {e}")))
                    })
                    .collect::<Result<_, _>>()?;
                if nums.len() < 4 {
                    return Err(ParseError::new(
                        F,
                        format!("cpu line has {} fields, need at least 4", nums.len()),
                    ));
                }
                let at = |i: usize| nums.get(i).copied().unwrap_or(0);
                aggregate = Some(CpuTimes {
                    user: at(0),
                    nice: at(1),
                    system: at(2),
                    idle: at(3),
                    iowait: at(4),
                    irq: at(5),
                    softirq: at(6),
                    steal: at(7),
                });
            }
            Some(name) if name.starts_with("cpu") && name[3..].parse::<u32>().is_ok() => {
                cpus += 1;
            }
            _ => {}
        }
    }
    let aggregate = aggregate.ok_or_else(|| ParseError::new(F, "no aggregate 'cpu' line"))?;
    Ok((aggregate, cpus))
}

/// Parse cgroup v2 `cpu.max` (`"max 100000"` or `"200000 100000"`) into a number of cores;
/// `None` when unlimited.
pub fn parse_cgroup_cpu_max(text: &str) -> Result<Option<f64>, ParseError> {
    const F: &str = "cpu.max";
    let mut fields = text.split_ascii_whitespace();
    let quota = fields
        .next()
        .ok_or_else(|| ParseError::new(F, "empty file"))?;
    let period: f64 = match fields.next() {
        Some(p) => p
            .parse()
            .map_err(|e| ParseError::new(F, format!("period {p:?}: {e}")))?,
        None => 100_000.0,
    };
    if quota == "max" {
        return Ok(None);
    }
    let quota: f64 = quota
        .parse()
        .map_err(|e| ParseError::new(F, format!("quota {quota:?}: {e}")))?;
    if period <= 0.0 {
        return Err(ParseError::new(F, "period is not positive"));
    }
    Ok(Some(quota / period))
}

/// The cgroup v2 path of a process from `/proc/<pid>/cgroup` (the `0::/path` line).
pub fn parse_cgroup_v2_path(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The cgroup v1 hierarchy holding the `cpu` controller, from `/proc/<pid>/cgroup`: its
/// controller list (the mount's directory name, e.g. `cpu,cpuacct`) and the process's path in it.
pub fn parse_cgroup_v1_cpu(text: &str) -> Option<(&str, &str)> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "cpu")
            .then_some((controllers, path))
    })
}

/// A cgroup v1 CPU quota from `cpu.cfs_quota_us` (`-1` = unlimited) and `cpu.cfs_period_us`,
/// in cores; `None` when unlimited.
pub fn parse_cgroup_v1_quota(quota_us: &str, period_us: &str) -> Result<Option<f64>, ParseError> {
    const F: &str = "cpu.cfs_quota_us";
    let quota: i64 = quota_us
        .trim()
        .parse()
        .map_err(|e| ParseError::new(F, format!("quota {:?}: {e}", quota_us.trim())))?;
    if quota < 0 {
        return Ok(None);
    }
    let period: f64 = period_us.trim().parse().map_err(|e| {
        ParseError::new("cpu.cfs_period_us", format!("{:?}: {e}", period_us.trim()))
    })?;
    if period <= 0.0 {
        return Err(ParseError::new(
            "cpu.cfs_period_us",
            "period is not positive",
        ));
    }
    Ok(Some(quota as f64 / period))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line from a Linux 6.x host (bash), and one with a hostile command name.
    const BASH_STAT: &str = "4107 (bash) S 4095 4107 4107 34816 4262 4194304 1310 6046 0 3 2 1 8 5 20 0 1 0 11226 8646656 1240 18446744073709551615 94863373557760 94863374466429 140727458387776 0 0 0 65536 3686404 1266761467 1 0 0 17 1 0 0 0 0 0 94863374709936 94863374758148 94863393173504 140727458392589 140727458392595 140727458392595 140727458394094 0\n";

    #[test]
    fn parses_a_real_stat_line() {
        let s = parse_pid_stat(BASH_STAT).unwrap();
        assert_eq!(s.pid, 4107);
        assert_eq!(s.comm, "bash");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 4095);
        assert_eq!(s.pgrp, 4107);
        assert_eq!(s.utime, 2);
        assert_eq!(s.stime, 1);
        assert_eq!(s.children_cpu_ticks(), 13);
        assert_eq!(s.cpu_ticks(), 3);
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.starttime, 11226);
        assert_eq!(s.rss_pages, 1240);
    }

    #[test]
    fn command_names_with_spaces_and_parens_do_not_shift_fields() {
        let line = BASH_STAT.replace("(bash)", "(my (evil) cmd) R 9)");
        let s = parse_pid_stat(&line).unwrap();
        assert_eq!(s.pid, 4107);
        assert_eq!(s.state, 'S');
        assert_eq!(s.utime, 2);
        assert_eq!(s.rss_pages, 1240);
    }

    #[test]
    fn truncated_stat_is_a_typed_error() {
        let err = parse_pid_stat("12 (x) S 1 2 3").unwrap_err();
        assert!(err.reason.contains("field 14 missing"), "{err}");
        assert!(parse_pid_stat("").is_err());
        assert!(parse_pid_stat("abc (x) S").is_err());
        let bad = BASH_STAT.replace(" 2 1 8 5 ", " x 1 8 5 ");
        let err = parse_pid_stat(&bad).unwrap_err();
        assert!(err.reason.contains("utime"), "{err}");
    }

    #[test]
    fn parses_the_real_stat_of_this_process() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let s = parse_pid_stat(&text).unwrap();
        assert_eq!(s.pid, std::process::id());
        assert!(s.rss_pages > 0);
        assert!(s.num_threads >= 1);
    }

    #[test]
    fn parses_statm() {
        assert_eq!(
            parse_statm_resident_pages("2111 1240 1003 222 0 170 0\n"),
            Ok(1240)
        );
        assert!(parse_statm_resident_pages("").is_err());
        assert!(parse_statm_resident_pages("12").is_err());
        assert!(parse_statm_resident_pages("12 x").is_err());
        let real = std::fs::read_to_string("/proc/self/statm").unwrap();
        assert!(parse_statm_resident_pages(&real).unwrap() > 0);
    }

    #[test]
    fn parses_status() {
        let text = "Name:\tbash\nState:\tS (sleeping)\nVmRSS:\t    4960 kB\nThreads:\t1\nCpus_allowed:\tff\nCpus_allowed_list:\t0-3,6\n";
        let s = parse_pid_status(text).unwrap();
        assert_eq!(s.vm_rss_bytes, Some(4960 * 1024));
        assert_eq!(s.threads, Some(1));
        assert_eq!(s.cpus_allowed, Some(5));
        // A zombie has no VmRSS line.
        let z = parse_pid_status("Name:\tx\nState:\tZ (zombie)\n").unwrap();
        assert_eq!(z.vm_rss_bytes, None);
        assert!(parse_pid_status("VmRSS:\tlots kB\n").is_err());
        let real =
            parse_pid_status(&std::fs::read_to_string("/proc/self/status").unwrap()).unwrap();
        assert!(real.vm_rss_bytes.unwrap() > 0);
        assert!(real.cpus_allowed.unwrap() >= 1);
    }

    #[test]
    fn counts_cpu_lists() {
        assert_eq!(count_cpu_list("0"), Ok(1));
        assert_eq!(count_cpu_list("0-1"), Ok(2));
        assert_eq!(count_cpu_list("0-3,8,10-11\n"), Ok(7));
        assert!(count_cpu_list("").is_err());
        assert!(count_cpu_list("3-1").is_err());
        assert!(count_cpu_list("a").is_err());
        // Overlaps count once; the set prints back the kernel's way.
        let set = cpu_list("0-2,1,5,6,7,9").unwrap();
        assert_eq!(set.len(), 7);
        assert_eq!(format_cpu_list(&set), "0-2,5-7,9");
        assert_eq!(format_cpu_list(&cpu_list("0").unwrap()), "0");
        assert!(cpu_list("0-4294967295").is_err());
    }

    #[test]
    fn parses_cgroup_v1_cpu_quota() {
        let text = "12:memory:/docker/ab\n4:cpu,cpuacct:/docker/ab\n1:name=systemd:/x\n0::/\n";
        assert_eq!(
            parse_cgroup_v1_cpu(text),
            Some(("cpu,cpuacct", "/docker/ab"))
        );
        assert_eq!(parse_cgroup_v1_cpu("4:cpuacct:/a\n0::/\n"), None);
        assert_eq!(parse_cgroup_v1_quota("-1\n", "100000\n"), Ok(None));
        assert_eq!(parse_cgroup_v1_quota("50000\n", "100000\n"), Ok(Some(0.5)));
        assert!(parse_cgroup_v1_quota("x", "100000").is_err());
        assert!(parse_cgroup_v1_quota("1", "0").is_err());
    }

    #[test]
    fn parses_proc_stat() {
        let text = "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\ncpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0\ncpu1 1335980 35049 470566 13356402 3383 0 3008 0 0 0\nintr 1462898\nctxt 2300\n";
        let (t, n) = parse_proc_stat(text).unwrap();
        assert_eq!(n, 2);
        assert_eq!(t.user, 10132153);
        assert_eq!(t.idle, 46828483);
        assert_eq!(t.iowait, 16683);
        assert_eq!(t.softirq, 25195);
        assert_eq!(
            t.total(),
            10132153 + 290696 + 3084719 + 46828483 + 16683 + 25195
        );
        assert_eq!(t.busy(), t.total() - 46828483 - 16683);
        assert!(parse_proc_stat("intr 1\n").is_err());
        assert!(parse_proc_stat("cpu 1 2\n").is_err());
        assert!(parse_proc_stat("cpu 1 2 x 4\n").is_err());
        let (real, cpus) =
            parse_proc_stat(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
        assert!(real.total() > 0);
        assert!(cpus >= 1);
    }

    #[test]
    fn parses_cgroup_cpu_max() {
        assert_eq!(parse_cgroup_cpu_max("max 100000\n"), Ok(None));
        assert_eq!(parse_cgroup_cpu_max("150000 100000\n"), Ok(Some(1.5)));
        assert!(parse_cgroup_cpu_max("").is_err());
        assert!(parse_cgroup_cpu_max("x 100000").is_err());
        assert!(parse_cgroup_cpu_max("100 0").is_err());
        assert_eq!(
            parse_cgroup_v2_path("0::/user.slice/x\n"),
            Some("/user.slice/x")
        );
        assert_eq!(parse_cgroup_v2_path("1:cpu:/a\n"), None);
    }
}
