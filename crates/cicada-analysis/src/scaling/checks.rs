//! Auto-scaling checks over one timeline of load, replicas, P95 and errors per second.
//!
//! The phases come from the load: the *baseline* is the level the spike rose from — the longest
//! stretch that stays flat for 3 s or more, before the load first nears its peak, low enough that
//! the peak is a rise from it (the latest of equally long ones; else the first flat stretch, else
//! the first loaded second). So a slow ramp up to the baseline, whose steps are flat for a few
//! seconds each, is not taken for the spike. The *rise* is the first second from the baseline on
//! that the load exceeds the baseline by the rise threshold (50 % by default), the *hold* starts
//! when the load reaches 98 % of its peak, the *drop* is the first second after that the load
//! falls below the peak by the threshold again.

use cicada_report::analysis_model::{ScalingCheck, ScalingPoint, ScalingReport};

/// The limits of the checks. Times are in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingLimits {
    /// Scale-out must begin within this long after the load rises.
    pub scale_out_reaction_s: f64,
    /// The needed count must be reached within this long after the load rises.
    pub reach_needed_s: f64,
    /// The replica count the spike needs; `None`: the highest count seen during the hold.
    pub needed_replicas: Option<f64>,
    /// The latency SLO that must hold again after scaling out.
    pub slo_p95_ms: f64,
    /// P95 must be back under the SLO (for [`SLO_STABLE_S`] seconds) within this long after
    /// the scale-out completed.
    pub slo_recovery_s: f64,
    /// Scale-in must begin within this long after the load drops.
    pub scale_in_s: f64,
    /// At most this many changes of direction (up → down or down → up) while the load is flat.
    pub max_reversals: u32,
    /// At most this many errors in the seconds around scale events.
    pub max_errors_during_scale: u64,
    /// Relative load change that counts as a rise or a drop.
    pub load_change: f64,
}

impl Default for ScalingLimits {
    fn default() -> Self {
        Self {
            scale_out_reaction_s: 60.0,
            reach_needed_s: 180.0,
            needed_replicas: None,
            slo_p95_ms: 500.0,
            slo_recovery_s: 120.0,
            scale_in_s: 300.0,
            max_reversals: 1,
            max_errors_during_scale: 0,
            load_change: 0.5,
        }
    }
}

/// P95 must stay under the SLO this long to count as recovered.
pub const SLO_STABLE_S: f64 = 5.0;
/// Seconds before and after a replica change that count as "during a scale event".
const EVENT_BEFORE_S: f64 = 2.0;
const EVENT_AFTER_S: f64 = 10.0;
/// A flat stretch of load (for the flapping check) lasts at least this long.
const MIN_FLAT_S: f64 = 10.0;
/// The baseline is the first stretch of flat load at least this long.
const MIN_BASELINE_S: f64 = 3.0;

/// Check names, as they appear in reports.
pub mod names {
    pub const SCALE_OUT_REACTION: &str = "scale_out_reaction";
    pub const REACH_NEEDED: &str = "reach_needed_count";
    pub const SLO_RECOVERY: &str = "slo_recovery";
    pub const SCALE_IN: &str = "scale_in";
    pub const NO_FLAPPING: &str = "no_flapping";
    pub const ERRORS_DURING_SCALING: &str = "errors_during_scaling";
}

fn check(
    name: &str,
    passed: bool,
    measured: Option<f64>,
    limit: Option<f64>,
    unit: &str,
    reason: String,
) -> ScalingCheck {
    ScalingCheck {
        name: name.to_owned(),
        passed,
        measured,
        limit,
        unit: unit.to_owned(),
        reason,
        skipped: false,
    }
}

fn skipped(name: &str, limit: Option<f64>, unit: &str, reason: String) -> ScalingCheck {
    ScalingCheck {
        skipped: true,
        ..check(name, true, None, limit, unit, reason)
    }
}

fn n(v: f64) -> String {
    crate::findings::num(v, 1)
}

/// The phases of the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    pub baseline_load: f64,
    pub peak_load: f64,
    pub rise_s: Option<f64>,
    pub hold_s: Option<f64>,
    pub drop_s: Option<f64>,
}

