//! Samplers that read `/proc` once a second and turn tick counters into CPU percentages.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cicada_report::analysis_model::{
    CpuLimit, ProcessSample, ProcessSeries, ResourceSeries, SystemCpuSample,
};

use super::limit::cpu_limit;
use super::procfs::{self, CpuTimes, ParseError, parse_pid_stat, parse_proc_stat};
use super::tree::TreeSampler;

/// Why a sample could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The process exited (or never existed).
    #[error("process {pid} is gone")]
    ProcessGone { pid: u32 },
    /// The PID now belongs to a different process than the one first sampled.
    #[error("process {pid} exited and its PID was reused by another process")]
    PidReused { pid: u32 },
    /// The process is a zombie: it exited and waits to be reaped.
    #[error("process {pid} has exited (zombie)")]
    Zombie { pid: u32 },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error("/proc is not available on this system ({0})")]
    NoProcfs(String),
}

impl ResourceError {
    /// True when the process no longer exists as the one being sampled.
    pub fn is_process_gone(&self) -> bool {
        matches!(
            self,
            Self::ProcessGone { .. } | Self::PidReused { .. } | Self::Zombie { .. }
        )
    }
}

/// Per-second CPU percentage from two tick readings: `100` = one core fully busy.
///
/// Returns 0 for a non-positive wall time (two samples at the same instant).
pub fn cpu_core_percent(delta_ticks: u64, ticks_per_second: u64, wall_s: f64) -> f64 {
    if wall_s <= 0.0 || ticks_per_second == 0 {
        return 0.0;
    }
    delta_ticks as f64 / ticks_per_second as f64 / wall_s * 100.0
}

/// CPU relative to the cores available: `100` = every allowed core busy. Clamped to 0..=100,
/// since tick rounding can overshoot by a tick.
pub fn cpu_available_percent(core_percent: f64, cores_available: f64) -> f64 {
    if cores_available <= 0.0 {
        return 0.0;
    }
    (core_percent / cores_available).clamp(0.0, 100.0)
}

/// Busy, I/O-wait and steal percentages of all CPUs between two `/proc/stat` readings.
pub fn system_cpu_percent(prev: &CpuTimes, now: &CpuTimes) -> (f64, f64, f64) {
    let total = now.total().saturating_sub(prev.total());
    if total == 0 {
        return (0.0, 0.0, 0.0);
    }
    let pct = |v: u64| v as f64 / total as f64 * 100.0;
    (
        pct(now.busy().saturating_sub(prev.busy())),
        pct(now.iowait.saturating_sub(prev.iowait)),
        pct(now.steal.saturating_sub(prev.steal)),
    )
}

fn read(path: &Path, pid: Option<u32>) -> Result<String, ResourceError> {
    std::fs::read_to_string(path).map_err(|source| match (source.kind(), pid) {
        (std::io::ErrorKind::NotFound, Some(pid)) => ResourceError::ProcessGone { pid },
        // ESRCH: the process vanished between open and read.
        (_, Some(pid)) if source.raw_os_error() == Some(3) => ResourceError::ProcessGone { pid },
        _ => ResourceError::Io {
            path: path.to_owned(),
            source,
        },
    })
}

