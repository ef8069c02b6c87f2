//! Target CPU-bound: throughput stops growing with load while the target's CPU is at or above
//! 85 % of the cores it may use — judged against its CPU limit (affinity, cgroup quota), which
//! the finding names when it is smaller than the machine: "100 % of what it may use".

use cicada_report::analysis_model::{CpuLimitSource, Finding, FindingKind, Severity, TimeWindow};

use super::timeline::{load_series, load_unit, mean};
use super::{FindingsConfig, FindingsInput, ev, num};

/// Seconds of high CPU needed before the rule speaks.
const MIN_HIGH_SECONDS: usize = 5;

pub fn target_cpu_bound(input: &FindingsInput<'_>, cfg: &FindingsConfig) -> Option<Finding> {
    let target = input.resources?.target.as_ref()?;
    let report = input.report;
    let load = load_series(report);
    let cpu_at = |t: u64| {
        target
            .samples
            .iter()
            .find(|s| s.elapsed_s.round() as u64 == t)
            .map(|s| s.cpu_available_pct)
    };
    // (second, load, throughput, cpu) for loaded seconds.
    let rows: Vec<(u64, f64, f64, Option<f64>)> = report
        .timeline
        .iter()
        .zip(&load)
        .filter(|(_, (_, l))| *l > 0.0)
        .map(|(s, (_, l))| (s.elapsed_s, *l, s.rps, cpu_at(s.elapsed_s)))
        .collect();
    let high: Vec<_> = rows
        .iter()
        .filter(|r| r.3.is_some_and(|c| c >= cfg.target_cpu_bound_pct))
        .collect();
    if high.len() < MIN_HIGH_SECONDS {
        return None;
    }
    let window = TimeWindow::new(high[0].0 as f64 - 1.0, high[high.len() - 1].0 as f64);
    let cpu_mean = mean(high.iter().filter_map(|r| r.3))?;
    let load_hi = mean(high.iter().map(|r| r.1))?;
    let x_hi = mean(high.iter().map(|r| r.2))?;

    // Plateau, first way: throughput per unit of load well below what low load achieved.
    let low: Vec<f64> = rows
        .iter()
        .filter(|r| r.1 <= 0.5 * load_hi && r.3.is_none_or(|c| c < cfg.target_cpu_bound_pct))
        .map(|r| r.2 / r.1)
        .collect();
    let mut evidence = vec![
        ev(
            "target CPU (mean, % of its cores)",
            cpu_mean,
            "%",
            Some(window),
        ),
        ev("throughput at high CPU", x_hi, "req/s", Some(window)),
        ev("load at high CPU", load_hi, load_unit(report), Some(window)),
    ];
    let plateau = if low.len() >= 3 {
        let e_lo = median(low);
        let e_hi = x_hi / load_hi;
        let ratio = e_hi / e_lo;
        evidence.push(ev(
            "throughput per unit of load, high vs low load",
            ratio * 100.0,
            "%",
            Some(window),
        ));
        (ratio < 0.6).then(|| {
            format!(
                "throughput per unit of load fell to {} % of its low-load value",
                num(ratio * 100.0, 0)
            )
        })
    } else {
        // Second way: within the high-CPU stretch, load grew but throughput did not.
        let first = &high[..high.len().min(3)];
        let top_load = high.iter().map(|r| r.1).fold(f64::MIN, f64::max);
        let top: Vec<_> = high.iter().filter(|r| r.1 >= 0.98 * top_load).collect();
        let (l0, x0) = (
            mean(first.iter().map(|r| r.1))?,
            mean(first.iter().map(|r| r.2))?,
        );
        let x1 = mean(top.iter().map(|r| r.2))?;
        let load_growth = top_load / l0 - 1.0;
        let x_growth = x1 / x0 - 1.0;
        (load_growth >= 0.2 && x_growth < 0.25 * load_growth).then(|| {
            format!(
                "load grew {} % while throughput grew {} %",
                num(load_growth * 100.0, 0),
                num(x_growth * 100.0, 0)
            )
        })
    }?;
    // What the CPU is judged against: the limit the target runs under, when it was read.
    let limited = target
        .cpu_limit
        .as_ref()
        .filter(|l| l.source != CpuLimitSource::Machine);
    let allowed = match limited {
        Some(l) => l.describe(),
        None => format!("{} it may use", cores_text(target.cores_available)),
    };
    evidence.push(ev(
        "cores the target may use",
        target.cores_available,
        "cores",
        None,
    ));
    let (title, next_step) = match limited {
        Some(l) => (
            format!(
                "The target is CPU-bound at its limit: {} — used {} % of it",
                l.describe(),
                num(cpu_mean, 0)
            ),
            format!(
                "The target may use only {} of this machine's {} CPUs ({}). Raise that limit \
                 (the `taskset`/cpuset affinity, or the cgroup quota: `docker --cpus`, \
                 Kubernetes `limits.cpu`) or add replicas; then profile the target under this \
                 load (e.g. `perf top -p PID`) and make the hottest path cheaper.",
                cores_text(l.cores),
                l.machine_cpus,
                match l.source {
                    CpuLimitSource::Affinity =>
                        format!("affinity {}", l.affinity.as_deref().unwrap_or("?")),
                    _ => l
                        .cgroup_file
                        .clone()
                        .unwrap_or_else(|| "cgroup CPU quota".to_owned()),
                }
            ),
        ),
        None => (
            "The target is CPU-bound".to_owned(),
            "Profile the target under this load (e.g. `perf top -p PID` or a flame graph) \
             and make the hottest path cheaper (caching, batching, less serialisation), \
             or give it more cores or replicas."
                .to_owned(),
        ),
    };
    Some(Finding {
        kind: FindingKind::TargetCpuBound,
        severity: Severity::Critical,
        score: 500.0 + cpu_mean,
        title,
        summary: format!(
            "Throughput plateaued at {} req/s while the target's CPU averaged {} % of the {} \
             ({}).",
            num(x_hi, 1),
            num(cpu_mean, 0),
            allowed,
            plateau
        ),
        evidence,
        window: Some(window),
        next_step,
    })
}

