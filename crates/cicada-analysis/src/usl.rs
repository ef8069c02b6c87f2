//! The Universal Scalability Law: fitting `X(N) = λN / (1 + σ(N−1) + κN(N−1))` to measured
//! (concurrency, throughput) points.
//!
//! For fixed σ and κ the best λ has a closed form (`X` is linear in λ), so the fit searches the
//! two shape parameters only ("variable projection"): a log-spaced grid over σ ∈ [0, 1] and
//! κ ∈ [0, 1] finds the basin, then Levenberg–Marquardt with Marquardt's diagonal scaling and
//! projection onto σ, κ ≥ 0 refines the best few grid points. A parameter whose removal does
//! not worsen the fit is set to exactly 0, so "no coherency cost" reads as `κ = 0` and the peak
//! concurrency as `None`.
//!
//! ```
//! use cicada_analysis::usl::{fit_usl, usl_throughput};
//! let points: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
//!     .iter()
//!     .map(|&n| (n, usl_throughput(n, 0.05, 0.001, 100.0)))
//!     .collect();
//! let fit = fit_usl(&points).unwrap();
//! assert!((fit.sigma - 0.05).abs() < 1e-6);
//! assert!((fit.kappa - 0.001).abs() < 1e-7);
//! assert!((fit.peak_concurrency.unwrap() - (0.95f64 / 0.001).sqrt()).abs() < 1e-3);
//! ```

use cicada_report::analysis_model::{UslFit, UslPoint};

/// Points a fit needs at least.
pub const MIN_POINTS: usize = 6;

/// Why no fit was made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UslError {
    #[error("the USL fit needs at least {MIN_POINTS} points, got {0}")]
    TooFewPoints(usize),
    #[error("point {index} ({concurrency}, {throughput}) is invalid: {reason}")]
    InvalidPoint {
        index: usize,
        concurrency: f64,
        throughput: f64,
        reason: &'static str,
    },
    #[error("the USL fit needs at least 3 distinct concurrency levels, got {0}")]
    TooFewLevels(usize),
    #[error("every measured throughput is zero: nothing to fit")]
    NoThroughput,
}

/// The USL's throughput at concurrency `n`.
pub fn usl_throughput(n: f64, sigma: f64, kappa: f64, lambda: f64) -> f64 {
    lambda * shape(n, sigma, kappa)
}

