//! Every output format rendered from one realistic report: the JSON Schema, Locust CSV, JUnit
//! XML and the HTML page, and the numbers agree across them.

mod common;

use std::collections::HashMap;

use cicada_render::{html, junit, locust_csv};
use cicada_report::model::RunReport;

fn schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.schema.json")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_path()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn assert_valid(v: &jsonschema::Validator, json: &str) {
    let instance: serde_json::Value = serde_json::from_str(json).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report JSON does not match the schema: {errors:#?}"
    );
}

#[test]
fn report_json_validates_against_the_committed_schema() {
    let v = validator();
    assert_valid(&v, &common::sample_report().to_json_pretty());
    assert_valid(&v, &common::analysed_report().to_json_pretty());
    let mut open = common::passing_report();
    open.open_model = Some(cicada_report::model::OpenModelStats {
        scheduled_iterations: 100,
        started_iterations: 99,
        late_iterations: 3,
        dropped_iterations: 1,
        schedule_lag_p50_ms: 0.2,
        schedule_lag_p99_ms: 2.5,
        schedule_lag_max_ms: 9.0,
        peak_concurrency: 12,
    });
    assert_valid(&v, &open.to_json_pretty());
}

#[test]
fn schema_rejects_a_malformed_report() {
    let v = validator();
    let mut value: serde_json::Value = serde_json::to_value(common::sample_report()).unwrap();
    value["aggregated"]["requests"] = serde_json::json!("many");
    assert!(!v.is_valid(&value));
    let mut value: serde_json::Value = serde_json::to_value(common::sample_report()).unwrap();
    value["failures"][0]["kind"] = serde_json::json!("gremlins");
    assert!(!v.is_valid(&value));
}

