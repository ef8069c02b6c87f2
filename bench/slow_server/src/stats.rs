//! Server-side latency of the answers served: an HDR histogram in microseconds.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latency the server itself spent per request (from handler entry to response), in µs.
pub struct ServedLatency {
    histogram: Mutex<Histogram<u64>>,
}

impl ServedLatency {
    pub fn new() -> Self {
        Self {
            histogram: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid"),
            ),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut h = self.histogram.lock().unwrap_or_else(|p| p.into_inner());
        h.saturating_record(us);
    }

    /// `{"count":…,"mean_ms":…,"p50_ms":…,"p90_ms":…,"p99_ms":…,"max_ms":…}`; `reset` clears it.
    pub fn json(&self, reset: bool) -> String {
        let mut h = self.histogram.lock().unwrap_or_else(|p| p.into_inner());
        let ms = |us: u64| us as f64 / 1000.0;
        let body = format!(
            "{{\"count\":{},\"mean_ms\":{:.3},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}\n",
            h.len(),
            h.mean() / 1000.0,
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.90)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        );
        if reset {
            h.reset();
        }
        body
    }
}
