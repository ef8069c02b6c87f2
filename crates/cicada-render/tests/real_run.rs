//! Reports of real runs: `cicada run` against a seeded DRYAD on loopback (100 users, 60 s),
//! saved as JSON with the CSV and JUnit files written by the same run. One healthy run and one
//! where every request failed (an engine bug at the time: a header used a capture before it
//! existed), which exercises the all-zero-latency corner.

mod common;

use cicada_render::{html, junit, locust_csv};
use cicada_report::model::RunReport;

const HEALTHY: &str = include_str!("data/dryad_run.json");
const ALL_FAILED: &str = include_str!("data/dryad_all_failed.json");
/// A real 40 s, 60-user run of `tests/load/dryad.toml` against dryad (SQLite, `--pool-size 2`)
/// with the analysis attached by `cicada-analysis` from real samples: cicada's and dryad's
/// `/proc` CPU and RSS, dryad's `/metrics` scraped each second, and its worker count probed
/// (`prom:…#dryad_workers_current`). The engine did not collect these itself yet, so a small
/// harness ran the `cicada` binary and sampled beside it (same library calls as docs/analysis.md).
const ANALYSED: &str = include_str!("data/dryad_analysed.json");

#[test]
fn real_report_json_validates_against_the_schema() {
    let v = common::schema_validator();
    for (name, text) in [
        ("healthy", HEALTHY),
        ("all failed", ALL_FAILED),
        ("analysed", ANALYSED),
    ] {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        RunReport::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn csv_and_junit_re_rendered_from_json_equal_what_the_run_wrote() {
    let r = RunReport::from_json(HEALTHY).unwrap();
    assert_eq!(
        locust_csv::stats_csv(&r),
        include_str!("data/dryad_run_stats.csv")
    );
    assert_eq!(
        locust_csv::stats_history_csv(&r),
        include_str!("data/dryad_run_stats_history.csv")
    );
    assert_eq!(
        locust_csv::failures_csv(&r),
        include_str!("data/dryad_run_failures.csv")
    );
    assert_eq!(
        junit::render_junit(&r),
        include_str!("data/dryad_run_junit.xml")
    );
}

#[test]
fn real_run_numbers_agree_across_formats() {
    let r = RunReport::from_json(HEALTHY).unwrap();
    // The run itself: rows add up to the aggregated row, and the timeline to both.
    let rows: u64 = r.requests.iter().map(|x| x.requests).sum();
    assert_eq!(rows, r.aggregated.requests);
    assert_eq!(
        r.timeline.last().unwrap().total_requests,
        r.aggregated.requests
    );
    // CSV's aggregated row and the history's last line say the same.
    let stats = locust_csv::stats_csv(&r);
    let agg = stats.lines().last().unwrap();
    assert!(
        agg.starts_with(&format!(
            ",Aggregated,{},{},",
            r.aggregated.requests, r.aggregated.failures
        )),
        "{agg}"
    );
    let history = locust_csv::stats_history_csv(&r);
    let last: Vec<&str> = history.lines().last().unwrap().split(',').collect();
    assert_eq!(last[17], r.aggregated.requests.to_string());
    // The page shows the same headline numbers.
    let page = html::render_html(&r);
    assert!(page.contains(&cicada_render::format::fmt_count(r.aggregated.requests)));
    assert!(page.contains(&cicada_render::format::fmt_ms(r.aggregated.percentiles.p95)));
    let badge = if r.verdict.passed { "PASS" } else { "FAIL" };
    assert!(page.contains(&format!("<div class=\"badge\">{badge}</div>")));
}

fn browser_check(name: &str, text: &str) {
    let Some(chromium) =
        cicada_testkit::required::chromium(&format!("the real-run HTML {name} in a browser"))
    else {
        return;
    };
    let r = RunReport::from_json(text).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, html::render_html(&r)).unwrap();
    let check =
        common::chromium::check_page(&chromium, &page, 1366, 900, common::chromium::CHART_PROBE);
    std::fs::write(dir.join(format!("{name}.png")), &check.screenshot_png).unwrap();
    eprintln!("screenshot: {}", dir.join(format!("{name}.png")).display());
    assert!(
        check.console_errors.is_empty(),
        "{:#?}",
        check.console_errors
    );
    assert!(
        check.network_requests.is_empty(),
        "{:#?}",
        check.network_requests
    );
    let charts = check.probe["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 5);
    for chart in charts {
        let paths = chart["paths"].as_array().unwrap();
        assert!(!paths.is_empty(), "{chart}");
        for p in paths {
            assert!(p["d"].as_u64().unwrap() > 0, "{chart}");
            assert!(p["length"].as_f64().unwrap() > 10.0, "{chart}");
        }
    }
}

#[test]
fn real_run_page_renders_in_chromium() {
    browser_check("dryad-run", HEALTHY);
}

#[test]
fn all_failed_run_page_renders_in_chromium() {
    browser_check("dryad-all-failed", ALL_FAILED);
}

#[test]
fn compare_on_real_runs_passes_the_same_run_and_flags_a_planted_regression() {
    use cicada_render::compare::{Gate, compare};
    let base = RunReport::from_json(HEALTHY).unwrap();
    let gates: Vec<Gate> = ["p95>+10%", "error_rate>+0.5pp", "rps<-10%", "each:p99>+25%"]
        .iter()
        .map(|g| Gate::parse(g).unwrap())
        .collect();
    assert!(compare(&base, &base, &gates).passed());
    let mut slower = base.clone();
    slower.aggregated.percentiles.p95 *= 1.2;
    let failures = slower.aggregated.requests / 100; // +1 percentage point of failures
    slower.aggregated.failures += failures;
    slower.aggregated.failure_ratio =
        slower.aggregated.failures as f64 / slower.aggregated.requests as f64;
    let c = compare(&base, &slower, &gates);
    let failed: Vec<&str> = c
        .gates
        .iter()
        .filter(|g| g.failed)
        .map(|g| g.gate.as_str())
        .collect();
    assert_eq!(
        failed,
        ["p95>+10%", "error_rate>+0.5pp"],
        "{}",
        c.render_table(false)
    );
}

#[test]
fn real_analysis_draws_its_sections() {
    let r = RunReport::from_json(ANALYSED).unwrap();
    let a = r.analysis.as_ref().expect("the run carries analysis");
    let page = html::render_html(&r);
    for id in ["findings", "resources", "target-metrics", "scaling"] {
        assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    assert!(
        !page.contains("<section id=\"capacity\">"),
        "no capacity search ran"
    );
    assert_eq!(
        page.matches("<li class=\"finding ").count(),
        a.findings.len(),
        "one card per finding"
    );
    // dryad's request counter and latency histogram are among the drawn charts.
    for name in [
        "dryad_http_request_duration_seconds",
        "dryad_http_requests_total",
        "dryad_db_pool_acquire_wait_seconds",
    ] {
        assert!(
            page.contains(&format!("<title>{name}</title>")),
            "{name} charted"
        );
    }
    assert!(page.contains("dryad (pid "), "the target's resources");
}