#[test]
fn json_round_trips_exactly() {
    let r = common::sample_report();
    let back = RunReport::from_json(&r.to_json_pretty()).unwrap();
    assert_eq!(back, r);
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn csv_headers_are_locusts() {
    let r = common::sample_report();
    let stats = parse_csv(&locust_csv::stats_csv(&r));
    assert_eq!(
        stats[0].join(","),
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
         Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
         50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
    );
    let history = parse_csv(&locust_csv::stats_history_csv(&r));
    assert_eq!(
        history[0].join(","),
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,\
         99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,\
         Total Average Response Time,Total Min Response Time,Total Max Response Time,\
         Total Average Content Size"
    );
    let failures = parse_csv(&locust_csv::failures_csv(&r));
    assert_eq!(failures[0].join(","), "Method,Name,Error,Occurrences");
    // Locust writes CRLF line ends (Python's csv module).
    assert!(locust_csv::stats_csv(&r).contains("\r\n"));
}

#[test]
fn csv_numbers_equal_the_report() {
    let r = common::sample_report();
    let stats = parse_csv(&locust_csv::stats_csv(&r));
    assert_eq!(stats.len(), 1 + r.requests.len() + 1);
    let last = stats.last().unwrap();
    assert_eq!(
        last[0], "",
        "the Aggregated row has an empty Type, as in Locust"
    );
    assert_eq!(last[1], "Aggregated");
    for (row, csv_row) in r.requests.iter().chain([&r.aggregated]).zip(&stats[1..]) {
        assert_eq!(csv_row[1], row.name);
        assert_eq!(csv_row[2].parse::<u64>().unwrap(), row.requests);
        assert_eq!(csv_row[3].parse::<u64>().unwrap(), row.failures);
        assert_eq!(csv_row[4].parse::<f64>().unwrap(), row.percentiles.p50);
        assert_eq!(csv_row[5].parse::<f64>().unwrap(), row.mean_ms);
        assert_eq!(csv_row[9].parse::<f64>().unwrap(), row.rps);
        assert_eq!(csv_row[16].parse::<f64>().unwrap(), row.percentiles.p95);
        assert_eq!(csv_row[21].parse::<f64>().unwrap(), row.percentiles.p100);
    }
    let history = parse_csv(&locust_csv::stats_history_csv(&r));
    assert_eq!(history.len(), 1 + r.timeline.len());
    let end = history.last().unwrap();
    assert_eq!(end[17].parse::<u64>().unwrap(), r.aggregated.requests);
    assert_eq!(end[18].parse::<u64>().unwrap(), r.aggregated.failures);
    let mean: f64 = end[20].parse().unwrap();
    assert!(
        (mean - r.aggregated.mean_ms).abs() < 1e-9,
        "{mean} vs {}",
        r.aggregated.mean_ms
    );
    let failures = parse_csv(&locust_csv::failures_csv(&r));
    let total: u64 = failures[1..]
        .iter()
        .map(|f| f[3].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, r.aggregated.failures);
}

#[test]
fn csv_history_uses_cumulative_figures_when_recorded() {
    let mut r = common::sample_report();
    let last = r.timeline.last_mut().unwrap();
    last.cumulative = Some(cicada_report::model::CumulativeSample {
        percentiles: r.aggregated.percentiles,
        mean_ms: r.aggregated.mean_ms,
        min_ms: r.aggregated.min_ms,
        max_ms: r.aggregated.max_ms,
        avg_size_bytes: r.aggregated.avg_size_bytes,
    });
    let history = parse_csv(&locust_csv::stats_history_csv(&r));
    let end = history.last().unwrap();
    assert_eq!(
        end[11].parse::<f64>().unwrap(),
        r.aggregated.percentiles.p95
    );
    assert_eq!(
        end[19].parse::<f64>().unwrap(),
        r.aggregated.percentiles.p50
    );
    assert_eq!(end[21].parse::<f64>().unwrap(), r.aggregated.min_ms);
    // Without cumulative data the unknowable columns say so instead of guessing.
    assert_eq!(history[1][19], "N/A");
}

/// (testcase name, failure message if failed) from a JUnit document, checking its structure.
/// A test case's name and, when it failed, its failure message.
type Case = (String, Option<String>);

fn parse_junit(xml: &str) -> (HashMap<String, String>, Vec<Case>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suite_attrs = HashMap::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut depth_stack: Vec<String> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .expect("JUnit output is well-formed XML");
        let (e, empty) = match &event {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(_) => {
                depth_stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        let attrs: HashMap<String, String> = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.decode_and_unescape_value(reader.decoder())
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect();
        match name.as_str() {
            "testsuites" => assert!(depth_stack.is_empty()),
            "testsuite" => {
                assert_eq!(depth_stack, ["testsuites"]);
                suite_attrs = attrs.clone();
            }
            "testcase" => {
                assert_eq!(depth_stack, ["testsuites", "testsuite"]);
                cases.push((attrs["name"].clone(), None));
            }
            "failure" => {
                assert_eq!(depth_stack.last().map(String::as_str), Some("testcase"));
                cases.last_mut().unwrap().1 = Some(attrs["message"].clone());
            }
            _ => {}
        }
        if !empty {
            depth_stack.push(name);
        }
    }
    assert!(depth_stack.is_empty());
    (suite_attrs, cases)
}

#[test]
fn junit_has_one_case_per_threshold() {
    let r = common::sample_report();
    let xml = junit::render_junit(&r);
    let (suite, cases) = parse_junit(&xml);
    let failed = r.thresholds.iter().filter(|t| !t.passed).count();
    assert!(
        failed >= 1 && failed < r.thresholds.len(),
        "the fixture has both outcomes"
    );
    // One case per threshold, then the failed-requests case (the fixture's failures are all
    // allowed by its error_rate threshold, so it passes).
    assert_eq!(suite["tests"], (r.thresholds.len() + 1).to_string());
    assert_eq!(suite["failures"], failed.to_string());
    assert_eq!(cases.len(), r.thresholds.len() + 1);
    assert_eq!(
        cases.last().unwrap(),
        &("failed requests".to_string(), None)
    );
    for (t, (name, failure)) in r.thresholds.iter().zip(&cases) {
        assert_eq!(name, &t.expression);
        assert_eq!(failure.is_some(), !t.passed, "{name}");
        if let Some(message) = failure {
            let observed = t.observed.unwrap();
            assert!(
                message.contains(
                    &format!("{observed:.3}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string()
                ),
                "{message}"
            );
            assert!(message.contains(&t.op), "{message}");
        }
    }
    let (_, cases) = parse_junit(&junit::render_junit(&common::passing_report()));
    assert!(cases.iter().all(|(_, f)| f.is_none()));
}

#[test]
fn html_escapes_every_text_from_the_run() {
    let r = common::sample_report();
    let page = html::render_html(&r);
    assert!(!page.contains("<b>&x="), "request names are escaped");
    assert!(page.contains("/search?q=&lt;b&gt;&amp;x=&#39;1&#39;"));
    assert!(
        !page.contains("<script>"),
        "no script at all, and messages are escaped"
    );
    assert!(page.contains("&lt;html&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn html_shows_the_verdict_and_the_numbers() {
    let r = common::sample_report();
    let page = html::render_html(&r);
    assert!(page.contains("<div class=\"badge\">FAIL</div>"));
    for f in &r.verdict.failed {
        assert!(
            page.contains(&cicada_render::escape(f)),
            "failed threshold named: {f}"
        );
    }
    assert!(page.contains(&cicada_render::format::fmt_count(r.aggregated.requests)));
    assert!(page.contains(&cicada_render::format::fmt_ms_bare(
        r.aggregated.percentiles.p95
    )));
    for id in [
        "run",
        "requests",
        "timeline",
        "distribution",
        "failures",
        "thresholds",
    ] {
        assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    assert_eq!(
        page.matches("<svg class=\"chart\"").count(),
        6,
        "4 over time, database share, distribution"
    );
    assert!(
        !page.contains("http://") || !page.contains("src=\"http"),
        "nothing is loaded"
    );
    assert!(!page.contains(" src=") && !page.contains("<link") && !page.contains("url("));
    let passing = html::render_html(&common::passing_report());
    assert!(passing.contains("<div class=\"badge\">PASS</div>"));
}

#[test]
fn html_is_a_pure_function_of_the_json() {
    let r = common::sample_report();
    let from_json = RunReport::from_json(&r.to_json_pretty()).unwrap();
    assert_eq!(html::render_html(&r), html::render_html(&from_json));
}

#[test]
fn extra_sections_slot_into_the_page() {
    let r = common::sample_report();
    let section = html::Section {
        id: "resources".into(),
        title: "Resources".into(),
        body_html: "<p>CPU</p>".into(),
    };
    let page = html::render_html_with(&r, &[(html::Placement::AfterCharts, section)]);
    let at = |s: &str| page.find(s).unwrap();
    assert!(at("<section id=\"distribution\">") < at("<section id=\"resources\">"));
    assert!(at("<section id=\"resources\">") < at("<section id=\"failures\">"));
    assert!(page.contains("<a href=\"#resources\">Resources</a>"));
}

#[test]
fn write_outputs_writes_every_format() {
    let dir = std::env::temp_dir().join(format!("cicada-report-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = cicada_render::OutputOptions {
        json: Some(dir.join("r.json")),
        html: Some(dir.join("r.html")),
        csv_prefix: Some(dir.join("r")),
        junit: Some(dir.join("r.xml")),
    };
    let r = common::sample_report();
    assert!(cicada_render::write_outputs(&r, &opts).is_empty());
    for f in [
        "r.json",
        "r.html",
        "r_stats.csv",
        "r_stats_history.csv",
        "r_failures.csv",
        "r.xml",
    ] {
        assert!(dir.join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let bad = cicada_render::OutputOptions {
        html: Some(dir.join("missing-dir/r.html")),
        junit: Some(dir.join("r2.xml")),
        ..Default::default()
    };
    let errors = cicada_render::write_outputs(&r, &bad);
    assert_eq!(errors.len(), 1, "one bad path does not stop the others");
    assert!(errors[0].to_string().contains("missing-dir"));
    assert!(dir.join("r2.xml").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A run stopped before any request completed: every renderer still produces a valid file.
fn empty_report() -> RunReport {
    let mut r = common::sample_report();
    r.requests.clear();
    r.timeline.clear();
    r.failures.clear();
    r.thresholds.clear();
    r.verdict = cicada_report::model::Verdict {
        passed: true,
        failed: vec![],
        warnings: vec!["interrupted".into()],
        ..cicada_report::model::Verdict::default()
    };
    r.run.interrupted = true;
    r.run.duration_s = 0.0;
    let a = &mut r.aggregated;
    (
        a.requests,
        a.failures,
        a.failure_ratio,
        a.rps,
        a.mean_ms,
        a.min_ms,
        a.max_ms,
    ) = (0, 0, 0.0, 0.0, 0.0, 0.0, 0.0);
    a.percentiles = Default::default();
    a.distribution.clear();
    r
}

#[test]
fn an_empty_run_renders_everywhere() {
    let r = empty_report();
    let page = html::render_html(&r);
    assert_eq!(
        page.matches("No data").count(),
        5,
        "every chart says so instead of drawing nothing"
    );
    assert!(page.contains("No requests were made."));
    assert!(page.contains("<div class=\"badge\">PASS</div>"));
    assert!(
        page.contains("PASSED: no threshold failed"),
        "the verdict says why"
    );
    let stats = parse_csv(&locust_csv::stats_csv(&r));
    assert_eq!(stats.len(), 2);
    assert_eq!(
        stats[1][11], "N/A",
        "no percentiles without requests, as Locust"
    );
    assert_eq!(parse_csv(&locust_csv::stats_history_csv(&r)).len(), 1);
    let (suite, cases) = parse_junit(&junit::render_junit(&r));
    assert_eq!((suite["tests"].as_str(), cases.len()), ("0", 0));
    assert_valid(&validator(), &r.to_json_pretty());
}

#[test]
fn html_shows_server_timing_only_when_present() {
    let r = common::sample_report();
    let page = html::render_html(&r);
    let metrics = r
        .requests
        .iter()
        .find(|x| x.name == "/agents/{id}/metrics")
        .unwrap();
    let share = metrics.server_timing.as_ref().unwrap().db_share;
    assert!(page.contains("<th class=\"num\">DB share</th>"), "column");
    assert!(page.contains("<th class=\"num\">Pool wait (ms)</th>"));
    assert!(
        page.contains(&format!(
            "<td class=\"num\">{}</td>",
            cicada_render::format::fmt_ratio_pct(share)
        )),
        "the row's db share"
    );
    assert!(
        page.contains("Share of response time in the database"),
        "chart"
    );
    let mut plain = r.clone();
    for row in plain.requests.iter_mut() {
        row.server_timing = None;
    }
    plain.aggregated.server_timing = None;
    for s in plain.timeline.iter_mut() {
        s.server_timing = None;
    }
    let page = html::render_html(&plain);
    assert!(!page.contains("DB share"));
    assert!(!page.contains("Share of response time in the database"));
}

/// A run whose users never got past on_start: every format says so first with the same words,
/// the failure groups carry the (escaped) body excerpt, and the task row that measured nothing
/// reads "—" (HTML) or N/A percentiles with zeros elsewhere (CSV, as Locust writes a row with
/// no requests), never 0.0 ms as if measured.
#[test]
fn users_that_never_started_are_said_first_with_the_body_and_unmeasured_rows_read_a_dash() {
    use cicada_report::model::{FailureKind, FailureRow, UserStarts};
    let mut r = empty_report();
    let login = FailureRow {
        user_type: None,
        method: "POST".into(),
        name: "/api/v1/auth/login".into(),
        kind: FailureKind::Status,
        message: "HTTP 401".into(),
        occurrences: 40,
        body_excerpt: Some("{\"error\":\"<b>invalid</b> credentials\"}".into()),
    };
    r.failures = vec![login.clone()];
    r.users = Some(UserStarts {
        spawned: 40,
        never_started: 40,
        failed_request: Some(login),
    });
    let headline = r.users.as_ref().unwrap().headline().unwrap();
    assert_eq!(
        headline,
        "40 of 40 users never started their tasks: on_start failed at POST /api/v1/auth/login \
         with HTTP 401 {\"error\":\"<b>invalid</b> credentials\"}"
    );
    r.run.interrupted = false;
    r.verdict = cicada_report::model::Verdict {
        passed: false,
        reason: format!("{headline}; 40 of 40 requests failed"),
        exit_code: Some(1),
        unallowed_failures: 40,
        ..cicada_report::model::Verdict::default()
    };
    let mut task = r.aggregated.clone();
    task.method = "GET".into();
    task.name = "/api/v1/agents".into();
    r.requests = vec![task];
    assert_valid(&validator(), &r.to_json_pretty());
    let page = html::render_html(&r);
    let escaped = "{&quot;error&quot;:&quot;&lt;b&gt;invalid&lt;/b&gt; credentials&quot;}";
    assert!(!page.contains("<b>invalid</b>"), "unescaped excerpt");
    assert!(page.contains("<div class=\"excerpt\""), "no excerpt");
    let verdict_at = page.find("class=\"headline\"").unwrap();
    let headline_html = &page[verdict_at..];
    assert!(
        headline_html.starts_with(&format!(
            "class=\"headline\">FAILED: 40 of 40 users never started their tasks: on_start \
             failed at POST /api/v1/auth/login with HTTP 401 {escaped}"
        )),
        "{}",
        &headline_html[..300.min(headline_html.len())]
    );
    assert!(page.contains("<li class=\"never-started\">"));
    // The task row: a dash in every latency cell, not 0.
    let row_at = page
        .find("<td class=\"name\">/<wbr>api/<wbr>v1/<wbr>agents</td>")
        .expect("the task row");
    let row = &page[row_at..row_at + page[row_at..].find("</tr>").unwrap()];
    assert_eq!(row.matches("<td class=\"num\">—</td>").count(), 8, "{row}");
    let xml = junit::render_junit(&r);
    let (_, cases) = parse_junit(&xml);
    assert!(
        xml.contains(r#"<property name="users_never_started" value="40"/>"#),
        "{xml}"
    );
    let (_, failed) = cases.iter().find(|c| c.0 == "failed requests").unwrap();
    assert!(
        failed.as_deref().unwrap().starts_with(&headline),
        "{failed:?}"
    );
    let stats = parse_csv(&locust_csv::stats_csv(&r));
    let agents = stats.iter().find(|row| row[1] == "/api/v1/agents").unwrap();
    assert_eq!(&agents[4..8], ["0", "0", "0", "0"]);
    assert!(agents[11..].iter().all(|c| c == "N/A"), "{agents:?}");
}