/// `1 core`, `2 cores`, `1.5 cores`.
pub(crate) fn cores_text(cores: f64) -> String {
    if cores == 1.0 {
        "1 core".to_owned()
    } else {
        format!("{} cores", num(cores, 2))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    /// Users step 10 → 20 → 40 → 80; the target saturates at 30 users' worth of work.
    fn stepped(
        cpu_at_saturation: f64,
    ) -> (
        cicada_report::RunReport,
        cicada_report::analysis_model::ResourceSeries,
    ) {
        let report = ReportBuilder::steps(&[(15, 10.0), (15, 20.0), (15, 40.0), (15, 80.0)]).build(
            |_, users| Second {
                rps: users.min(30.0) * 10.0,
                p95_ms: 10.0 * (users / 30.0).max(1.0),
                ..Second::default()
            },
        );
        let resources = resources_with_target(
            60,
            move |t| {
                let users = match t {
                    0..=15 => 10.0,
                    16..=30 => 20.0,
                    31..=45 => 40.0,
                    _ => 80.0,
                };
                let cpu = if users >= 40.0 {
                    cpu_at_saturation
                } else {
                    users / 30.0 * cpu_at_saturation
                };
                (cpu, 100 << 20)
            },
            |_| 20.0,
        );
        (report, resources)
    }

    #[test]
    fn a_plateau_at_high_cpu_is_cpu_bound() {
        let (report, resources) = stepped(97.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = target_cpu_bound(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(f.kind, FindingKind::TargetCpuBound);
        assert_eq!(f.window, Some(TimeWindow::new(30.0, 60.0)));
        assert!(f.summary.contains("300 req/s"), "{}", f.summary);
        assert!(f.summary.contains("97 %"), "{}", f.summary);
        assert!(f.summary.contains("fell to"), "{}", f.summary);
    }

    #[test]
    fn a_plateau_at_an_affinity_limit_names_the_limit() {
        let (report, mut resources) = stepped(98.0);
        let target = resources.target.as_mut().unwrap();
        target.cores_available = 1.0;
        target.cpu_limit = Some(cicada_report::analysis_model::CpuLimit {
            cores: 1.0,
            source: CpuLimitSource::Affinity,
            machine_cpus: 2,
            affinity: Some("0".into()),
            affinity_cpus: Some(1),
            cgroup_quota_cores: None,
            cgroup_file: None,
        });
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = target_cpu_bound(&input, &FindingsConfig::default()).expect("finding");
        assert_eq!(
            f.title,
            "The target is CPU-bound at its limit: 1 core allowed (affinity 0) — used 98 % of it"
        );
        assert!(
            f.summary
                .contains("98 % of the 1 core allowed (affinity 0)"),
            "{}",
            f.summary
        );
        assert!(
            f.next_step
                .contains("of this machine's 2 CPUs (affinity 0)"),
            "{}",
            f.next_step
        );
        let cores = f.evidence.iter().find(|e| e.unit == "cores").unwrap();
        assert_eq!(cores.value, 1.0);
    }

    #[test]
    fn the_same_plateau_at_low_cpu_is_not_cpu_bound() {
        let (report, resources) = stepped(55.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        assert!(target_cpu_bound(&input, &FindingsConfig::default()).is_none());
    }

    #[test]
    fn high_cpu_with_linear_scaling_is_not_a_plateau() {
        let report =
            ReportBuilder::steps(&[(20, 10.0), (20, 20.0), (20, 40.0)]).build(|_, u| Second {
                rps: u * 10.0,
                p95_ms: 10.0,
                ..Second::default()
            });
        let resources = resources_with_target(
            60,
            |t| (if t > 40 { 90.0 } else { 40.0 }, 1 << 20),
            |_| 10.0,
        );
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        assert!(target_cpu_bound(&input, &FindingsConfig::default()).is_none());
        // No target series: nothing to say.
        let input = FindingsInput::new(&report);
        assert!(target_cpu_bound(&input, &FindingsConfig::default()).is_none());
    }

    #[test]
    fn a_ramp_entirely_at_high_cpu_uses_growth_within_the_window() {
        // Load ramps 50 → 100 while CPU is pegged and throughput is flat.
        let report = ReportBuilder {
            seconds: 40,
            users: Box::new(|t| 50.0 + (t as f64 - 1.0) * 50.0 / 39.0),
            model: cicada_report::model::LoadModel::Closed,
        }
        .build(|_, _| Second {
            rps: 400.0,
            p95_ms: 50.0,
            ..Second::default()
        });
        let resources = resources_with_target(40, |_| (95.0, 1 << 20), |_| 10.0);
        let mut input = FindingsInput::new(&report);
        input.resources = Some(&resources);
        let f = target_cpu_bound(&input, &FindingsConfig::default()).expect("finding");
        assert!(
            f.summary.contains("while throughput grew 0 %"),
            "{}",
            f.summary
        );
    }
}