fn parse<T>(path: &Path, r: Result<T, ParseError>) -> Result<T, ResourceError> {
    r.map_err(|source| ResourceError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Samples one process's CPU and RSS.
#[derive(Debug)]
pub struct ProcessSampler {
    pid: u32,
    dir: PathBuf,
    ticks_per_second: u64,
    page_size: u64,
    limit: CpuLimit,
    starttime: u64,
    last: (Instant, u64),
}

impl ProcessSampler {
    /// Start sampling `pid`. The first [`sample`](Self::sample) reports CPU since this call.
    pub fn new(pid: u32) -> Result<Self, ResourceError> {
        Self::with_proc_root(Path::new("/proc"), pid)
    }

    /// Sample the calling process (the load generator).
    pub fn current() -> Result<Self, ResourceError> {
        Self::new(std::process::id())
    }

    /// Like [`new`](Self::new) with another procfs mount (containers, tests).
    pub fn with_proc_root(proc_root: &Path, pid: u32) -> Result<Self, ResourceError> {
        if !proc_root.join("stat").exists() {
            return Err(ResourceError::NoProcfs(proc_root.display().to_string()));
        }
        let dir = proc_root.join(pid.to_string());
        let stat = Self::read_stat(&dir, pid)?;
        let limit = cpu_limit(proc_root, &[pid])?;
        Ok(Self {
            pid,
            dir,
            ticks_per_second: rustix::param::clock_ticks_per_second(),
            page_size: rustix::param::page_size() as u64,
            limit,
            starttime: stat.starttime,
            last: (Instant::now(), stat.cpu_ticks()),
        })
    }

    fn read_stat(dir: &Path, pid: u32) -> Result<procfs::PidStat, ResourceError> {
        let path = dir.join("stat");
        let stat = parse(&path, parse_pid_stat(&read(&path, Some(pid))?))?;
        if stat.state == 'Z' || stat.state == 'X' {
            return Err(ResourceError::Zombie { pid });
        }
        Ok(stat)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Cores the process may use (affinity mask capped by its cgroup quota).
    pub fn cores_available(&self) -> f64 {
        self.limit.cores
    }

    /// What limits the cores the process may use.
    pub fn cpu_limit(&self) -> &CpuLimit {
        &self.limit
    }

    /// Take one sample: CPU since the previous sample, RSS now.
    pub fn sample(&mut self, elapsed_s: f64) -> Result<ProcessSample, ResourceError> {
        self.sample_at(Instant::now(), elapsed_s)
    }

    /// [`sample`](Self::sample) with the wall-clock instant given (the reading is still live).
    pub fn sample_at(
        &mut self,
        now: Instant,
        elapsed_s: f64,
    ) -> Result<ProcessSample, ResourceError> {
        let stat = Self::read_stat(&self.dir, self.pid)?;
        if stat.starttime != self.starttime {
            return Err(ResourceError::PidReused { pid: self.pid });
        }
        let ticks = stat.cpu_ticks();
        let wall = now.saturating_duration_since(self.last.0).as_secs_f64();
        let core = cpu_core_percent(
            ticks.saturating_sub(self.last.1),
            self.ticks_per_second,
            wall,
        );
        self.last = (now, ticks);
        Ok(ProcessSample {
            elapsed_s,
            cpu_core_pct: core,
            cpu_available_pct: cpu_available_percent(core, self.limit.cores),
            rss_bytes: stat.rss_pages * self.page_size,
        })
    }
}

/// Samples whole-machine CPU from `/proc/stat`.
#[derive(Debug)]
pub struct SystemCpuSampler {
    path: PathBuf,
    last: CpuTimes,
    cpus: u32,
}

impl SystemCpuSampler {
    pub fn new() -> Result<Self, ResourceError> {
        Self::with_proc_root(Path::new("/proc"))
    }

    pub fn with_proc_root(proc_root: &Path) -> Result<Self, ResourceError> {
        let path = proc_root.join("stat");
        if !path.exists() {
            return Err(ResourceError::NoProcfs(proc_root.display().to_string()));
        }
        let (last, cpus) = parse(&path, parse_proc_stat(&read(&path, None)?))?;
        Ok(Self { path, last, cpus })
    }

    /// CPUs listed in `/proc/stat` (online CPUs of the machine).
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// Busy share of all CPUs since the previous sample.
    pub fn sample(&mut self, elapsed_s: f64) -> Result<SystemCpuSample, ResourceError> {
        let (now, _) = parse(&self.path, parse_proc_stat(&read(&self.path, None)?))?;
        let (busy, iowait, steal) = system_cpu_percent(&self.last, &now);
        self.last = now;
        Ok(SystemCpuSample {
            elapsed_s,
            busy_pct: busy,
            iowait_pct: iowait,
            steal_pct: steal,
        })
    }
}

/// The target's sampler: its one PID, or its whole process tree.
#[derive(Debug)]
enum TargetSampler {
    One(ProcessSampler),
    Tree(TreeSampler),
}

impl TargetSampler {
    fn sample_at(&mut self, now: Instant, elapsed_s: f64) -> Result<ProcessSample, ResourceError> {
        match self {
            Self::One(s) => s.sample_at(now, elapsed_s),
            Self::Tree(s) => s.sample_at(now, elapsed_s),
        }
    }

    fn cpu_limit(&self) -> &CpuLimit {
        match self {
            Self::One(s) => s.cpu_limit(),
            Self::Tree(s) => s.cpu_limit(),
        }
    }
}

/// Which process is the target, and whether to sample its whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetProcess {
    pub pid: u32,
    /// Sample the process and all its descendants (and its process group when it leads one).
    pub tree: bool,
}

/// The per-run resource sampler: the generator, optionally the target, and the system.
/// Call [`tick`](Self::tick) once a second and [`finish`](Self::finish) at the end.
#[derive(Debug)]
pub struct ResourceSampler {
    generator: Option<(ProcessSampler, ProcessSeries)>,
    target: Option<(Option<TargetSampler>, ProcessSeries)>,
    system: Option<SystemCpuSampler>,
    system_series: Vec<SystemCpuSample>,
}

fn series(label: &str, pid: u32, limit: &CpuLimit, tree: bool) -> ProcessSeries {
    ProcessSeries {
        label: label.to_owned(),
        pid,
        cores_available: limit.cores,
        samples: Vec::new(),
        ended: None,
        tree,
        cpu_limit: Some(limit.clone()),
        restarts: Vec::new(),
    }
}

impl ResourceSampler {
    /// Sample this process as `"generator"` and, when given, the target as `"target"`.
    pub fn new(target: Option<TargetProcess>) -> Result<Self, ResourceError> {
        let generator = ProcessSampler::current()?;
        let target = target
            .map(|t| -> Result<_, ResourceError> {
                let sampler = if t.tree {
                    TargetSampler::Tree(TreeSampler::new(t.pid)?)
                } else {
                    TargetSampler::One(ProcessSampler::new(t.pid)?)
                };
                let s = series("target", t.pid, sampler.cpu_limit(), t.tree);
                Ok((Some(sampler), s))
            })
            .transpose()?;
        Ok(Self {
            generator: Some({
                let s = series("generator", generator.pid(), generator.cpu_limit(), false);
                (generator, s)
            }),
            target,
            system: Some(SystemCpuSampler::new()?),
            system_series: Vec::new(),
        })
    }

    /// Take one sample of everything. A target that exits stops being sampled (its series
    /// records why); other failures are returned but sampling goes on.
    pub fn tick(&mut self, elapsed_s: f64) -> Vec<ResourceError> {
        let now = Instant::now();
        let mut errors = Vec::new();
        if let Some((sampler, series)) = &mut self.generator {
            match sampler.sample_at(now, elapsed_s) {
                Ok(s) => series.samples.push(s),
                Err(e) => errors.push(e),
            }
        }
        if let Some((slot, series)) = &mut self.target
            && let Some(sampler) = slot
        {
            match sampler.sample_at(now, elapsed_s) {
                Ok(s) => {
                    series.samples.push(s);
                    if let TargetSampler::Tree(tree) = sampler {
                        series.restarts.extend(tree.take_restarts());
                    }
                    let limit = sampler.cpu_limit();
                    series.cores_available = limit.cores;
                    if series.cpu_limit.as_ref() != Some(limit) {
                        series.cpu_limit = Some(limit.clone());
                    }
                }
                Err(e) if e.is_process_gone() => {
                    series.ended = Some(format!("{e} at {elapsed_s:.0}s"));
                    *slot = None;
                    errors.push(e);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(sys) = &mut self.system {
            match sys.sample(elapsed_s) {
                Ok(s) => self.system_series.push(s),
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// A copy of the series collected so far; sampling goes on (the live view).
    pub fn so_far(&self) -> ResourceSeries {
        ResourceSeries {
            generator: self.generator.as_ref().map(|(_, s)| s.clone()),
            target: self.target.as_ref().map(|(_, s)| s.clone()),
            system: self.system_series.clone(),
        }
    }

    /// The series collected so far.
    pub fn finish(self) -> ResourceSeries {
        ResourceSeries {
            generator: self.generator.map(|(_, s)| s),
            target: self.target.map(|(_, s)| s),
            system: self.system_series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percentages() {
        // 50 ticks at 100 Hz in 1 s: half a core.
        assert_eq!(cpu_core_percent(50, 100, 1.0), 50.0);
        // 300 ticks in 1.5 s: two cores.
        assert_eq!(cpu_core_percent(300, 100, 1.5), 200.0);
        assert_eq!(cpu_core_percent(10, 100, 0.0), 0.0);
        assert_eq!(cpu_core_percent(10, 0, 1.0), 0.0);
        assert_eq!(cpu_available_percent(200.0, 4.0), 50.0);
        assert_eq!(cpu_available_percent(101.0, 1.0), 100.0);
        assert_eq!(cpu_available_percent(50.0, 0.0), 0.0);
    }

    #[test]
    fn system_percentages() {
        let a = CpuTimes {
            user: 100,
            idle: 100,
            ..Default::default()
        };
        let b = CpuTimes {
            user: 150,
            system: 25,
            idle: 110,
            iowait: 10,
            steal: 5,
            ..Default::default()
        };
        // Δtotal = 50 + 25 + 10 + 10 + 5 = 100.
        let (busy, iowait, steal) = system_cpu_percent(&a, &b);
        assert_eq!(busy, 80.0);
        assert_eq!(iowait, 10.0);
        assert_eq!(steal, 5.0);
        assert_eq!(system_cpu_percent(&a, &a), (0.0, 0.0, 0.0));
    }

    #[test]
    fn a_missing_pid_is_process_gone() {
        // PIDs are capped by pid_max (≤ 4194304), so this one cannot exist.
        let err = ProcessSampler::new(u32::MAX - 1).unwrap_err();
        assert!(matches!(err, ResourceError::ProcessGone { .. }), "{err}");
        assert!(err.is_process_gone());
    }

    #[test]
    fn a_missing_procfs_is_a_typed_error() {
        let dir = std::env::temp_dir();
        let err = ProcessSampler::with_proc_root(&dir.join("no-such-proc"), 1).unwrap_err();
        assert!(matches!(err, ResourceError::NoProcfs(_)), "{err}");
        let err = SystemCpuSampler::with_proc_root(&dir.join("no-such-proc")).unwrap_err();
        assert!(matches!(err, ResourceError::NoProcfs(_)), "{err}");
    }

    #[test]
    fn samples_this_process() {
        let mut s = ProcessSampler::current().unwrap();
        assert!(s.cores_available() > 0.0);
        let sample = s.sample(1.0).unwrap();
        assert!(sample.rss_bytes > 1024 * 1024, "{sample:?}");
        assert!(sample.cpu_core_pct >= 0.0);
        assert!(sample.cpu_available_pct <= 100.0);
        let mut sys = SystemCpuSampler::new().unwrap();
        assert!(sys.cpus() >= 1);
        let sample = sys.sample(1.0).unwrap();
        assert!((0.0..=100.0).contains(&sample.busy_pct));
    }
}
