//! Helpers the rules share: the load at each second, steady phases, windows, regressions.

use cicada_report::analysis_model::{SeriesPoint, TimeWindow};
use cicada_report::model::{IntervalSample, LoadModel, RunReport};

/// The load at the end of each interval: users (closed model) or the planned arrival rate
/// (open model, from the plan's stages; in-flight iterations when the plan has none).
pub fn load_series(report: &RunReport) -> Vec<(f64, f64)> {
    let stages = &report.run.plan.stages;
    report
        .timeline
        .iter()
        .map(|s| {
            let t = s.elapsed_s as f64;
            let load = match report.run.plan.model {
                LoadModel::Open if !stages.is_empty() => planned_rate(stages, t),
                _ => s.users as f64,
            };
            (t, load)
        })
        .collect()
}

/// The unit of [`load_series`]: `users` (closed model) or `iterations/s` (open model).
pub fn load_unit(report: &RunReport) -> &'static str {
    match report.run.plan.model {
        LoadModel::Closed => "users",
        LoadModel::Open => "iterations/s",
    }
}

/// The plan's target at time `t`: each stage moves linearly from the previous target (0 at the
/// start) to its own over its duration; after the last stage the last target holds.
fn planned_rate(stages: &[cicada_report::model::StageInfo], t: f64) -> f64 {
    let (mut start, mut from) = (0.0, 0.0);
    for stage in stages {
        let end = start + stage.duration_s;
        if t <= end {
            if stage.duration_s <= 0.0 {
                return stage.target;
            }
            return from + (stage.target - from) * ((t - start) / stage.duration_s);
        }
        start = end;
        from = stage.target;
    }
    from
}

/// Maximal runs of at least `min_len_s` seconds in which the load stays within 2 % of the
/// run's first value and is above zero.
pub fn steady_windows(load: &[(f64, f64)], min_len_s: f64) -> Vec<TimeWindow> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < load.len() {
        let base = load[i].1;
        let mut j = i;
        while j + 1 < load.len() && (load[j + 1].1 - base).abs() <= 0.02 * base.abs().max(1e-9) {
            j += 1;
        }
        // A window covers the intervals i..=j; interval k spans (t_k − 1, t_k].
        let start = load[i].0 - 1.0;
        let end = load[j].0;
        if base > 0.0 && end - start >= min_len_s {
            out.push(TimeWindow::new(start, end));
        }
        i = j + 1;
    }
    out
}

/// Intervals whose end lies inside `w` (`start < t ≤ end`).
pub fn in_window<'a>(
    timeline: &'a [IntervalSample],
    w: &TimeWindow,
) -> impl Iterator<Item = &'a IntervalSample> + 'a {
    let w = *w;
    timeline.iter().filter(move |s| {
        let t = s.elapsed_s as f64;
        t > w.start_s && t <= w.end_s
    })
}

/// Points inside `w`.
pub fn points_in(points: &[SeriesPoint], w: &TimeWindow) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|p| p.elapsed_s > w.start_s && p.elapsed_s <= w.end_s)
        .map(|p| (p.elapsed_s, p.value))
        .collect()
}

pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        if v.is_finite() {
            sum += v;
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// Ordinary least squares of `y` on `x`: slope, intercept and R².
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub slope: f64,
    pub intercept: f64,
    pub r_squared: f64,
}

pub fn linear_fit(points: &[(f64, f64)]) -> Option<Fit> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r_squared = if syy > 0.0 {
        (sxy * sxy) / (sxx * syy)
    } else {
        1.0
    };
    Some(Fit {
        slope,
        intercept: my - slope * mx,
        r_squared,
    })
}

/// Merge sorted seconds (interval ends) into windows; adjacent seconds join.
pub fn seconds_to_windows(seconds: &[u64]) -> Vec<TimeWindow> {
    let mut out: Vec<TimeWindow> = Vec::new();
    for &s in seconds {
        let (start, end) = (s as f64 - 1.0, s as f64);
        match out.last_mut() {
            Some(w) if w.end_s >= start => w.end_s = end,
            _ => out.push(TimeWindow::new(start, end)),
        }
    }
    out
}

/// The first third and last third of a list (each at least one element when len ≥ 3).
pub fn thirds<T>(items: &[T]) -> Option<(&[T], &[T])> {
    if items.len() < 3 {
        return None;
    }
    let k = items.len() / 3;
    Some((&items[..k], &items[items.len() - k..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_windows_find_flat_runs() {
        let load: Vec<(f64, f64)> = (1..=40)
            .map(|t| {
                let l = match t {
                    1..=5 => t as f64 * 8.0,
                    6..=25 => 50.0,
                    26..=30 => 100.0,
                    _ => 0.0,
                };
                (t as f64, l)
            })
            .collect();
        let w = steady_windows(&load, 10.0);
        assert_eq!(w, [TimeWindow::new(5.0, 25.0)]);
        assert_eq!(steady_windows(&load, 3.0).len(), 2);
    }

    #[test]
    fn regression_and_windows() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        let f = linear_fit(&pts).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 1.0).abs() < 1e-12);
        assert!((f.r_squared - 1.0).abs() < 1e-12);
        assert!(linear_fit(&pts[..2]).is_none());
        assert_eq!(
            seconds_to_windows(&[3, 4, 5, 9]),
            [TimeWindow::new(2.0, 5.0), TimeWindow::new(8.0, 9.0)]
        );
        assert_eq!(mean([1.0, f64::NAN, 3.0]), Some(2.0));
        assert_eq!(mean([]), None);
        let (a, b) = thirds(&[1, 2, 3, 4, 5, 6, 7]).unwrap();
        assert_eq!((a, b), (&[1, 2][..], &[6, 7][..]));
    }

    #[test]
    fn planned_rates_interpolate_stages() {
        use cicada_report::model::StageInfo;
        let stages = [
            StageInfo {
                duration_s: 10.0,
                target: 100.0,
            },
            StageInfo {
                duration_s: 20.0,
                target: 100.0,
            },
            StageInfo {
                duration_s: 10.0,
                target: 0.0,
            },
        ];
        assert_eq!(planned_rate(&stages, 5.0), 50.0);
        assert_eq!(planned_rate(&stages, 20.0), 100.0);
        assert_eq!(planned_rate(&stages, 35.0), 50.0);
        assert_eq!(planned_rate(&stages, 100.0), 0.0);
    }
}