/// `N / (1 + σ(N−1) + κN(N−1))`: throughput per unit λ.
fn shape(n: f64, sigma: f64, kappa: f64) -> f64 {
    n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// The least-squares λ for fixed σ, κ and the residual sum of squares.
fn profile(points: &[(f64, f64)], sigma: f64, kappa: f64) -> (f64, f64) {
    let (mut xf, mut ff) = (0.0, 0.0);
    for &(n, x) in points {
        let f = shape(n, sigma, kappa);
        xf += x * f;
        ff += f * f;
    }
    let lambda = if ff > 0.0 { (xf / ff).max(0.0) } else { 0.0 };
    let sse = points
        .iter()
        .map(|&(n, x)| {
            let r = x - lambda * shape(n, sigma, kappa);
            r * r
        })
        .sum();
    (lambda, sse)
}

fn sse(points: &[(f64, f64)], p: [f64; 2]) -> f64 {
    let v = profile(points, p[0], p[1]).1;
    if v.is_finite() { v } else { f64::INFINITY }
}

fn residuals(points: &[(f64, f64)], p: [f64; 2]) -> Vec<f64> {
    let (lambda, _) = profile(points, p[0], p[1]);
    points
        .iter()
        .map(|&(n, x)| x - lambda * shape(n, p[0], p[1]))
        .collect()
}

/// Projected Levenberg–Marquardt on (σ, κ) from `start`; a `fixed` parameter stays as given.
fn refine(points: &[(f64, f64)], start: [f64; 2], fixed: [bool; 2]) -> ([f64; 2], f64) {
    let mut p = start;
    let mut cost = sse(points, p);
    let mut mu = 1e-3;
    for _ in 0..300 {
        let r = residuals(points, p);
        // Numerical Jacobian (forward differences: the bound at 0 forbids stepping below).
        let mut jac = [vec![0.0; r.len()], vec![0.0; r.len()]];
        for (k, column) in jac.iter_mut().enumerate() {
            let h = (p[k].abs() * 1e-6).max(1e-12);
            let mut q = p;
            q[k] += h;
            let rq = residuals(points, q);
            for (i, c) in column.iter_mut().enumerate() {
                *c = (rq[i] - r[i]) / h;
            }
        }
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let a = [
            [dot(&jac[0], &jac[0]), dot(&jac[0], &jac[1])],
            [dot(&jac[1], &jac[0]), dot(&jac[1], &jac[1])],
        ];
        let g = [dot(&jac[0], &r), dot(&jac[1], &r)];
        let mut improved = false;
        while mu < 1e16 {
            let d0 = a[0][0] + mu * a[0][0].max(1e-300);
            let d1 = a[1][1] + mu * a[1][1].max(1e-300);
            // Solve (A + μ diag A) δ = −Jᵀr over the free parameters.
            let delta = match fixed {
                [false, false] => {
                    let det = d0 * d1 - a[0][1] * a[1][0];
                    [
                        (-g[0] * d1 + g[1] * a[0][1]) / det,
                        (-g[1] * d0 + g[0] * a[1][0]) / det,
                    ]
                }
                [true, false] => [0.0, -g[1] / d1],
                [false, true] => [-g[0] / d0, 0.0],
                [true, true] => return (p, cost),
            };
            if delta.iter().all(|d| d.is_finite()) {
                let q = [(p[0] + delta[0]).max(0.0), (p[1] + delta[1]).max(0.0)];
                let c = sse(points, q);
                if c < cost {
                    let gain = (cost - c) / cost.max(1e-300);
                    p = q;
                    cost = c;
                    mu = (mu / 10.0).max(1e-12);
                    improved = gain > 1e-15;
                    break;
                }
            }
            mu *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (p, cost)
}

fn log_grid(lo: f64, hi: f64, steps: usize) -> impl Iterator<Item = f64> {
    let (a, b) = (lo.ln(), hi.ln());
    std::iter::once(0.0)
        .chain((0..steps).map(move |i| (a + (b - a) * i as f64 / (steps - 1) as f64).exp()))
}

/// Fit the USL to `(concurrency, throughput)` points (at least [`MIN_POINTS`], over at least
/// three distinct concurrency levels; repeated levels are fine).
pub fn fit_usl(points: &[(f64, f64)]) -> Result<UslFit, UslError> {
    if points.len() < MIN_POINTS {
        return Err(UslError::TooFewPoints(points.len()));
    }
    for (index, &(n, x)) in points.iter().enumerate() {
        let bad = |reason| UslError::InvalidPoint {
            index,
            concurrency: n,
            throughput: x,
            reason,
        };
        if !n.is_finite() || n < 1.0 {
            return Err(bad("concurrency must be a finite number ≥ 1"));
        }
        if !x.is_finite() || x < 0.0 {
            return Err(bad("throughput must be a finite number ≥ 0"));
        }
    }
    let mut levels: Vec<f64> = points.iter().map(|p| p.0).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    if levels.len() < 3 {
        return Err(UslError::TooFewLevels(levels.len()));
    }
    if points.iter().all(|p| p.1 == 0.0) {
        return Err(UslError::NoThroughput);
    }

    // Coarse grid, scaled to the range of N so κ's grid covers where it matters.
    let n_max = levels[levels.len() - 1];
    let kappa_lo = 1e-4 / (n_max * n_max);
    let mut scored: Vec<(f64, [f64; 2])> = Vec::new();
    for sigma in log_grid(1e-4, 1.0, 33) {
        for kappa in log_grid(kappa_lo, 1.0, 41) {
            scored.push((sse(points, [sigma, kappa]), [sigma, kappa]));
        }
    }
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = ([0.0, 0.0], f64::INFINITY);
    for &(_, start) in scored.iter().take(4) {
        let (p, c) = refine(points, start, [false, false]);
        if c < best.1 {
            best = (p, c);
        }
    }
    let (mut p, cost) = best;
    // Snap a parameter to 0 when dropping it (and refitting the other) does not worsen the
    // fit beyond rounding.
    let scale: f64 = points.iter().map(|p| p.1 * p.1).sum();
    let tolerance = cost * 1e-6 + scale * 1e-20;
    for k in [1, 0] {
        if p[k] > 0.0 {
            let mut q = p;
            q[k] = 0.0;
            let mut fixed = [false, false];
            fixed[k] = true;
            let (q, c) = refine(points, q, fixed);
            if c <= cost + tolerance {
                p = q;
            }
        }
    }
    let (sigma, kappa) = (p[0], p[1]);
    let (lambda, sse) = profile(points, sigma, kappa);

    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let r_squared = if ss_tot > 0.0 {
        1.0 - sse / ss_tot
    } else if sse <= 1e-12 {
        1.0
    } else {
        0.0
    };
    let peak_concurrency = (kappa > 0.0).then(|| ((1.0 - sigma).max(0.0) / kappa).sqrt().max(1.0));
    let predicted_max_throughput = match peak_concurrency {
        Some(n) => Some(usl_throughput(n, sigma, kappa, lambda)),
        None if sigma > 0.0 => Some(lambda / sigma),
        None => None,
    };
    let mut fitted: Vec<UslPoint> = points
        .iter()
        .map(|&(n, x)| UslPoint {
            concurrency: n,
            measured: x,
            fitted: usl_throughput(n, sigma, kappa, lambda),
        })
        .collect();
    fitted.sort_by(|a, b| a.concurrency.total_cmp(&b.concurrency));
    Ok(UslFit {
        sigma,
        kappa,
        lambda,
        peak_concurrency,
        predicted_max_throughput,
        r_squared,
        points: fitted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small seeded generator (xorshift64*) for reproducible noise.
    struct Rng(u64);

    impl Rng {
        fn unit(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Uniform in [-1, 1).
        fn sym(&mut self) -> f64 {
            self.unit() * 2.0 - 1.0
        }
    }

    fn synth(levels: &[f64], sigma: f64, kappa: f64, lambda: f64) -> Vec<(f64, f64)> {
        levels
            .iter()
            .map(|&n| (n, usl_throughput(n, sigma, kappa, lambda)))
            .collect()
    }

    const LEVELS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-12)
    }

    #[test]
    fn recovers_exact_parameters_across_a_range() {
        let cases = [
            (0.02, 0.0001, 1000.0),
            (0.05, 0.001, 100.0),
            (0.3, 0.00002, 50.0),
            (0.0, 0.0005, 10.0),
            (0.1, 0.01, 2000.0),
            (0.001, 0.000001, 1.5),
        ];
        for (sigma, kappa, lambda) in cases {
            let fit = fit_usl(&synth(&LEVELS, sigma, kappa, lambda)).unwrap();
            assert!((fit.sigma - sigma).abs() < 1e-5, "σ {sigma}: {fit:?}");
            assert!(close(fit.kappa, kappa, 1e-3), "κ {kappa}: {fit:?}");
            assert!(close(fit.lambda, lambda, 1e-5), "λ {lambda}: {fit:?}");
            assert!(fit.r_squared > 0.999_999, "{fit:?}");
            let n_star = ((1.0 - sigma) / kappa).sqrt();
            assert!(
                close(fit.peak_concurrency.unwrap(), n_star, 1e-3),
                "{fit:?}"
            );
            let x_max = usl_throughput(n_star, sigma, kappa, lambda);
            assert!(close(fit.predicted_max_throughput.unwrap(), x_max, 1e-4));
        }
    }

    #[test]
    fn no_coherency_cost_means_no_peak() {
        let fit = fit_usl(&synth(&LEVELS, 0.1, 0.0, 200.0)).unwrap();
        assert_eq!(fit.kappa, 0.0, "{fit:?}");
        assert!((fit.sigma - 0.1).abs() < 1e-6);
        assert_eq!(fit.peak_concurrency, None);
        // Asymptote λ/σ.
        assert!(close(fit.predicted_max_throughput.unwrap(), 2000.0, 1e-4));
        // Linear scaling: no contention either, no maximum.
        let fit = fit_usl(&synth(&LEVELS, 0.0, 0.0, 7.0)).unwrap();
        assert_eq!((fit.sigma, fit.kappa), (0.0, 0.0));
        assert_eq!(fit.predicted_max_throughput, None);
        assert!(close(fit.lambda, 7.0, 1e-9));
    }

    #[test]
    fn recovers_parameters_from_noisy_repeated_measurements() {
        let (sigma, kappa, lambda): (f64, f64, f64) = (0.04, 0.0004, 120.0);
        let n_star = ((1.0 - sigma) / kappa).sqrt();
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut points = Vec::new();
            for &n in &[1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 70.0, 100.0, 150.0] {
                for _ in 0..3 {
                    // ±3 % multiplicative noise.
                    let x = usl_throughput(n, sigma, kappa, lambda) * (1.0 + 0.03 * rng.sym());
                    points.push((n, x));
                }
            }
            let fit = fit_usl(&points).unwrap();
            assert!(close(fit.lambda, lambda, 0.05), "seed {seed}: {fit:?}");
            assert!((fit.sigma - sigma).abs() < 0.02, "seed {seed}: {fit:?}");
            assert!(close(fit.kappa, kappa, 0.35), "seed {seed}: {fit:?}");
            assert!(
                close(fit.peak_concurrency.unwrap(), n_star, 0.15),
                "seed {seed}: {fit:?}"
            );
            assert!(fit.r_squared > 0.95, "seed {seed}: {fit:?}");
            assert_eq!(fit.points.len(), points.len());
            assert!(
                fit.points
                    .windows(2)
                    .all(|w| w[0].concurrency <= w[1].concurrency)
            );
        }
    }

    #[test]
    fn fitted_curve_beats_any_nearby_parameters() {
        // Property: the returned optimum is a local minimum of the squared error.
        let mut rng = Rng(42);
        let points: Vec<(f64, f64)> = LEVELS
            .iter()
            .map(|&n| {
                (
                    n,
                    usl_throughput(n, 0.08, 0.0003, 40.0) * (1.0 + 0.05 * rng.sym()),
                )
            })
            .collect();
        let fit = fit_usl(&points).unwrap();
        let best = sse(&points, [fit.sigma, fit.kappa]);
        for _ in 0..200 {
            let s = (fit.sigma * (1.0 + 0.05 * rng.sym())).max(0.0);
            let k = (fit.kappa * (1.0 + 0.05 * rng.sym())).max(0.0);
            assert!(sse(&points, [s, k]) >= best * (1.0 - 1e-9));
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let five = &synth(&LEVELS[..5], 0.1, 0.001, 10.0);
        assert_eq!(fit_usl(five), Err(UslError::TooFewPoints(5)));
        assert_eq!(fit_usl(&[]), Err(UslError::TooFewPoints(0)));
        let mut pts = synth(&LEVELS, 0.1, 0.001, 10.0);
        pts[3].1 = f64::NAN;
        assert!(matches!(
            fit_usl(&pts),
            Err(UslError::InvalidPoint { index: 3, .. })
        ));
        pts[3] = (0.0, 5.0);
        assert!(matches!(
            fit_usl(&pts),
            Err(UslError::InvalidPoint { index: 3, .. })
        ));
        pts[3] = (8.0, -1.0);
        assert!(matches!(
            fit_usl(&pts),
            Err(UslError::InvalidPoint { index: 3, .. })
        ));
        let two_levels = [
            (1.0, 1.0),
            (1.0, 1.1),
            (2.0, 2.0),
            (2.0, 2.1),
            (1.0, 0.9),
            (2.0, 1.9),
        ];
        assert_eq!(fit_usl(&two_levels), Err(UslError::TooFewLevels(2)));
        let zeros: Vec<(f64, f64)> = LEVELS.iter().map(|&n| (n, 0.0)).collect();
        assert_eq!(fit_usl(&zeros), Err(UslError::NoThroughput));
    }

    #[test]
    fn a_flat_throughput_is_all_contention() {
        // The same throughput at every level: σ = 1 fits exactly (X = λ for every N).
        let flat: Vec<(f64, f64)> = LEVELS.iter().map(|&n| (n, 500.0)).collect();
        let fit = fit_usl(&flat).unwrap();
        assert!(
            close(fit.predicted_max_throughput.unwrap(), 500.0, 1e-3),
            "{fit:?}"
        );
        assert!(
            fit.points.iter().all(|p| close(p.fitted, 500.0, 1e-3)),
            "{fit:?}"
        );
    }
}
