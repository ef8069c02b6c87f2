//! HDR histogram helpers: microsecond latencies, 3 significant digits, auto-resizing so memory
//! follows the largest value seen, not a configured ceiling. Everything but recording lives in
//! [`cicada_report::histogram`], shared with the reports that merge histograms.

pub use cicada_report::histogram::{
    Hist, decode, distribution, encode, mean_ms, min_max_ms, new_hist, percentile_ms, percentiles,
};

/// Record a value in µs (clamped to at least 1 µs).
#[inline]
pub fn record(hist: &mut Hist, micros: u64) {
    // An auto-resizing histogram only fails on values beyond u64 range handling.
    let _ = hist.record(micros.max(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_at_least_one_microsecond() {
        let mut h = new_hist();
        record(&mut h, 0);
        record(&mut h, 10_000);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!((percentile_ms(&h, 100.0) - 10.0).abs() < 0.01);
    }
}
