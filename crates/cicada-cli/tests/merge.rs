//! `cicada merge` end to end: two real bounded `cicada run`s against a local server, merged; the
//! merged numbers checked against the union of the workers' histograms decoded here; thresholds
//! judged again on the merged numbers; every bad input refused with exit 2 and nothing written.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use hdrhistogram::Histogram;
use serde_json::Value;
use support::{cicada, scenario, serve_app, text};

const SCENARIO: &str = r#"name = "merge"
[[users]]
wait = { constant = "5ms" }
[[users.tasks]]
method = "GET"
path = "/fast"
weight = 3
[[users.tasks]]
method = "GET"
path = "/slow"
weight = 2
[[users.tasks]]
method = "GET"
path = "/fail"
"#;

async fn serve() -> String {
    let slow = || async {
        tokio::time::sleep(Duration::from_millis(4)).await;
        "slow"
    };
    serve_app(
        Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route("/slow", get(slow))
            .route(
                "/fail",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "no") }),
            ),
    )
    .await
}

/// One bounded worker run: 60 iterations (one request each) within 20 s.
async fn worker(host: &str, scenario: &Path, json: &Path, threshold: &str) -> i32 {
    let o = cicada(&[
        "run",
        scenario.to_str().unwrap(),
        "-H",
        host,
        "-u",
        "3",
        "-r",
        "100",
        "--iterations",
        "60",
        "-t",
        "20s",
        "--json",
        json.to_str().unwrap(),
        "--threshold",
        threshold,
        // The scenario's /fail row fails on purpose; only the thresholds judge these runs.
        "--exit-code-on-error",
        "0",
        "-q",
    ])
    .await;
    assert!(o.status.code().is_some(), "{}", text(&o));
    o.status.code().unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hist(encoded: &Value) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().unwrap())
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

/// The union of two histograms, built here from the reports (not by the code under test).
fn union(a: &Value, b: &Value) -> Histogram<u64> {
    let mut u = Histogram::<u64>::new(3).unwrap();
    u.add(hist(a)).unwrap();
    u.add(hist(b)).unwrap();
    u
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

async fn merge(args: &[&str]) -> (i32, String) {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    let o = cicada(&all).await;
    (o.status.code().unwrap(), text(&o))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_two_real_runs_exactly_and_judges_thresholds_again() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), SCENARIO);
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    // Each worker makes ~60 requests: `requests>=100` fails on each, passes merged.
    let (ca, cb) = tokio::join!(
        worker(&host, &path, &a, "requests>=100"),
        worker(&host, &path, &b, "requests>=100")
    );
    assert_eq!(
        (ca, cb),
        (1, 1),
        "each worker alone fails the count threshold"
    );
    let (ra, rb) = (read(&a), read(&b));
    let out = dir.path().join("merged.json");
    let html = dir.path().join("merged.html");
    let junit = dir.path().join("junit.xml");
    let csv = dir.path().join("merged");
    let (code, t) = merge(&[
        s(&a),
        s(&b),
        "--json",
        s(&out),
        "--html",
        s(&html),
        "--csv-prefix",
        s(&csv),
        "--junit",
        s(&junit),
    ])
    .await;
    assert_eq!(code, 0, "merged, the count threshold passes: {t}");
    let m = read(&out);
    let count = |r: &Value, k: &str| r["aggregated"][k].as_u64().unwrap();
    assert_eq!(
        count(&m, "requests"),
        count(&ra, "requests") + count(&rb, "requests")
    );
    assert_eq!(
        count(&m, "failures"),
        count(&ra, "failures") + count(&rb, "failures")
    );
    assert!(count(&m, "failures") > 0, "the /fail row fails");
    // Every row's percentiles are those of the union histogram, computed here.
    for name in ["/fast", "/slow", "/fail", "Aggregated"] {
        let pick = |r: &'_ Value| {
            if name == "Aggregated" {
                r["aggregated"].clone()
            } else {
                row(r, name).clone()
            }
        };
        let (x, y, z) = (pick(&ra), pick(&rb), pick(&m));
        let u = union(&x["histogram"], &y["histogram"]);
        assert_eq!(z["requests"].as_u64().unwrap(), u.len(), "{name}");
        for (col, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
            assert_eq!(
                z["percentiles"][col].as_f64().unwrap(),
                ms(&u, q),
                "{name} {col}"
            );
        }
        assert_eq!(z["max_ms"].as_f64().unwrap(), u.max() as f64 / 1000.0);
        assert_eq!(
            hist(&z["histogram"]),
            u,
            "{name}: the merged histogram is the union"
        );
    }
    // Failures merged by (row, kind, message).
    let fails: u64 = m["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"] == "HTTP 503")
        .map(|f| f["occurrences"].as_u64().unwrap())
        .sum();
    assert_eq!(fails, count(&m, "failures"));
    // The threshold judged on the merged count; the workers' --exit-code-on-error 0 is kept,
    // and the merged verdict says the failures were ignored because of it.
    assert_eq!(m["verdict"]["passed"], true);
    assert_eq!(m["verdict"]["exit_code_on_error"], 0);
    let reason = m["verdict"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{} of", count(&m, "failures")))
            && reason.contains("ignored: --exit-code-on-error 0"),
        "{reason}"
    );
    let th = &m["thresholds"][0];
    assert_eq!(
        th["observed"].as_f64().unwrap(),
        count(&m, "requests") as f64
    );
    assert_eq!(m["merged"]["reports"], 2);
    assert_eq!(m["merged"]["workers"][1]["source"], s(&b));
    // Per-second samples add up to the run.
    let per_second: u64 = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_second, count(&m, "requests"));
    // The other outputs, through the same writers as `cicada report`.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(
        page.contains("Merged from") && page.contains("a.json"),
        "merge shown"
    );
    assert!(
        std::fs::read_to_string(dir.path().join("merged_stats.csv"))
            .unwrap()
            .contains("/slow")
    );
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("requests&gt;=100")
    );

    // Vice versa: a threshold each worker passes fails merged. The merge judges the expressions
    // the reports carry, so the same two runs serve.
    let rewrite = |from: &Path, to: &Path| {
        let mut v = read(from);
        v["thresholds"][0]["expression"] = "requests<100".into();
        std::fs::write(to, v.to_string()).unwrap();
    };
    let (a2, b2) = (dir.path().join("a2.json"), dir.path().join("b2.json"));
    rewrite(&a, &a2);
    rewrite(&b, &b2);
    let (code, t) = merge(&[s(&a2), s(&b2), "--json", s(&out)]).await;
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("requests<100"), "{t}");
    assert_eq!(read(&out)["verdict"]["passed"], false);

    // One report: identity. A worker's log (summary, marker, JSON) is read like its JSON.
    let log = dir.path().join("worker-0.log");
    std::fs::write(
        &log,
        format!(
            "Total requests: 60\n=== cicada worker 0 report (exit 1) ===\n{}\n",
            std::fs::read_to_string(&a).unwrap()
        ),
    )
    .unwrap();
    let (code, t) = merge(&[s(&log), "--json", s(&out)]).await;
    assert_eq!(code, 1, "alone, the worker fails its threshold: {t}");
    let one = read(&out);
    assert_eq!(
        one["aggregated"]["percentiles"],
        ra["aggregated"]["percentiles"]
    );
    assert_eq!(one["aggregated"]["requests"], ra["aggregated"]["requests"]);
    assert_eq!(
        one["timeline"].as_array().unwrap().len(),
        ra["timeline"].as_array().unwrap().len()
    );
}

