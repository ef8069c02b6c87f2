//! The terminal view of a run in progress, rendered from a [`RunReport`] snapshot.
//!
//! On a terminal, [`LiveView::frame`] returns a whole screen (it starts by moving the cursor
//! home and clearing the screen) to print every second: a progress bar with elapsed and
//! remaining time, the current users, RPS, failure % and p50 / p95, and one row per request
//! name. Without a terminal (CI logs, pipes) it returns one plain status line.
//!
//! ```
//! # fn demo(snapshot: &cicada_report::RunReport) {
//! use std::io::{IsTerminal, Write};
//! let view = cicada_render::live::LiveView::new(std::io::stderr().is_terminal());
//! let frame = view.frame(snapshot, Some(std::time::Duration::from_secs(60)));
//! eprint!("{frame}");
//! # }
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use crate::format::{fmt_count, fmt_ms, fmt_ms_bare, fmt_rate, fmt_ratio_pct, or_dash};
use cicada_report::model::{RequestStats, RunReport};

/// Moves the cursor to the top-left corner and clears the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";
const BAR_WIDTH: usize = 30;

/// Renders live frames. Cheap to create; holds no state between frames.
#[derive(Debug, Clone)]
pub struct LiveView {
    tty: bool,
    width: usize,
}

impl LiveView {
    /// A view for a terminal (`is_tty`) or for a log (one status line per frame).
    pub fn new(is_tty: bool) -> Self {
        Self {
            tty: is_tty,
            width: 100,
        }
    }

    /// Terminal width in columns (default 100); long request names are shortened to fit.
    pub fn with_width(mut self, columns: usize) -> Self {
        self.width = columns.max(60);
        self
    }

    /// One frame for `snapshot`. `planned` is the planned run time (`None`: bounded by
    /// iterations only, so no progress bar).
    pub fn frame(&self, snapshot: &RunReport, planned: Option<Duration>) -> String {
        if self.tty {
            self.screen(snapshot, planned)
        } else {
            status_line(snapshot, planned)
        }
    }

    fn screen(&self, r: &RunReport, planned: Option<Duration>) -> String {
        let a = &r.aggregated;
        let elapsed = r.run.duration_s;
        let mut out = String::from(CLEAR);
        let _ = writeln!(
            out,
            "cicada {} · {} → {}",
            r.tool.version, r.run.scenario, r.run.host
        );
        let _ = writeln!(out, "{}", progress(elapsed, planned, r.run.interrupted));
        let _ = writeln!(
            out,
            "users {}   RPS {}   requests {}   failures {} ({})   p50 {}   p95 {}\n",
            fmt_count(current_users(r)),
            fmt_rate(a.current_rps),
            fmt_count(a.requests),
            fmt_count(a.failures),
            fmt_ratio_pct(a.failure_ratio),
            or_dash(a.measured(), a.percentiles.p50, fmt_ms),
            or_dash(a.measured(), a.percentiles.p95, fmt_ms),
        );
        const NUM_COLS: [(&str, usize); 6] = [
            ("Reqs", 10),
            ("Fails", 8),
            ("Fail%", 7),
            ("RPS", 9),
            ("p50 ms", 9),
            ("p95 ms", 9),
        ];
        let num_width: usize = NUM_COLS.iter().map(|(_, w)| w + 1).sum();
        let name_width = self.width.saturating_sub(num_width).max(20);
        let _ = write!(out, "{:<name_width$}", "Request");
        for (h, w) in NUM_COLS {
            let _ = write!(out, " {h:>w$}");
        }
        out.push('\n');
        for row in &r.requests {
            out.push_str(&table_row(row, name_width));
        }
        out.push_str(&table_row(a, name_width));
        out
    }
}

fn table_row(s: &RequestStats, name_width: usize) -> String {
    let label = if s.method.is_empty() {
        s.name.clone()
    } else {
        format!("{} {}", s.method, s.name)
    };
    format!(
        "{:<name_width$} {:>10} {:>8} {:>7} {:>9} {:>9} {:>9}\n",
        shorten(&label, name_width),
        fmt_count(s.requests),
        fmt_count(s.failures),
        fmt_ratio_pct(s.failure_ratio),
        fmt_rate(s.current_rps),
        or_dash(s.measured(), s.percentiles.p50, fmt_ms_bare),
        or_dash(s.measured(), s.percentiles.p95, fmt_ms_bare),
    )
}

/// Users alive (or iterations in flight) at the last sample.
fn current_users(r: &RunReport) -> u64 {
    r.timeline.last().map_or(0, |s| s.users)
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn progress(elapsed: f64, planned: Option<Duration>, interrupted: bool) -> String {
    let suffix = if interrupted { "  (stopping)" } else { "" };
    let Some(planned) = planned.map(|d| d.as_secs_f64()).filter(|p| *p > 0.0) else {
        return format!("elapsed {}{suffix}", clock(elapsed));
    };
    let frac = (elapsed / planned).clamp(0.0, 1.0);
    let filled = (frac * BAR_WIDTH as f64).round() as usize;
    format!(
        "[{}{}] {:>3.0}%  {} / {}  ({} left){suffix}",
        "█".repeat(filled),
        "░".repeat(BAR_WIDTH - filled),
        frac * 100.0,
        clock(elapsed),
        clock(planned),
        clock(planned - elapsed)
    )
}

fn status_line(r: &RunReport, planned: Option<Duration>) -> String {
    let a = &r.aggregated;
    let time = match planned.map(|d| d.as_secs_f64()).filter(|p| *p > 0.0) {
        Some(p) => format!(
            "{}/{} {:.0}%",
            clock(r.run.duration_s),
            clock(p),
            (r.run.duration_s / p * 100.0).clamp(0.0, 100.0)
        ),
        None => clock(r.run.duration_s),
    };
    format!(
        "[{time}] users={} rps={} requests={} failures={} ({}) p50={} p95={}\n",
        current_users(r),
        fmt_rate(a.current_rps).replace(',', ""),
        a.requests,
        a.failures,
        fmt_ratio_pct(a.failure_ratio),
        or_dash(a.measured(), a.percentiles.p50, fmt_ms).replace(' ', ""),
        or_dash(a.measured(), a.percentiles.p95, fmt_ms).replace(' ', ""),
    )
}

/// Fit `text` into `width` characters by cutting out its middle (`GET /api/v1/…/executions`):
/// the method and the end of the path, which tell rows apart, stay visible.
fn shorten(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_owned();
    }
    let keep = width.saturating_sub(1);
    let head = keep / 2;
    let tail = keep - head;
    let mut s: String = chars[..head].iter().collect();
    s.push('…');
    s.extend(&chars[chars.len() - tail..]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_shows_elapsed_and_remaining() {
        let bar = progress(42.0, Some(Duration::from_secs(60)), false);
        assert!(bar.contains(" 70%  0:42 / 1:00  (0:18 left)"), "{bar}");
        assert_eq!(bar.matches('█').count(), 21);
        assert_eq!(progress(5.0, None, true), "elapsed 0:05  (stopping)");
    }

    #[test]
    fn long_names_are_shortened() {
        assert_eq!(shorten("abcdefgh", 5), "ab…gh");
        assert_eq!(
            shorten(
                "GET /api/v1/agent-studio/agents/{{agent_id}}/executions",
                30
            ),
            "GET /api/v1/ag…id}}/executions"
        );
        assert_eq!(shorten("abc", 4), "abc");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
