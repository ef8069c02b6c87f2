//! The live view of a run in progress, on a terminal and in a log.

mod common;

use std::time::Duration;

use cicada_render::live::LiveView;

/// The fixture cut at 30 s, as the engine would snapshot it mid-run.
fn snapshot() -> cicada_report::RunReport {
    let mut r = common::sample_report();
    r.timeline.truncate(30);
    r.run.duration_s = 30.0;
    r
}

#[test]
fn terminal_frame_has_progress_totals_and_one_row_per_request() {
    let r = snapshot();
    let frame = LiveView::new(true)
        .with_width(100)
        .frame(&r, Some(Duration::from_secs(60)));
    assert!(frame.starts_with("\x1b[H\x1b[2J"), "redraws in place");
    assert!(frame.contains("50%  0:30 / 1:00  (0:30 left)"), "{frame}");
    assert!(frame.contains("users 50"), "{frame}");
    for row in &r.requests {
        let line = frame
            .lines()
            .find(|l| l.starts_with(&format!("{} {}", row.method, row.name)));
        let line = line.unwrap_or_else(|| panic!("no row for {}\n{frame}", row.name));
        assert!(
            line.contains(&cicada_render::format::fmt_count(row.requests)),
            "{line}"
        );
        assert!(line.chars().count() <= 100, "fits the width: {line}");
    }
    assert!(frame.lines().any(|l| l.starts_with("Aggregated")));
    eprintln!("{}", &frame[7..]);
}

#[test]
fn log_line_is_one_plain_line() {
    let r = snapshot();
    let line = LiveView::new(false).frame(&r, Some(Duration::from_secs(60)));
    assert_eq!(line.matches('\n').count(), 1);
    assert!(line.ends_with('\n'));
    assert!(!line.contains('\x1b'), "no escape codes in logs");
    assert!(line.starts_with("[0:30/1:00 50%] users=50 rps="), "{line}");
    assert!(
        line.contains(&format!("requests={}", r.aggregated.requests)),
        "{line}"
    );
}
