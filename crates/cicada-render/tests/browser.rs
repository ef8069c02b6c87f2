//! The HTML report in a real browser (headless Chromium over the DevTools protocol): no console
//! errors, no network requests, every chart drew data, the page fits a laptop screen, and it
//! prints to PDF. Screenshots land in the test's temporary directory for a person to look at.

mod common;

use cicada_testkit::required;
use common::chromium::{CHART_PROBE, check_page};

fn check_report_page(
    name: &str,
    report: &cicada_report::RunReport,
    width: u32,
    charts_expected: usize,
) {
    let Some(chromium) = required::chromium(&format!("the HTML report {name} in a browser")) else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, cicada_render::html::render_html(report)).unwrap();
    let check = check_page(&chromium, &page, width, 900, CHART_PROBE);
    let shot = dir.join(format!("{name}-{width}.png"));
    std::fs::write(&shot, &check.screenshot_png).unwrap();
    std::fs::write(dir.join(format!("{name}.pdf")), &check.pdf).unwrap();
    eprintln!("screenshot: {}", shot.display());

    assert!(
        check.console_errors.is_empty(),
        "console errors: {:#?}",
        check.console_errors
    );
    assert!(
        check.network_requests.is_empty(),
        "network requests: {:#?}",
        check.network_requests
    );
    let probe = &check.probe;
    assert_eq!(probe["scripts"], 0, "the page needs no script");
    let charts = probe["charts"].as_array().unwrap();
    assert_eq!(charts.len(), charts_expected, "{probe:#}");
    for chart in charts {
        assert_eq!(chart["noData"], 0, "chart without data: {chart}");
        let paths = chart["paths"].as_array().unwrap();
        assert!(!paths.is_empty(), "chart drew no line: {chart}");
        for p in paths {
            assert!(p["d"].as_u64().unwrap() > 0, "empty path: {chart}");
            assert!(
                p["length"].as_f64().unwrap() > 10.0,
                "line too short to see: {chart}"
            );
            assert!(
                p["width"].as_f64().unwrap() > 10.0,
                "line has no extent: {chart}"
            );
        }
    }
    assert!(
        probe["scrollWidth"].as_u64() <= probe["innerWidth"].as_u64(),
        "the page scrolls sideways at {width}px: {probe}"
    );
    assert!(check.screenshot_png.starts_with(b"\x89PNG"));
    assert!(check.pdf.starts_with(b"%PDF"));
}

#[test]
fn report_page_renders_in_chromium_at_laptop_width() {
    // 4 over time, the database share (Server-Timing), the distribution.
    check_report_page("sample", &common::sample_report(), 1366, 6);
}

#[test]
fn report_page_renders_in_chromium_at_narrow_width() {
    check_report_page("sample-narrow", &common::passing_report(), 760, 6);
}

#[test]
fn analysed_page_draws_every_analysis_chart() {
    // 6 standard charts + 3 resources + 8 target metrics + 2 capacity + 4 scaling panels.
    check_report_page("analysed", &common::analysed_report(), 1366, 23);
}

#[test]
fn analysed_page_fits_a_narrow_window() {
    check_report_page("analysed-narrow", &common::analysed_report(), 760, 23);
}

#[test]
fn real_analysed_run_draws_every_chart() {
    let r = cicada_report::RunReport::from_json(include_str!("data/dryad_analysed.json")).unwrap();
    let charts = cicada_render::html::render_html(&r)
        .matches("<svg class=\"chart\"")
        .count();
    assert!(charts >= 5 + 3 + 8 + 3, "{charts}");
    check_report_page("dryad-analysed", &r, 1366, charts);
}

#[test]
fn open_model_page_charts_the_arrival_schedule() {
    let mut r = common::sample_report();
    r.run.plan.model = cicada_report::model::LoadModel::Open;
    r.run.plan.co_corrected = true;
    for (i, s) in r.timeline.iter_mut().enumerate() {
        let stalled = (38..44).contains(&(i + 1));
        s.late_iterations = Some(if stalled { 40 + i as u64 } else { i as u64 % 3 });
        s.dropped_iterations = Some(if stalled { 12 } else { 0 });
        s.schedule_lag_p99_ms = Some(if stalled { 850.0 } else { 0.8 });
    }
    r.open_model = Some(cicada_report::model::OpenModelStats {
        scheduled_iterations: 28_500,
        started_iterations: 28_428,
        late_iterations: 350,
        dropped_iterations: 72,
        schedule_lag_p50_ms: 0.12,
        schedule_lag_p99_ms: 3.4,
        schedule_lag_max_ms: 910.0,
        peak_concurrency: 64,
    });
    check_report_page("sample-open", &r, 1366, 7);
}
