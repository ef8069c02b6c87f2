//! The coordinator's terminal lines for its workers, one per worker, under the merged view.

use std::fmt::Write as _;

use cicada_report::RunReport;
use cicada_report::model::WorkerStatus;

/// The name of a state, as shown.
pub fn status_name(s: WorkerStatus) -> &'static str {
    match s {
        WorkerStatus::Starting => "starting",
        WorkerStatus::Live => "live",
        WorkerStatus::Done => "done",
        WorkerStatus::Lost => "LOST",
        WorkerStatus::Failed => "FAILED",
    }
}

/// One line per worker of a live distributed run (empty for other reports).
///
/// ```
/// let report = cicada_report::sample::sample_report();
/// assert_eq!(cicada_dist::status::worker_lines(&report), "");
/// ```
pub fn worker_lines(report: &RunReport) -> String {
    let mut out = String::new();
    let Some(merged) = &report.merged else {
        return out;
    };
    for w in &merged.workers {
        let Some(l) = &w.live else { continue };
        let _ = write!(
            out,
            "  worker {:<3} {:<9} {:<20} users {:>6}  rps {:>9.1}  cpu {:>6}  rss {:>9}  seen {:>5.0} s",
            l.index,
            status_name(l.status),
            format!("{} pid {}", short(&w.hostname), l.pid),
            l.users,
            l.current_rps,
            l.cpu_pct.map_or("-".into(), |c| format!("{c:.0}%")),
            l.rss_bytes.map_or("-".into(), |b| format!(
                "{:.1} MiB",
                b as f64 / (1u64 << 20) as f64
            )),
            l.last_seen_s,
        );
        if let Some(rtt) = l.rtt_ms {
            let _ = write!(out, "  rtt {rtt:.0} ms");
        }
        out.push('\n');
    }
    out
}

fn short(host: &str) -> &str {
    match host.char_indices().nth(14) {
        Some((i, _)) => &host[..i],
        None => host,
    }
}