/// Write `value` as `name` in `dir`.
fn put(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, value.to_string()).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_inputs_with_exit_2_and_writes_nothing() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = scenario(d, SCENARIO);
    let good = d.join("good.json");
    assert_eq!(worker(&host, &path, &good, "error_rate<50%").await, 0);
    let report = read(&good);

    let mut old = report.clone();
    for r in old["requests"].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("histogram");
    }
    let mut damaged = report.clone();
    damaged["requests"][0]["histogram"] = "AAAA".into();
    let mut other = report.clone();
    other["run"]["scenario"] = "another".into();
    let mut thresholds = report.clone();
    thresholds["thresholds"][0]["expression"] = "error_rate<90%".into();
    std::fs::write(d.join("invalid.json"), "{ not json").unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (d.join("missing.json"), "cannot read report"),
        (d.join("invalid.json"), "not valid report JSON"),
        (
            put(d, "not-a-report.json", &serde_json::json!({"a": 1})),
            "not a cicada run report",
        ),
        (put(d, "old.json", &old), "but no histogram"),
        (put(d, "damaged.json", &damaged), "does not decode"),
        (put(d, "other.json", &other), "--force"),
        (
            put(d, "thresholds.json", &thresholds),
            "different thresholds",
        ),
    ];
    let out = d.join("out.html");
    for (bad, needle) in &cases {
        let (code, t) = merge(&[s(&good), s(bad), "--html", s(&out)]).await;
        assert_eq!(code, 2, "{}: {t}", bad.display());
        let name = bad.file_name().unwrap().to_str().unwrap();
        assert!(t.contains(name) && t.contains(needle), "{name}: {t}");
        assert!(!out.exists(), "{name}: nothing is written");
    }
    // --force merges other scenarios and thresholds, judging every threshold.
    let (code, t) = merge(&[
        s(&good),
        s(&cases[5].0),
        s(&cases[6].0),
        "--force",
        "--json",
        s(&d.join("forced.json")),
    ])
    .await;
    assert_eq!(code, 0, "{t}");
    let forced = read(&d.join("forced.json"));
    assert_eq!(forced["thresholds"].as_array().unwrap().len(), 2);
    assert_eq!(forced["run"]["scenario"], "merge + another");
    // No input at all is a usage error.
    let (code, _) = merge(&[]).await;
    assert_eq!(code, 2);
}