/// Find baseline, rise, hold and drop in the load.
pub fn phases(points: &[ScalingPoint], load_change: f64) -> Option<Phases> {
    let first_loaded = points.iter().position(|p| p.load > 0.0)?;
    let peak_load = points.iter().map(|p| p.load).fold(0.0, f64::max);
    let near_peak = points
        .iter()
        .position(|p| p.load >= 0.98 * peak_load)
        .unwrap_or(points.len());
    let flats = flat_stretches(points, MIN_BASELINE_S);
    let span = |&(a, b): &(usize, usize)| points[b].elapsed_s - points[a].elapsed_s;
    let below_spike = flats
        .iter()
        .filter(|&&(a, b)| b < near_peak && points[a].load * (1.0 + load_change) <= peak_load)
        // max_by keeps the last of equals: the latest of equally long stretches.
        .max_by(|x, y| span(x).total_cmp(&span(y)));
    let (baseline_load, from) = below_spike
        .or(flats.first())
        .map_or((points[first_loaded].load, first_loaded), |&(a, _)| {
            (points[a].load, a)
        });
    let rise = points[from..]
        .iter()
        .position(|p| p.load >= baseline_load * (1.0 + load_change) && p.load > baseline_load)
        .map(|i| from + i);
    let hold = rise.and_then(|r| {
        points[r..]
            .iter()
            .position(|p| p.load >= 0.98 * peak_load)
            .map(|i| r + i)
    });
    let drop = hold.and_then(|h| {
        points[h..]
            .iter()
            .position(|p| p.load <= peak_load / (1.0 + load_change))
            .map(|i| h + i)
    });
    Some(Phases {
        baseline_load,
        peak_load,
        rise_s: rise.map(|i| points[i].elapsed_s),
        hold_s: hold.map(|i| points[i].elapsed_s),
        drop_s: drop.map(|i| points[i].elapsed_s),
    })
}

/// Index ranges (inclusive) where the load stays within 2 % for at least `min_s` seconds.
fn flat_stretches(points: &[ScalingPoint], min_s: f64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let base = points[i].load;
        let mut j = i;
        while j + 1 < points.len()
            && (points[j + 1].load - base).abs() <= 0.02 * base.abs().max(1e-9)
        {
            j += 1;
        }
        if base > 0.0 && points[j].elapsed_s - points[i].elapsed_s + 1.0 >= min_s {
            out.push((i, j));
        }
        i = j + 1;
    }
    out
}

/// The last reading at or before `t`.
fn replicas_at(points: &[ScalingPoint], t: f64) -> Option<f64> {
    points
        .iter()
        .filter(|p| p.elapsed_s <= t)
        .filter_map(|p| p.replicas)
        .next_back()
}

/// Run every check.
pub fn evaluate(
    probe: &str,
    points: &[ScalingPoint],
    probe_failures: u64,
    limits: &ScalingLimits,
) -> ScalingReport {
    let checks = run_checks(points, limits);
    ScalingReport {
        probe: probe.to_owned(),
        timeline: points.to_vec(),
        probe_failures,
        passed: checks.iter().all(|c| c.passed),
        checks,
    }
}

