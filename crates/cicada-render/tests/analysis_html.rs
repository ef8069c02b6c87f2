//! The analysis parts of the HTML page: each section appears exactly when its data exists, in
//! its place, with its charts, and every text a server or user wrote is escaped.

mod common;

use std::collections::BTreeMap;

use cicada_render::html;
use cicada_report::RunReport;
use cicada_report::analysis_model::*;

fn section_ids(page: &str) -> Vec<String> {
    page.split("<section id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = page[start..].find("</section>").unwrap();
    &page[start..start + end]
}

fn charts(html: &str) -> usize {
    html.matches("<svg class=\"chart\"").count()
}

#[test]
fn every_analysis_section_in_its_place() {
    let page = html::render_html(&common::analysed_report());
    assert_eq!(
        section_ids(&page),
        [
            "findings",
            "run",
            "requests",
            "status-codes",
            "timeline",
            "distribution",
            "resources",
            "target-metrics",
            "capacity",
            "scaling",
            "failures",
            "thresholds"
        ]
    );
    for (id, title) in [
        ("findings", "Findings"),
        ("resources", "Resources"),
        ("target-metrics", "Target metrics"),
        ("capacity", "Capacity"),
        ("scaling", "Auto-scaling"),
    ] {
        assert!(
            page.contains(&format!("<a href=\"#{id}\">{title}</a>")),
            "{id} in the table of contents"
        );
    }
    // Findings come right after the headline numbers.
    let at = |s: &str| page.find(s).unwrap();
    assert!(at("<div class=\"cards\">") < at("<section id=\"findings\">"));
    assert!(at("<div class=\"gen-health\"") < at("<div class=\"cards\">"));
    assert_eq!(charts(section(&page, "resources")), 3);
    // The target's CPU limit and how much of it it used, and how it was sampled.
    let resources = section(&page, "resources");
    assert!(
        resources
            .contains("<strong>Target CPU limit:</strong> 2 cores (the whole machine) — used "),
        "{resources}"
    );
    assert!(resources.contains("its whole process tree"), "{resources}");
    assert!(resources.contains("2 (machine)"), "{resources}");
    assert_eq!(charts(section(&page, "target-metrics")), 8);
    assert_eq!(charts(section(&page, "capacity")), 2);
    assert_eq!(
        charts(section(&page, "scaling")),
        4,
        "load, replicas, p95, errors"
    );
    // Over time (users, throughput, response times, p95 per request, database share) and
    // the distribution.
    assert_eq!(charts(&page), 6 + 3 + 8 + 2 + 4);
}

#[test]
fn findings_show_rank_severity_evidence_window_and_next_step() {
    let r = common::analysed_report();
    let page = html::render_html(&r);
    let findings = section(&page, "findings");
    let a = r.analysis.as_ref().unwrap();
    assert_eq!(
        findings.matches("<li class=\"finding ").count(),
        a.findings.len()
    );
    assert!(findings.contains("<span class=\"rank\">1</span><span class=\"pill sev critical\">critical</span><span class=\"ftitle\">The load generator could not keep up</span>"));
    assert!(findings.contains("<th>pool acquire wait p95 (peak)</th><td class=\"num\">35.0 ms</td><td class=\"when\">0:38–0:44 (6s)</td>"));
    assert!(findings.contains("<th>connections in use</th><td class=\"num\">10 of 10</td>"));
    assert_eq!(
        findings.matches("<strong>Next step:</strong>").count(),
        a.findings.len()
    );
    // The order is the model's (ranked), not re-sorted.
    let first = findings.find("Database connection pool saturated").unwrap();
    let later = findings.find("Target is close to CPU-bound").unwrap();
    assert!(first < later);
}

#[test]
fn generator_banner_only_when_overloaded_and_said_once() {
    let r = common::analysed_report();
    let verdict = r
        .analysis
        .as_ref()
        .unwrap()
        .generator_health
        .as_ref()
        .unwrap()
        .verdict
        .clone();
    let page = html::render_html(&r);
    assert!(page.contains("GENERATOR OVERLOADED"));
    let escaped = cicada_render::escape(&verdict);
    assert_eq!(
        page.matches(&escaped).count(),
        1,
        "banner, not also a warning line"
    );
    assert!(
        page.contains("<rect class=\"band\""),
        "affected seconds shaded"
    );

    let mut healthy = r.clone();
    let h = healthy
        .analysis
        .as_mut()
        .unwrap()
        .generator_health
        .as_mut()
        .unwrap();
    h.healthy = true;
    h.affected.clear();
    let page = html::render_html(&healthy);
    assert!(!page.contains("<div class=\"gen-health\""));
    assert!(!page.contains("<rect class=\"band\""));
    assert!(
        page.contains(&escaped),
        "a warning line the run kept is still shown"
    );
}

#[test]
fn each_section_appears_only_with_its_data() {
    let plain = html::render_html(&common::sample_report());
    for id in [
        "findings",
        "resources",
        "target-metrics",
        "capacity",
        "scaling",
    ] {
        assert!(
            !plain.contains(&format!("id=\"{id}\"")),
            "{id} without analysis"
        );
    }
    assert!(!plain.contains("<div class=\"gen-health\""));

    let full = common::analysed_report();
    let drop = |f: fn(&mut Analysis), gone: &[&str]| {
        let mut r = full.clone();
        f(r.analysis.as_mut().unwrap());
        let ids = section_ids(&html::render_html(&r));
        for id in [
            "findings",
            "resources",
            "target-metrics",
            "capacity",
            "scaling",
        ] {
            assert_eq!(
                ids.iter().any(|x| x == id),
                !gone.contains(&id),
                "{id} (after dropping {gone:?})"
            );
        }
    };
    drop(|a| a.resources = None, &["resources"]);
    drop(|a| a.scraped = None, &["target-metrics"]);
    drop(|a| a.capacity = None, &["capacity"]);
    drop(|a| a.scaling = None, &["scaling"]);
    drop(
        |a| {
            a.findings.clear();
            a.generator_health = None;
        },
        &["findings"],
    );
    drop(
        |a| *a = Analysis::default(),
        &[
            "findings",
            "resources",
            "target-metrics",
            "capacity",
            "scaling",
        ],
    );

    // Findings rules ran and found nothing: the section says so.
    let mut r = full.clone();
    r.analysis.as_mut().unwrap().findings.clear();
    let page = html::render_html(&r);
    assert!(section(&page, "findings").contains("No bottleneck found"));

    // Only a target series, no generator and no system CPU: one line per chart, no system chart.
    let mut r = full.clone();
    let res = r.analysis.as_mut().unwrap().resources.as_mut().unwrap();
    res.generator = None;
    res.system.clear();
    let page = html::render_html(&r);
    assert_eq!(charts(section(&page, "resources")), 2);
}

#[test]
fn capacity_shows_headline_steps_and_the_usl_fit() {
    let r = common::analysed_report();
    let c = r.analysis.as_ref().unwrap().capacity.clone().unwrap();
    let page = html::render_html(&r);
    let cap = section(&page, "capacity");
    assert!(cap.contains("max users at P95 &lt; 200 ms and error rate &lt; 1 %: 130"));
    assert_eq!(
        cap.matches("<tr").count() - 1,
        c.steps.len(),
        "one row per step"
    );
    assert_eq!(
        cap.matches("<span class=\"pill fail\">FAIL</span>").count(),
        c.steps.iter().filter(|s| !s.passed).count()
    );
    assert!(
        cap.contains("<tr class=\"best\">"),
        "the highest passing step marked"
    );
    for label in [
        "σ (contention)",
        "κ (coherency)",
        "N* (peak concurrency)",
        "R² of the fit",
    ] {
        assert!(cap.contains(label), "{label}");
    }
    assert!(cap.contains("<dd>0.0310</dd>"), "σ");
    assert!(
        cap.contains("class=\"markers\""),
        "measured points drawn as dots"
    );
    assert!(cap.contains("USL fit"));

    // The dots are the fit's own points (the steps it trusted), on its concurrency axis.
    let mut r3 = r.clone();
    let c3 = r3.analysis.as_mut().unwrap().capacity.as_mut().unwrap();
    c3.load_unit = LoadUnit::ArrivalRate;
    c3.usl.as_mut().unwrap().points.truncate(6);
    let page = html::render_html(&r3);
    let cap = section(&page, "capacity");
    let first_chart = &cap[cap.find("<svg").unwrap()..cap.find("</svg>").unwrap()];
    assert_eq!(
        first_chart.matches("<circle").count(),
        6 + 1,
        "six dots and the legend's"
    );
    assert!(first_chart.contains("Concurrency (iterations in flight)"));

    // Without a fit: the reason, and the measured points only.
    let mut r2 = r.clone();
    let c2 = r2.analysis.as_mut().unwrap().capacity.as_mut().unwrap();
    c2.usl = None;
    c2.usl_error = Some("needs 6 points, got 4 <too few>".into());
    let page = html::render_html(&r2);
    let cap = section(&page, "capacity");
    assert!(
        cap.contains("No Universal Scalability Law fit: needs 6 points, got 4 &lt;too few&gt;")
    );
    assert!(!cap.contains("USL fit"));
}

#[test]
fn usl_curve_matches_the_formula() {
    let fit = UslFit {
        sigma: 0.05,
        kappa: 0.001,
        lambda: 10.0,
        peak_concurrency: None,
        predicted_max_throughput: None,
        r_squared: 1.0,
        points: vec![],
    };
    let x = cicada_render::html::usl_throughput(&fit, 20.0);
    assert!((x - 200.0 / (1.0 + 0.05 * 19.0 + 0.001 * 20.0 * 19.0)).abs() < 1e-9);
    assert!((cicada_render::html::usl_throughput(&fit, 1.0) - 10.0).abs() < 1e-12);
}

#[test]
fn scaling_checks_table_names_every_check() {
    let r = common::analysed_report();
    let s = r.analysis.as_ref().unwrap().scaling.clone().unwrap();
    let page = html::render_html(&r);
    let sec = section(&page, "scaling");
    for c in &s.checks {
        assert!(
            sec.contains(&format!("<code>{}</code>", c.name)),
            "{}",
            c.name
        );
    }
    assert!(sec.contains("<span class=\"pill kind\">skipped</span>"));
    assert!(sec.contains("6 checks: 1 failed, 4 passed, 1 skipped (nothing to judge)"));
    let errors = s
        .checks
        .iter()
        .find(|c| c.name == "errors_during_scaling")
        .and_then(|c| c.measured)
        .unwrap();
    assert!(errors > 0.0);
    assert!(sec.contains(&format!(
        "<td class=\"num bad\">{errors} errors</td><td class=\"num\">0 errors</td>"
    )));
    // No errors in the timeline: no errors panel.
    let mut quiet = r.clone();
    quiet
        .analysis
        .as_mut()
        .unwrap()
        .scaling
        .as_mut()
        .unwrap()
        .timeline
        .iter_mut()
        .for_each(|p| p.errors = 0);
    assert_eq!(charts(section(&html::render_html(&quiet), "scaling")), 3);
}

fn gauge(name: &str, labels: &[(&str, &str)], values: impl Fn(f64) -> f64) -> MetricSeries {
    MetricSeries {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect::<BTreeMap<_, _>>(),
        stat: SeriesStat::Gauge,
        points: (1..=20)
            .map(|t| SeriesPoint {
                elapsed_s: t as f64,
                value: values(t as f64),
            })
            .collect(),
    }
}

#[test]
fn target_metrics_are_capped_and_the_rest_listed() {
    let mut series = Vec::new();
    for i in 0..12 {
        series.push(gauge(&format!("moving_{i:02}"), &[], move |t| {
            t * (i + 1) as f64
        }));
    }
    series.push(gauge("constant_a", &[], |_| 3.0));
    for k in 0..20 {
        let k_label = format!("w{k:02}");
        series.push(gauge("wide", &[("worker", &k_label)], move |t| {
            t + k as f64
        }));
    }
    let mut r = common::sample_report();
    r.analysis = Some(Analysis {
        scraped: Some(ScrapedMetrics {
            url: "http://127.0.0.1:1/metrics".into(),
            scrapes: 20,
            failed_scrapes: 0,
            last_error: None,
            series,
        }),
        ..Analysis::default()
    });
    let page = html::render_html(&r);
    let sec = section(&page, "target-metrics");
    assert_eq!(charts(sec), 8);
    // 14 families: 13 moving (the first 8 by name are drawn), one constant, listed last.
    assert!(sec.contains("6 more metric families"));
    let listed = &sec[sec.find("<table class=\"metrics\">").unwrap()..];
    assert!(listed.contains("<code>wide</code>") && listed.contains("<code>constant_a</code>"));
    assert!(listed.find("moving_11").unwrap() < listed.find("constant_a").unwrap());
    assert!(!sec[..sec.find("<table class=\"metrics\">").unwrap()].contains("constant_a"));

    // A family with 20 label sets draws the 8 highest and names the rest.
    let mut r2 = r.clone();
    r2.analysis
        .as_mut()
        .unwrap()
        .scraped
        .as_mut()
        .unwrap()
        .series
        .retain(|s| s.name == "wide");
    let page = html::render_html(&r2);
    let sec = section(&page, "target-metrics");
    assert_eq!(charts(sec), 1);
    assert_eq!(sec.matches("<path class=\"series\"").count(), 8);
    assert!(sec.contains("12 more series not drawn (lower peaks)"));
    assert!(sec.contains("worker=w19"), "highest peak drawn");
    assert!(
        !sec.contains("<title>worker=w00</title>"),
        "lowest not drawn"
    );
}

const EVIL: &str = "<script>alert('x')</script>&\"";

/// Every text of the analysis set to markup.
fn hostile() -> RunReport {
    let mut r = common::analysed_report();
    let a = r.analysis.as_mut().unwrap();
    let res = a.resources.as_mut().unwrap();
    for p in [
        res.generator.as_mut().unwrap(),
        res.target.as_mut().unwrap(),
    ] {
        p.label = EVIL.into();
        p.ended = Some(EVIL.into());
    }
    let m = a.scraped.as_mut().unwrap();
    m.url = EVIL.into();
    m.last_error = Some(EVIL.into());
    for s in &mut m.series {
        s.name = format!("{}{EVIL}", s.name);
        s.labels.insert(EVIL.into(), EVIL.into());
    }
    let h = a.generator_health.as_mut().unwrap();
    h.verdict = EVIL.into();
    h.reasons = vec![EVIL.into()];
    for f in &mut a.findings {
        f.title = EVIL.into();
        f.summary = EVIL.into();
        f.next_step = EVIL.into();
        for e in &mut f.evidence {
            e.label = EVIL.into();
            e.unit = EVIL.into();
        }
    }
    let c = a.capacity.as_mut().unwrap();
    c.slos = vec![EVIL.into()];
    c.headline = EVIL.into();
    c.stop_reason = EVIL.into();
    for s in &mut c.steps {
        s.violations = vec![EVIL.into()];
    }
    let s = a.scaling.as_mut().unwrap();
    s.probe = EVIL.into();
    for c in &mut s.checks {
        c.name = EVIL.into();
        c.reason = EVIL.into();
        c.unit = EVIL.into();
    }
    r
}

#[test]
fn every_analysis_text_is_escaped() {
    let page = html::render_html(&hostile());
    assert!(
        !page.contains("<script"),
        "no markup from the run gets through"
    );
    assert!(!page.contains("alert('x')"));
    assert!(
        page.matches("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;")
            .count()
            > 50
    );
    // The sample's own markup (a route label, a scrape error, the probe) is escaped too.
    let page = html::render_html(&common::analysed_report());
    assert!(page.contains("route=/search?q=&lt;b&gt;"));
    assert!(page.contains("connection reset &lt;by peer&gt; &amp; retried"));
    assert!(page.contains("{pool=&quot;&lt;default&gt;&quot;}"));
}

#[test]
fn analysed_page_is_a_pure_function_of_the_json() {
    let r = common::analysed_report();
    let back = RunReport::from_json(&r.to_json_pretty()).unwrap();
    assert_eq!(back, r);
    assert_eq!(html::render_html(&r), html::render_html(&back));
}
