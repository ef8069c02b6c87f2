//! Axis scales: mapping data values to pixels, and choosing tick marks a person can read.

/// How an axis maps data values to positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleKind {
    /// Evenly spaced values.
    Linear,
    /// Powers of ten evenly spaced (values must be positive; smaller ones are clamped).
    Log10,
    /// Percentiles spread by their "nines" (`-log10(1 - p/100)`): 0, 90, 99, 99.9 … are evenly
    /// spaced, so the tail of a latency distribution gets as much room as its body.
    Nines,
}

/// The highest percentile a [`ScaleKind::Nines`] axis can show (100 % is infinitely far away).
pub const NINES_MAX_PERCENTILE: f64 = 99.999;

/// A scale from a data domain onto a pixel range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub kind: ScaleKind,
    /// Domain in data units (`lo < hi`).
    pub lo: f64,
    pub hi: f64,
    /// Pixel positions of `lo` and `hi` (may be decreasing, as for a y axis).
    pub px_lo: f64,
    pub px_hi: f64,
}

impl Scale {
    /// Position in pixels of a data value (clamped to the domain).
    pub fn px(&self, value: f64) -> f64 {
        let (a, b) = (self.transform(self.lo), self.transform(self.hi));
        let t = self.transform(value.clamp(self.lo, self.hi));
        let frac = if b > a { (t - a) / (b - a) } else { 0.0 };
        self.px_lo + frac * (self.px_hi - self.px_lo)
    }

    fn transform(&self, value: f64) -> f64 {
        match self.kind {
            ScaleKind::Linear => value,
            ScaleKind::Log10 => value.max(f64::MIN_POSITIVE).log10(),
            ScaleKind::Nines => {
                let p = value.clamp(0.0, NINES_MAX_PERCENTILE);
                -(1.0 - p / 100.0).log10()
            }
        }
    }

    /// Tick values inside the domain, at "nice" positions for the scale kind.
    pub fn ticks(&self, target: usize) -> Vec<f64> {
        match self.kind {
            ScaleKind::Linear => linear_ticks(self.lo, self.hi, target),
            ScaleKind::Log10 => log_ticks(self.lo, self.hi),
            ScaleKind::Nines => nines_ticks(self.hi),
        }
    }
}

/// A "nice" step (1, 2 or 5 times a power of ten) giving about `target` intervals over `span`.
pub fn nice_step(span: f64, target: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Round `hi` up to the next multiple of a nice step, so the top tick sits on the frame.
pub fn nice_upper(hi: f64, target: usize) -> f64 {
    if !(hi.is_finite() && hi > 0.0) {
        return 1.0;
    }
    let step = nice_step(hi, target);
    (hi / step).ceil() * step
}

/// Ticks for elapsed seconds at steps a clock reads well: 1, 2, 5, 10, 15, 30 s; 1, 2, 5, 10,
/// 15, 30 min; 1, 2, 3, 6, 12, 24 h.
pub fn elapsed_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    const STEPS: [f64; 17] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0, 43200.0,
    ];
    let raw = (hi - lo) / target.max(1) as f64;
    let step = STEPS
        .into_iter()
        .find(|s| *s >= raw)
        .unwrap_or_else(|| (raw / 86400.0).ceil() * 86400.0);
    let mut ticks = Vec::new();
    let mut v = (lo / step).ceil() * step;
    while v <= hi + step * 1e-9 && ticks.len() <= 100 {
        ticks.push(v);
        v += step;
    }
    ticks
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let step = nice_step(hi - lo, target);
    let mut ticks = Vec::new();
    let mut i = (lo / step).ceil() as i64;
    loop {
        let v = i as f64 * step;
        if v > hi + step * 1e-9 || ticks.len() > 100 {
            break;
        }
        ticks.push(v);
        i += 1;
    }
    ticks
}

fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let lo_exp = lo.max(f64::MIN_POSITIVE).log10().floor() as i32;
    let hi_exp = hi.max(f64::MIN_POSITIVE).log10().ceil() as i32;
    (lo_exp..=hi_exp)
        .map(|e| 10f64.powi(e))
        .filter(|v| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9))
        .collect()
}

fn nines_ticks(hi: f64) -> Vec<f64> {
    [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
        .into_iter()
        .filter(|p| *p <= hi + 1e-9)
        .collect()
}

/// The upper end of a Nines axis that shows every point up to `max_percentile`.
pub fn nines_upper(max_percentile: f64) -> f64 {
    [90.0, 99.0, 99.9, 99.99, NINES_MAX_PERCENTILE]
        .into_iter()
        .find(|p| *p >= max_percentile)
        .unwrap_or(NINES_MAX_PERCENTILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_1_2_5() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(60.0, 6), 10.0);
        assert_eq!(nice_step(0.7, 5), 0.2);
        assert_eq!(nice_step(3000.0, 4), 1000.0);
    }

    #[test]
    fn linear_ticks_cover_the_domain() {
        assert_eq!(
            linear_ticks(0.0, 60.0, 6),
            vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        );
        assert_eq!(nice_upper(312.4, 5), 400.0);
        assert_eq!(nice_upper(0.93, 5), 1.0);
    }

    #[test]
    fn elapsed_ticks_read_like_a_clock() {
        assert_eq!(
            elapsed_ticks(0.0, 60.0, 8),
            vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        );
        assert_eq!(
            elapsed_ticks(0.0, 86_400.0, 8),
            (0..=8).map(|h| h as f64 * 10_800.0).collect::<Vec<_>>()
        );
        assert_eq!(elapsed_ticks(0.0, 600.0, 8)[1], 120.0);
    }

    #[test]
    fn nines_axis_spreads_the_tail() {
        let s = Scale {
            kind: ScaleKind::Nines,
            lo: 0.0,
            hi: 99.99,
            px_lo: 0.0,
            px_hi: 400.0,
        };
        assert!((s.px(90.0) - 100.0).abs() < 1e-9);
        assert!((s.px(99.0) - 200.0).abs() < 1e-9);
        assert!((s.px(99.9) - 300.0).abs() < 1e-9);
        assert_eq!(s.px(100.0), 400.0);
        assert_eq!(s.ticks(5), vec![0.0, 50.0, 90.0, 99.0, 99.9, 99.99]);
    }

    #[test]
    fn log_ticks_are_powers_of_ten() {
        assert_eq!(log_ticks(0.5, 2000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        let s = Scale {
            kind: ScaleKind::Log10,
            lo: 1.0,
            hi: 1000.0,
            px_lo: 300.0,
            px_hi: 0.0,
        };
        assert!((s.px(10.0) - 200.0).abs() < 1e-9);
    }
}