fn run_checks(points: &[ScalingPoint], limits: &ScalingLimits) -> Vec<ScalingCheck> {
    use names::*;
    let mut out = Vec::new();
    let all = [
        SCALE_OUT_REACTION,
        REACH_NEEDED,
        SLO_RECOVERY,
        SCALE_IN,
        NO_FLAPPING,
        ERRORS_DURING_SCALING,
    ];
    if points.iter().all(|p| p.replicas.is_none()) {
        for name in all {
            out.push(check(
                name,
                false,
                None,
                None,
                "",
                "the probe never returned a replica count".into(),
            ));
        }
        return out;
    }
    let Some(ph) = phases(points, limits.load_change) else {
        for name in all {
            out.push(skipped(name, None, "", "no load was applied".into()));
        }
        return out;
    };
    let end = points[points.len() - 1].elapsed_s;

    // 1. Scale-out reaction.
    let mut scaled_out_at = None;
    let mut r0 = None;
    match ph.rise_s {
        None => out.push(skipped(
            SCALE_OUT_REACTION,
            Some(limits.scale_out_reaction_s),
            "s",
            format!(
                "the load never rose {} % above its baseline of {}",
                n(limits.load_change * 100.0),
                n(ph.baseline_load)
            ),
        )),
        Some(rise) => {
            // The reading of the second before the rise: the rise's own second may already
            // show the autoscaler reacting.
            let base = replicas_at(points, rise - 1.0)
                .or_else(|| points.iter().find_map(|p| p.replicas))
                .unwrap_or(0.0);
            r0 = Some(base);
            let first_up = points
                .iter()
                .find(|p| p.elapsed_s >= rise && p.replicas.is_some_and(|r| r > base));
            out.push(match first_up {
                Some(p) => {
                    let dt = p.elapsed_s - rise;
                    scaled_out_at = Some(p.elapsed_s);
                    check(
                        SCALE_OUT_REACTION,
                        dt <= limits.scale_out_reaction_s,
                        Some(dt),
                        Some(limits.scale_out_reaction_s),
                        "s",
                        format!(
                            "replicas went from {} to {} {} s after the load rose at {} s (limit {} s)",
                            n(base),
                            n(p.replicas.unwrap_or(0.0)),
                            n(dt),
                            n(rise),
                            n(limits.scale_out_reaction_s)
                        ),
                    )
                }
                None => check(
                    SCALE_OUT_REACTION,
                    false,
                    None,
                    Some(limits.scale_out_reaction_s),
                    "s",
                    format!(
                        "replicas stayed at {} for the {} s after the load rose at {} s (limit {} s)",
                        n(base),
                        n(end - rise),
                        n(rise),
                        n(limits.scale_out_reaction_s)
                    ),
                ),
            });
        }
    }

    // 2. Reach the needed count.
    let hold_end = ph.drop_s.unwrap_or(end);
    let mut reached_at = None;
    if let Some(rise) = ph.rise_s {
        let seen_max = points
            .iter()
            .filter(|p| p.elapsed_s >= rise && p.elapsed_s <= hold_end)
            .filter_map(|p| p.replicas)
            .fold(f64::MIN, f64::max);
        let needed = limits.needed_replicas.unwrap_or(seen_max);
        let source = if limits.needed_replicas.is_some() {
            "needed"
        } else {
            "highest seen in the hold"
        };
        let reached = points
            .iter()
            .find(|p| p.elapsed_s >= rise && p.replicas.is_some_and(|r| r >= needed));
        let base = r0.unwrap_or(0.0);
        out.push(match reached {
            Some(p) if needed > base => {
                let dt = p.elapsed_s - rise;
                reached_at = Some(p.elapsed_s);
                check(
                    REACH_NEEDED,
                    dt <= limits.reach_needed_s,
                    Some(dt),
                    Some(limits.reach_needed_s),
                    "s",
                    format!(
                        "{} replicas ({source}) reached {} s after the load rose (limit {} s)",
                        n(needed),
                        n(dt),
                        n(limits.reach_needed_s)
                    ),
                )
            }
            Some(_) if limits.needed_replicas.is_some() => {
                reached_at = Some(rise);
                check(
                    REACH_NEEDED,
                    true,
                    Some(0.0),
                    Some(limits.reach_needed_s),
                    "s",
                    format!(
                        "{} replicas were already running when the load rose",
                        n(needed)
                    ),
                )
            }
            Some(_) => check(
                REACH_NEEDED,
                false,
                None,
                Some(limits.reach_needed_s),
                "s",
                format!("the count never rose above {} after the load rose", n(base)),
            ),
            None => check(
                REACH_NEEDED,
                false,
                None,
                Some(limits.reach_needed_s),
                "s",
                format!(
                    "{} replicas were never reached (highest seen: {})",
                    n(needed),
                    n(seen_max.max(base))
                ),
            ),
        });
    } else {
        out.push(skipped(
            REACH_NEEDED,
            Some(limits.reach_needed_s),
            "s",
            "the load never rose".into(),
        ));
    }

    // 3. SLO recovery after the scale-out.
    out.push(match (ph.rise_s, reached_at.or(scaled_out_at)) {
        (None, _) => skipped(SLO_RECOVERY, Some(limits.slo_recovery_s), "s", "the load never rose".into()),
        (Some(rise), None) => {
            let worst = points
                .iter()
                .filter(|p| p.elapsed_s >= rise && p.elapsed_s <= hold_end)
                .map(|p| p.p95_ms)
                .fold(0.0, f64::max);
            check(
                SLO_RECOVERY,
                false,
                None,
                Some(limits.slo_recovery_s),
                "s",
                format!(
                    "there was no scale-out to recover after; P95 reached {} ms during the spike (SLO {} ms)",
                    n(worst),
                    n(limits.slo_p95_ms)
                ),
            )
        }
        (Some(rise), Some(scaled)) => {
            let window: Vec<&ScalingPoint> = points
                .iter()
                .filter(|p| p.elapsed_s >= rise && p.elapsed_s <= hold_end)
                .collect();
            let breached = window.iter().any(|p| p.p95_ms > limits.slo_p95_ms);
            if !breached {
                check(
                    SLO_RECOVERY,
                    true,
                    Some(0.0),
                    Some(limits.slo_recovery_s),
                    "s",
                    format!("P95 stayed under {} ms throughout the spike", n(limits.slo_p95_ms)),
                )
            } else {
                // First second at or after the scale-out that starts SLO_STABLE_S good seconds
                // (or good seconds to the end of the hold).
                let recovered = window.iter().enumerate().find_map(|(i, p)| {
                    if p.elapsed_s < scaled {
                        return None;
                    }
                    let stable_end = p.elapsed_s + SLO_STABLE_S - 1.0;
                    let stretch: Vec<_> = window[i..].iter().take_while(|q| q.elapsed_s <= stable_end).collect();
                    let long_enough = stretch.last().is_some_and(|q| q.elapsed_s >= stable_end.min(hold_end));
                    (long_enough && stretch.iter().all(|q| q.p95_ms <= limits.slo_p95_ms)).then_some(p.elapsed_s)
                });
                match recovered {
                    Some(t) => {
                        let dt = t - scaled;
                        check(
                            SLO_RECOVERY,
                            dt <= limits.slo_recovery_s,
                            Some(dt),
                            Some(limits.slo_recovery_s),
                            "s",
                            format!(
                                "P95 was back under {} ms {} s after the scale-out at {} s (limit {} s)",
                                n(limits.slo_p95_ms),
                                n(dt),
                                n(scaled),
                                n(limits.slo_recovery_s)
                            ),
                        )
                    }
                    None => {
                        let worst = window
                            .iter()
                            .filter(|p| p.elapsed_s >= scaled)
                            .map(|p| p.p95_ms)
                            .fold(0.0, f64::max);
                        check(
                            SLO_RECOVERY,
                            false,
                            None,
                            Some(limits.slo_recovery_s),
                            "s",
                            format!(
                                "P95 never returned under {} ms for {} s after the scale-out at {} s (worst {} ms)",
                                n(limits.slo_p95_ms),
                                n(SLO_STABLE_S),
                                n(scaled),
                                n(worst)
                            ),
                        )
                    }
                }
            }
        }
    });

    // 4. Scale-in after the drop.
    out.push(match ph.drop_s {
        None => skipped(
            SCALE_IN,
            Some(limits.scale_in_s),
            "s",
            "the load never dropped after its peak, so scale-in could not be seen".into(),
        ),
        Some(drop) => {
            let at_drop = replicas_at(points, drop - 1.0)
                .or_else(|| replicas_at(points, drop))
                .unwrap_or(0.0);
            let first_down = points
                .iter()
                .find(|p| p.elapsed_s > drop && p.replicas.is_some_and(|r| r < at_drop));
            match first_down {
                Some(p) => {
                    let dt = p.elapsed_s - drop;
                    check(
                        SCALE_IN,
                        dt <= limits.scale_in_s,
                        Some(dt),
                        Some(limits.scale_in_s),
                        "s",
                        format!(
                            "replicas went from {} to {} {} s after the load dropped at {} s (limit {} s)",
                            n(at_drop),
                            n(p.replicas.unwrap_or(0.0)),
                            n(dt),
                            n(drop),
                            n(limits.scale_in_s)
                        ),
                    )
                }
                None if end - drop < limits.scale_in_s => check(
                    SCALE_IN,
                    false,
                    None,
                    Some(limits.scale_in_s),
                    "s",
                    format!(
                        "no scale-in in the {} s observed after the load dropped at {} s; run at \
                         least {} s past the drop to judge it",
                        n(end - drop),
                        n(drop),
                        n(limits.scale_in_s)
                    ),
                ),
                None => check(
                    SCALE_IN,
                    false,
                    None,
                    Some(limits.scale_in_s),
                    "s",
                    format!(
                        "replicas stayed at {} for {} s after the load dropped at {} s (limit {} s)",
                        n(at_drop),
                        n(end - drop),
                        n(drop),
                        n(limits.scale_in_s)
                    ),
                ),
            }
        }
    });

    // 5. No flapping while the load is flat.
    let flats = flat_stretches(points, MIN_FLAT_S);
    let mut reversals = 0u32;
    let mut worst: Option<(f64, f64)> = None;
    for &(a, b) in &flats {
        let mut last: Option<f64> = None;
        let mut direction = 0i8;
        let mut here = 0u32;
        for p in &points[a..=b] {
            let Some(r) = p.replicas else { continue };
            if let Some(prev) = last
                && r != prev
            {
                let d = if r > prev { 1 } else { -1 };
                if direction != 0 && d != direction {
                    here += 1;
                }
                direction = d;
            }
            last = Some(r);
        }
        if here > 0 && worst.is_none() {
            worst = Some((points[a].elapsed_s - 1.0, points[b].elapsed_s));
        }
        reversals += here;
    }
    out.push(if flats.is_empty() {
        skipped(
            NO_FLAPPING,
            Some(f64::from(limits.max_reversals)),
            "reversals",
            format!("the load was never flat for {} s", n(MIN_FLAT_S)),
        )
    } else {
        let span = worst.map_or(String::new(), |(a, b)| format!(" (e.g. between {} and {} s)", n(a), n(b)));
        check(
            NO_FLAPPING,
            reversals <= limits.max_reversals,
            Some(f64::from(reversals)),
            Some(f64::from(limits.max_reversals)),
            "reversals",
            format!(
                "the count changed direction {reversals} times while the load was flat{span} (limit {})",
                limits.max_reversals
            ),
        )
    });

    // 6. Errors during scale events.
    let changes: Vec<f64> = points
        .windows(2)
        .filter(|w| {
            w[0].replicas.is_some() && w[1].replicas.is_some() && w[0].replicas != w[1].replicas
        })
        .map(|w| w[1].elapsed_s)
        .collect();
    out.push(if changes.is_empty() {
        skipped(
            ERRORS_DURING_SCALING,
            Some(limits.max_errors_during_scale as f64),
            "errors",
            "the replica count never changed".into(),
        )
    } else {
        let errors: u64 = points
            .iter()
            .filter(|p| {
                changes
                    .iter()
                    .any(|&c| p.elapsed_s >= c - EVENT_BEFORE_S && p.elapsed_s <= c + EVENT_AFTER_S)
            })
            .map(|p| p.errors)
            .sum();
        check(
            ERRORS_DURING_SCALING,
            errors <= limits.max_errors_during_scale,
            Some(errors as f64),
            Some(limits.max_errors_during_scale as f64),
            "errors",
            format!(
                "{errors} errors from {} s before to {} s after the {} scale events (limit {})",
                n(EVENT_BEFORE_S),
                n(EVENT_AFTER_S),
                changes.len(),
                limits.max_errors_during_scale
            ),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// baseline 10 users (0–30 s) → spike 100 (31–150 s) → drop to 10 (151–300 s).
    fn shape(t: u64) -> f64 {
        match t {
            0..=30 => 10.0,
            31..=150 => 100.0,
            _ => 10.0,
        }
    }

    fn timeline(
        replicas: impl Fn(u64) -> Option<f64>,
        p95: impl Fn(u64) -> f64,
        errors: impl Fn(u64) -> u64,
    ) -> Vec<ScalingPoint> {
        (1..=300)
            .map(|t| ScalingPoint {
                elapsed_s: t as f64,
                load: shape(t),
                replicas: replicas(t),
                p95_ms: p95(t),
                errors: errors(t),
            })
            .collect()
    }

    fn by_name<'a>(r: &'a ScalingReport, name: &str) -> &'a ScalingCheck {
        r.checks.iter().find(|c| c.name == name).unwrap()
    }

    /// A well-behaved autoscaler: 2 replicas, scales to 4 at 46 s and 8 at 76 s, back to 2 at 211 s.
    fn good_replicas(t: u64) -> Option<f64> {
        Some(match t {
            0..=45 => 2.0,
            46..=75 => 4.0,
            76..=210 => 8.0,
            _ => 2.0,
        })
    }

    fn good_p95(t: u64) -> f64 {
        if (31..=80).contains(&t) { 900.0 } else { 100.0 }
    }

    #[test]
    fn phases_follow_the_load() {
        let p = phases(&timeline(good_replicas, good_p95, |_| 0), 0.5).unwrap();
        assert_eq!(p.baseline_load, 10.0);
        assert_eq!(p.peak_load, 100.0);
        assert_eq!(
            (p.rise_s, p.hold_s, p.drop_s),
            (Some(31.0), Some(31.0), Some(151.0))
        );
    }

    /// Regression: a ramp to the baseline of one user every 3 s made each step a "flat
    /// stretch", so the baseline was 1 user and the rise the ramp's second step, not the spike.
    #[test]
    fn a_slow_ramp_to_the_baseline_is_not_the_rise() {
        let load = |t: u64| match t {
            0..=29 => (t / 3 + 1) as f64, // 1, 1, 1, 2, 2, 2, ... 10
            30..=59 => 10.0,
            60..=61 => 55.0,
            62..=90 => 100.0,
            _ => 10.0,
        };
        let points: Vec<ScalingPoint> = (1..=120)
            .map(|t| ScalingPoint {
                elapsed_s: t as f64,
                load: load(t),
                replicas: Some(2.0),
                p95_ms: 1.0,
                errors: 0,
            })
            .collect();
        let p = phases(&points, 0.5).unwrap();
        assert_eq!(p.baseline_load, 10.0);
        assert_eq!(
            (p.rise_s, p.hold_s, p.drop_s),
            (Some(60.0), Some(62.0), Some(91.0))
        );
    }

    #[test]
    fn a_pool_that_scales_passes_every_check() {
        let r = evaluate(
            "test",
            &timeline(good_replicas, good_p95, |_| 0),
            0,
            &ScalingLimits::default(),
        );
        assert!(r.passed, "{:#?}", r.checks);
        assert_eq!(r.checks.len(), 6);
        let c = by_name(&r, names::SCALE_OUT_REACTION);
        assert_eq!(c.measured, Some(15.0));
        assert!(
            c.reason
                .contains("from 2 to 4 15 s after the load rose at 31 s"),
            "{}",
            c.reason
        );
        assert_eq!(by_name(&r, names::REACH_NEEDED).measured, Some(45.0));
        // Scaled to 8 at 76 s; P95 good from 81 s.
        assert_eq!(by_name(&r, names::SLO_RECOVERY).measured, Some(5.0));
        assert_eq!(by_name(&r, names::SCALE_IN).measured, Some(60.0));
        assert_eq!(by_name(&r, names::NO_FLAPPING).measured, Some(0.0));
        assert_eq!(
            by_name(&r, names::ERRORS_DURING_SCALING).measured,
            Some(0.0)
        );
        assert!(r.checks.iter().all(|c| !c.skipped));
    }

    #[test]
    fn a_pool_that_never_scales_fails_with_reasons() {
        let r = evaluate(
            "test",
            &timeline(|_| Some(2.0), |t| if t > 30 { 900.0 } else { 100.0 }, |_| 0),
            0,
            &ScalingLimits {
                needed_replicas: Some(8.0),
                ..ScalingLimits::default()
            },
        );
        assert!(!r.passed);
        let c = by_name(&r, names::SCALE_OUT_REACTION);
        assert!(!c.passed);
        assert!(
            c.reason
                .contains("replicas stayed at 2 for the 269 s after the load rose at 31 s"),
            "{}",
            c.reason
        );
        let c = by_name(&r, names::REACH_NEEDED);
        assert!(
            !c.passed
                && c.reason
                    .contains("8 replicas were never reached (highest seen: 2)"),
            "{}",
            c.reason
        );
        assert!(!by_name(&r, names::SLO_RECOVERY).passed);
        assert!(!by_name(&r, names::SCALE_IN).passed);
        // Nothing changed: nothing to judge for flapping-during-events.
        assert!(by_name(&r, names::ERRORS_DURING_SCALING).skipped);
    }

    #[test]
    fn slow_reaction_and_slow_recovery_fail_their_limits() {
        let slow = |t: u64| Some(if (120..=200).contains(&t) { 8.0 } else { 2.0 });
        let p95 = |t: u64| {
            if (31..=140).contains(&t) {
                900.0
            } else {
                100.0
            }
        };
        let r = evaluate(
            "test",
            &timeline(slow, p95, |_| 0),
            0,
            &ScalingLimits::default(),
        );
        let c = by_name(&r, names::SCALE_OUT_REACTION);
        assert!(!c.passed && c.measured == Some(89.0), "{c:?}");
        let c = by_name(&r, names::SLO_RECOVERY);
        assert_eq!(c.measured, Some(21.0), "{c:?}");
        assert!(c.passed);
        let tight = ScalingLimits {
            slo_recovery_s: 20.0,
            ..ScalingLimits::default()
        };
        let r = evaluate("test", &timeline(slow, p95, |_| 0), 0, &tight);
        assert!(!by_name(&r, names::SLO_RECOVERY).passed);
    }

    #[test]
    fn flapping_and_errors_during_scale_events_fail() {
        // Oscillates 4 ↔ 8 every 10 s through the hold.
        let flappy = |t: u64| {
            Some(match t {
                0..=40 => 2.0,
                41..=150 => {
                    if (t / 10).is_multiple_of(2) {
                        8.0
                    } else {
                        4.0
                    }
                }
                _ => 2.0,
            })
        };
        let errors = |t: u64| u64::from(t == 52);
        let r = evaluate(
            "test",
            &timeline(flappy, |_| 100.0, errors),
            0,
            &ScalingLimits::default(),
        );
        let c = by_name(&r, names::NO_FLAPPING);
        assert!(!c.passed, "{c:?}");
        assert!(c.measured.unwrap() >= 8.0, "{c:?}");
        let c = by_name(&r, names::ERRORS_DURING_SCALING);
        assert!(!c.passed && c.measured == Some(1.0), "{c:?}");
        // P95 never breached: recovery passes trivially.
        assert!(
            by_name(&r, names::SLO_RECOVERY)
                .reason
                .contains("stayed under")
        );
    }

    #[test]
    fn a_run_without_a_drop_skips_scale_in_and_a_dead_probe_fails_everything() {
        let points: Vec<ScalingPoint> = timeline(good_replicas, good_p95, |_| 0)
            .into_iter()
            .take(150)
            .collect();
        let r = evaluate("test", &points, 0, &ScalingLimits::default());
        let c = by_name(&r, names::SCALE_IN);
        assert!(c.skipped && c.passed, "{c:?}");
        assert!(r.passed);
        let r = evaluate(
            "test",
            &timeline(|_| None, good_p95, |_| 0),
            300,
            &ScalingLimits::default(),
        );
        assert!(!r.passed);
        assert_eq!(r.probe_failures, 300);
        assert!(r.checks.iter().all(|c| c.reason.contains("never returned")));
    }

    #[test]
    fn no_scale_in_yet_asks_for_a_longer_run() {
        // Drop at 151 s, observed until 200 s only, replicas still 8.
        let points: Vec<ScalingPoint> = timeline(good_replicas, good_p95, |_| 0)
            .into_iter()
            .take(200)
            .collect();
        let r = evaluate("test", &points, 0, &ScalingLimits::default());
        let c = by_name(&r, names::SCALE_IN);
        assert!(
            !c.passed && c.reason.contains("run at least 300 s past the drop"),
            "{c:?}"
        );
    }
}
