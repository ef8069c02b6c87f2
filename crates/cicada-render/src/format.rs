//! Number formatting shared by the HTML page, the terminal views and the tick labels: the
//! same value always reads the same everywhere.

/// What every view shows in place of a figure that was not measured (a row whose requests
/// were never sent has no latency: it reads "—", never 0.0).
pub const NOT_MEASURED: &str = "—";

/// `f(value)` when `measured`, else [`NOT_MEASURED`].
pub fn or_dash(measured: bool, value: f64, f: impl Fn(f64) -> String) -> String {
    if measured {
        f(value)
    } else {
        NOT_MEASURED.to_owned()
    }
}

pub use cicada_report::model::one_line;

/// Milliseconds with a unit and a precision that fits the magnitude: `0.412 ms`, `12.3 ms`,
/// `312 ms`, `4.21 s`.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".to_owned();
    }
    let a = ms.abs();
    if a == 0.0 {
        "0 ms".to_owned()
    } else if a < 1.0 {
        format!("{ms:.3} ms")
    } else if a < 10.0 {
        format!("{ms:.2} ms")
    } else if a < 100.0 {
        format!("{ms:.1} ms")
    } else if a < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// Milliseconds as a bare number with the same precision rule as [`fmt_ms`] (for table cells
/// whose column header names the unit).
pub fn fmt_ms_bare(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".to_owned();
    }
    let a = ms.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a < 1.0 {
        format!("{ms:.3}")
    } else if a < 10.0 {
        format!("{ms:.2}")
    } else if a < 100.0 {
        format!("{ms:.1}")
    } else {
        group_thousands(&format!("{ms:.0}"))
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// A rate or other quantity, compact: `0.25`, `12.5`, `850`, `1.2k`, `3.4M`.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let a = v.abs();
    let text = if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    text.replace(".0k", "k").replace(".0M", "M")
}

/// A per-second rate with one or two decimals: `123.4`, `0.25`.
pub fn fmt_rate(v: f64) -> String {
    if !v.is_finite() {
        "–".to_owned()
    } else if v.abs() >= 100.0 {
        group_thousands(&format!("{v:.0}"))
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio (`0.0..=1.0`) as a percentage: `0%`, `0.05%`, `12.3%`.
pub fn fmt_ratio_pct(ratio: f64) -> String {
    fmt_pct(ratio * 100.0)
}

/// A percentage value: `0%`, `0.05%`, `12.3%`.
pub fn fmt_pct(pct: f64) -> String {
    if !pct.is_finite() {
        "–".to_owned()
    } else if pct == 0.0 {
        "0%".to_owned()
    } else if pct.abs() < 0.01 {
        format!("{pct:.3}%")
    } else if pct.abs() < 10.0 {
        format!("{pct:.2}%")
    } else {
        format!("{pct:.1}%")
    }
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `12.0 GiB`.
pub fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if !b.is_finite() {
        return "–".to_owned();
    }
    let mut v = b;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Seconds as `1h 02m 03s`, `2m 05s` or `42.5s`.
pub fn fmt_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".to_owned();
    }
    if seconds < 60.0 {
        let text = format!("{seconds:.1}");
        return format!("{}s", text.trim_end_matches(".0"));
    }
    let s = seconds.round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

fn group_thousands(digits: &str) -> String {
    let (sign, digits) = digits.strip_prefix('-').map_or(("", digits), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds() {
        assert_eq!(fmt_ms(0.4123), "0.412 ms");
        assert_eq!(fmt_ms(12.34), "12.3 ms");
        assert_eq!(fmt_ms(312.4), "312 ms");
        assert_eq!(fmt_ms(12_345.0), "12.35 s");
        assert_eq!(fmt_ms_bare(12_345.0), "12,345");
    }

    #[test]
    fn counts_rates_and_sizes() {
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(fmt_num(1500.0), "1500");
        assert_eq!(fmt_num(15000.0), "15k");
        assert_eq!(fmt_num(2.5), "2.50");
        assert_eq!(fmt_rate(1234.5), "1,234");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
        assert_eq!(fmt_ratio_pct(0.123), "12.3%");
        assert_eq!(fmt_ratio_pct(0.0), "0%");
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(42.0), "42s");
        assert_eq!(fmt_duration(42.5), "42.5s");
        assert_eq!(fmt_duration(125.0), "2m 05s");
        assert_eq!(fmt_duration(3723.0), "1h 02m 03s");
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_line_and_unmeasured_figures_read_as_a_dash() {
        assert_eq!(
            one_line("{\n  \"error\":\t\"bad\"\r\n}\u{1b}[2J"),
            "{ \"error\": \"bad\" } [2J"
        );
        assert_eq!(or_dash(false, 0.0, fmt_ms_bare), "—");
        assert_eq!(or_dash(true, 1.5, fmt_ms_bare), fmt_ms_bare(1.5));
    }
}
