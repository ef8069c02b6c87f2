//! HDR histogram helpers shared by the engine (which records) and the reports (which merge):
//! microsecond latencies, 3 significant digits, auto-resizing so memory follows the largest value
//! seen, not a configured ceiling. Every percentile in a report comes from [`percentiles`], so a
//! merged report computes its numbers exactly as a run does.

use crate::model::{DistributionPoint, Percentiles};
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

/// A latency histogram in microseconds.
pub type Hist = Histogram<u64>;

/// A fresh histogram (µs, 3 significant digits, grows as needed).
pub fn new_hist() -> Hist {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Value at percentile `p` (0..=100) in ms; 0 for an empty histogram.
pub fn percentile_ms(hist: &Hist, p: f64) -> f64 {
    if hist.is_empty() {
        return 0.0;
    }
    ms(hist.value_at_quantile(p / 100.0))
}

/// Locust's percentile columns.
pub fn percentiles(hist: &Hist) -> Percentiles {
    if hist.is_empty() {
        return Percentiles::default();
    }
    let q = |p: f64| percentile_ms(hist, p);
    Percentiles {
        p50: q(50.0),
        p66: q(66.0),
        p75: q(75.0),
        p80: q(80.0),
        p90: q(90.0),
        p95: q(95.0),
        p98: q(98.0),
        p99: q(99.0),
        p99_9: q(99.9),
        p99_99: q(99.99),
        p100: ms(hist.max()),
    }
}

/// Mean in ms (0 when empty).
pub fn mean_ms(hist: &Hist) -> f64 {
    if hist.is_empty() {
        0.0
    } else {
        hist.mean() / 1000.0
    }
}

/// Min and max in ms (0 when empty).
pub fn min_max_ms(hist: &Hist) -> (f64, f64) {
    if hist.is_empty() {
        (0.0, 0.0)
    } else {
        (ms(hist.min()), ms(hist.max()))
    }
}

const CURVE: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

/// Points of the percentile curve for charts.
pub fn distribution(hist: &Hist) -> Vec<DistributionPoint> {
    if hist.is_empty() {
        return Vec::new();
    }
    CURVE
        .iter()
        .map(|p| DistributionPoint {
            percentile: *p,
            ms: if *p == 0.0 {
                ms(hist.min())
            } else {
                percentile_ms(hist, *p)
            },
        })
        .collect()
}

/// Base64 of the V2-deflate serialization (what reports store to merge and compare exactly).
pub fn encode(hist: &Hist) -> Option<String> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(hist, &mut buf).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Decode what [`encode`] produced. The result resizes itself, so other histograms can be
/// added to it.
pub fn decode(text: &str) -> Option<Hist> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let mut hist: Hist = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()?;
    hist.auto(true);
    Some(hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_round_trip() {
        let mut h = new_hist();
        h.record_n(10_000, 50).unwrap();
        h.record_n(50_000, 50).unwrap();
        let p = percentiles(&h);
        assert!((p.p50 - 10.0).abs() < 0.02, "{}", p.p50);
        assert!((p.p95 - 50.0).abs() < 0.1, "{}", p.p95);
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back.len(), 100);
        assert_eq!(back.value_at_quantile(0.95), h.value_at_quantile(0.95));
        // A decoded histogram takes values beyond its original range when others are added.
        let mut merged = back;
        let mut wide = new_hist();
        wide.record(90_000_000).unwrap();
        merged.add(&wide).unwrap();
        assert_eq!(merged.len(), 101);
        assert!((percentiles(&merged).p100 - 90_000.0).abs() < 90.0);
    }
}
