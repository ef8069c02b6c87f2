//! Thresholds as JUnit XML (`--junit FILE`): one test case per threshold, failed thresholds as
//! `<failure>` elements carrying the measured value and the limit, so any CI system shows which
//! limit a run broke; and one `failed requests` case that fails, with the verdict's reason,
//! when requests failed that no error threshold allows (`--exit-code-on-error`, unless 0). The
//! suite's `verdict` and `verdict_reason` properties are the verdict every other front end shows.

use std::fmt::Write as _;

use crate::escape::escape;
use cicada_report::model::{RunReport, ThresholdResult};

/// The JUnit XML document for a report's thresholds.
pub fn render_junit(report: &RunReport) -> String {
    let v = &report.verdict;
    // Reports written before the verdict recorded its exit code have no such case.
    let requests_case = v.exit_code.is_some() && v.exit_code_on_error != 0;
    let requests_failed = requests_case && v.unallowed_failures > 0;
    let tests = report.thresholds.len() + usize::from(requests_case);
    let failures =
        report.thresholds.iter().filter(|t| !t.passed).count() + usize::from(requests_failed);
    let time = format!("{:.3}", report.run.duration_s);
    let suite = format!("cicada thresholds: {}", report.run.scenario);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        r#"<testsuites name="cicada" tests="{tests}" failures="{failures}" errors="0" time="{time}">"#
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="0" skipped="0" time="{time}" timestamp="{}" hostname="{}">"#,
        escape(&suite),
        escape(junit_timestamp(&report.run.started_at)),
        escape(&report.run.machine.hostname),
    );
    x.push_str("    <properties>\n");
    let props = [
        ("scenario", report.run.scenario.clone()),
        ("host", report.run.host.clone()),
        ("plan", report.run.plan.description.clone()),
        ("started_at", report.run.started_at.clone()),
        ("ended_at", report.run.ended_at.clone()),
        ("interrupted", report.run.interrupted.to_string()),
        ("cicada_version", report.tool.version.clone()),
        ("verdict", v.label().to_owned()),
        ("verdict_reason", v.reason_text()),
        ("exit_code", v.exit_code().to_string()),
    ];
    // Users that never got past on_start (the verdict's reason starts with them too).
    let users = report.users.as_ref().map(|u| {
        [
            ("users_spawned", u.spawned.to_string()),
            ("users_never_started", u.never_started.to_string()),
        ]
    });
    for (name, value) in props.into_iter().chain(users.into_iter().flatten()) {
        let _ = writeln!(
            x,
            r#"      <property name="{name}" value="{}"/>"#,
            escape(&value)
        );
    }
    x.push_str("    </properties>\n");
    let classname = format!("cicada.thresholds.{}", report.run.scenario);
    for t in &report.thresholds {
        let _ = write!(
            x,
            r#"    <testcase name="{}" classname="{}" time="0""#,
            escape(&t.expression),
            escape(&classname)
        );
        if t.passed {
            let _ = writeln!(x, "/>");
        } else {
            let message = failure_message(t);
            let _ = writeln!(
                x,
                r#">
      <failure message="{m}" type="threshold">{m}</failure>
    </testcase>"#,
                m = escape(&message)
            );
        }
    }
    if requests_case {
        let _ = write!(
            x,
            r#"    <testcase name="failed requests" classname="{}" time="0""#,
            escape(&format!("cicada.verdict.{}", report.run.scenario))
        );
        if requests_failed {
            let _ = writeln!(
                x,
                r#">
      <failure message="{m}" type="failed-requests">{m}</failure>
    </testcase>"#,
                m = escape(&v.reason_text())
            );
        } else {
            let _ = writeln!(x, "/>");
        }
    }
    if !report.verdict.warnings.is_empty() {
        x.push_str("    <system-out>");
        let warnings: Vec<String> = report
            .verdict
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        x.push_str(&escape(&warnings.join("\n")));
        x.push_str("</system-out>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// `"p95 < 200 ms: measured 312.4 ms (all requests)"`.
pub fn failure_message(t: &ThresholdResult) -> String {
    let measured = match t.observed {
        Some(v) => format!("measured {}", value_with_unit(v, &t.unit)),
        None => "no data (no matching requests)".to_owned(),
    };
    let scope = t.scope.as_deref().unwrap_or("all requests");
    format!(
        "{} {} {}: {measured} ({scope})",
        t.metric,
        t.op,
        value_with_unit(t.limit, &t.unit)
    )
}

/// A threshold value with its unit: `312.4 ms`, `0.5%`, `120 /s`.
pub fn value_with_unit(v: f64, unit: &str) -> String {
    let num = {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    match unit {
        "" => num,
        "%" => format!("{num}%"),
        u => format!("{num} {u}"),
    }
}

/// JUnit's `timestamp` is an ISO 8601 date-time without a zone: keep `YYYY-MM-DDTHH:MM:SS`.
fn junit_timestamp(rfc3339: &str) -> &str {
    rfc3339.get(..19).unwrap_or(rfc3339)
}
