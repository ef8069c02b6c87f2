//! Quantiles from cumulative histogram buckets, computed as Prometheus' `histogram_quantile`
//! does: find the bucket holding the rank and interpolate linearly inside it.

/// The `q`-quantile of cumulative buckets `(upper bound, cumulative count)`.
///
/// Follows Prometheus: the buckets are sorted by bound; the last must be `+Inf` (else `NaN`);
/// a rank in the `+Inf` bucket returns the highest finite bound; the first bucket's lower bound
/// is 0 (unless its upper bound is ≤ 0, which is then returned); `q < 0` is `-Inf`, `q > 1` is
/// `+Inf`; no observations is `NaN`. Non-monotonic counts (scrape races) are made monotonic.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.len() < 2 || b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Ensure monotonic cumulative counts.
    let mut max = f64::NEG_INFINITY;
    for bucket in &mut b {
        if bucket.1 < max {
            bucket.1 = max;
        }
        max = bucket.1;
    }
    let observations = b[b.len() - 1].1;
    if observations <= 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let i = b
        .iter()
        .position(|&(_, c)| c >= rank)
        .unwrap_or(b.len() - 1);
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (start, mut count) = if i == 0 {
        (0.0, b[0].1)
    } else {
        rank -= b[i - 1].1;
        (b[i - 1].0, b[i].1 - b[i - 1].1)
    };
    let end = b[i].0;
    if count <= 0.0 {
        return end;
    }
    if rank > count {
        count = rank;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn interpolates_inside_the_bucket() {
        // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.5], 10 in (0.5, 1].
        let b = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0)];
        assert!((histogram_quantile(0.5, &b) - 0.1).abs() < 1e-12);
        assert!((histogram_quantile(0.25, &b) - 0.05).abs() < 1e-12);
        // rank 70 → 20 of 40 into (0.1, 0.5] → 0.3.
        assert!((histogram_quantile(0.7, &b) - 0.3).abs() < 1e-12);
        // rank 95 → 5 of 10 into (0.5, 1] → 0.75.
        assert!((histogram_quantile(0.95, &b) - 0.75).abs() < 1e-12);
        assert_eq!(histogram_quantile(1.0, &b), 1.0);
    }

    #[test]
    fn prometheus_edge_cases() {
        let b = [(0.1, 10.0), (INF, 20.0)];
        // Rank in the +Inf bucket → highest finite bound.
        assert_eq!(histogram_quantile(0.99, &b), 0.1);
        assert_eq!(histogram_quantile(-0.1, &b), f64::NEG_INFINITY);
        assert_eq!(histogram_quantile(1.1, &b), INF);
        assert!(histogram_quantile(f64::NAN, &b).is_nan());
        // No +Inf bucket, too few buckets, no observations.
        assert!(histogram_quantile(0.5, &[(0.1, 1.0), (0.2, 2.0)]).is_nan());
        assert!(histogram_quantile(0.5, &[(INF, 2.0)]).is_nan());
        assert!(histogram_quantile(0.5, &[(0.1, 0.0), (INF, 0.0)]).is_nan());
        // Unsorted input is sorted; a non-positive first bound is returned as is.
        assert_eq!(histogram_quantile(0.1, &[(INF, 10.0), (-1.0, 5.0)]), -1.0);
        // Non-monotonic counts are repaired.
        let v = histogram_quantile(0.5, &[(1.0, 10.0), (2.0, 8.0), (INF, 20.0)]);
        assert_eq!(v, 1.0);
    }
}