/// Move a report's run and its per-second samples `by` later.
fn shift(report: &mut Value, by: chrono::TimeDelta) {
    for key in ["started_at", "ended_at"] {
        let t = chrono::DateTime::parse_from_rfc3339(report["run"][key].as_str().unwrap()).unwrap();
        report["run"][key] = (t + by)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into();
    }
    for sample in report["timeline"].as_array_mut().unwrap() {
        let t = sample["unix_time"].as_i64().unwrap() + by.num_seconds();
        sample["unix_time"] = t.into();
    }
}

fn time(report: &Value, key: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(report["run"][key].as_str().unwrap()).unwrap()
}

/// Two real runs, one moved so the pair spans 209 s: the merge used to print "22.3 req/s over
/// 209.0 s" for such a pair without a word. Now it is refused, naming both runs and their times;
/// `--force` merges them and the verdict says why the rates are low. Runs that share more than
/// half of the shorter one are still one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_did_not_overlap_are_refused_unless_forced() {
    let host = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = scenario(d, SCENARIO);
    let (a, b) = (d.join("a.json"), d.join("b.json"));
    let (ca, cb) = tokio::join!(
        worker(&host, &path, &a, "requests>=100"),
        worker(&host, &path, &b, "requests>=100")
    );
    assert_eq!((ca, cb), (1, 1));
    let (ra, mut rb) = (read(&a), read(&b));
    // b moved to end 209 s after a began.
    let end = time(&ra, "started_at") + chrono::TimeDelta::seconds(209);
    let by = end - time(&rb, "ended_at");
    shift(&mut rb, by);
    let late = put(d, "late.json", &rb);
    let out = d.join("out.json");
    let (code, t) = merge(&[s(&a), s(&late), "--json", s(&out)]).await;
    assert_eq!(code, 2, "{t}");
    // Times of day, with dates when the pair crosses midnight (UTC).
    let one_day = time(&ra, "started_at").to_utc().date_naive()
        == time(&rb, "ended_at").to_utc().date_naive();
    let format = if one_day {
        "%H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    let hms = |r: &Value, key: &str| time(r, key).to_utc().format(format).to_string();
    let expected = format!(
        "{} ran {}–{}, {} {}–{} (UTC)",
        s(&a),
        hms(&ra, "started_at"),
        hms(&ra, "ended_at"),
        s(&late),
        hms(&rb, "started_at"),
        hms(&rb, "ended_at")
    );
    assert!(
        t.contains(&expected)
            && t.contains("s apart: these are not one distributed run; pass --force"),
        "{expected}\n{t}"
    );
    assert!(!out.exists(), "nothing is written");

    let (code, t) = merge(&[s(&a), s(&late), "--force", "--json", s(&out)]).await;
    assert_eq!(code, 0, "forced, the count threshold passes merged: {t}");
    let m = read(&out);
    assert_eq!(m["run"]["duration_s"].as_f64().unwrap(), 209.0);
    let requests = m["aggregated"]["requests"].as_f64().unwrap();
    let rps = m["aggregated"]["rps"].as_f64().unwrap();
    assert!((rps - requests / 209.0).abs() < 0.01, "{rps} over 209 s");
    let warning = m["verdict"]["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("merged with --force although these are not one distributed run: ")
            && warning.contains(&expected),
        "{warning}"
    );
    assert!(
        t.contains("not one distributed run"),
        "the summary shows it: {t}"
    );

    // b moved to start a third of the way into a: they share at least two thirds of the
    // shorter run (or all of it), one run.
    let mut near = read(&b);
    let a_len = time(&ra, "ended_at") - time(&ra, "started_at");
    let to = time(&ra, "started_at") + a_len / 3;
    let by = to - time(&near, "started_at");
    shift(&mut near, by);
    let near = put(d, "near.json", &near);
    let (code, t) = merge(&[s(&a), s(&near), "--json", s(&out)]).await;
    assert_eq!(code, 0, "{t}");
    assert!(
        !read(&out)["verdict"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("not one distributed run"))
    );
}

#[tokio::test]
async fn help_says_what_is_exact_and_the_exit_codes() {
    let (code, t) = merge(&["--help"]).await;
    assert_eq!(code, 0);
    for needle in [
        "--json",
        "--html",
        "--csv",
        "--junit",
        "--force",
        "histograms",
        "Exit codes",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
}
