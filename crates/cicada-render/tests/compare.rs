//! `compare`: an identical pair passes every gate; a planted regression is flagged by the gate
//! that covers it and only by that one.

mod common;

use cicada_render::compare::{Gate, compare};

fn gates(texts: &[&str]) -> Vec<Gate> {
    texts.iter().map(|t| Gate::parse(t).unwrap()).collect()
}

const CI_GATES: [&str; 5] = [
    "p95>+10%",
    "error_rate>+0.5pp",
    "rps<-10%",
    "each:p99>+25%",
    "GET /agents:p50>+2ms",
];

#[test]
fn identical_runs_pass_every_gate() {
    let r = common::sample_report();
    let c = compare(&r, &r, &gates(&CI_GATES));
    assert!(c.passed(), "{}", c.render_table(false));
    assert_eq!(c.rows.len(), r.requests.len() + 1);
    // `each:` expands to one check per request row.
    assert_eq!(c.gates.len(), 4 + r.requests.len());
    for row in &c.rows {
        assert_eq!(row.p95.relative_pct(), Some(0.0));
    }
    let table = c.render_table(false);
    assert!(table.contains("PASS: 9 of 9 gate checks passed"), "{table}");
    assert!(
        !table.contains('\x1b'),
        "no colour codes when colour is off"
    );
}

#[test]
fn a_planted_regression_is_flagged() {
    let base = common::sample_report();
    let mut new = base.clone();
    // /agents/{id}/metrics gets 40 % slower at p99; everything else is unchanged.
    let row = new
        .requests
        .iter_mut()
        .find(|r| r.name == "/agents/{id}/metrics")
        .unwrap();
    row.percentiles.p99 *= 1.4;
    let c = compare(&base, &new, &gates(&CI_GATES));
    assert!(!c.passed());
    let failed: Vec<_> = c.gates.iter().filter(|g| g.failed).collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].row, "GET /agents/{id}/metrics");
    assert_eq!(failed[0].gate, "each:p99>+25%");
    assert!((failed[0].change.unwrap() - 40.0).abs() < 1e-9);
    let table = c.render_table(false);
    eprintln!("{table}");
    assert!(table.contains("FAIL: 1 of 9 gate checks failed"), "{table}");
    assert!(table.contains("+40.0%"), "{table}");
}

#[test]
fn error_rate_and_throughput_gates() {
    let base = common::sample_report();
    let mut new = base.clone();
    new.aggregated.failure_ratio += 0.006; // +0.6 percentage points
    new.aggregated.rps *= 0.85; // -15 %
    let c = compare(
        &base,
        &new,
        &gates(&["error_rate>+0.5pp", "rps<-10%", "rps<-20%"]),
    );
    let outcome: Vec<(String, bool)> = c.gates.iter().map(|g| (g.gate.clone(), g.failed)).collect();
    assert_eq!(
        outcome,
        [
            ("error_rate>+0.5pp".into(), true),
            ("rps<-10%".into(), true),
            ("rps<-20%".into(), false)
        ]
    );
}

#[test]
fn missing_rows_are_reported_and_fail_a_named_gate() {
    let base = common::sample_report();
    let mut new = base.clone();
    let removed = new.requests.remove(0);
    let c = compare(&base, &new, &gates(&["GET /agents:p95>+10%"]));
    assert_eq!(
        c.only_in_base,
        vec![format!("{} {}", removed.method, removed.name)]
    );
    assert!(
        !c.passed(),
        "a gate on a row that vanished must not pass silently"
    );
    assert!(c.render_table(false).contains("only in BASE: GET /agents"));
}

#[test]
fn user_types_label_rows_only_when_there_are_several() {
    let one = common::sample_report();
    let c = compare(&one, &one, &[]);
    assert_eq!(c.rows[0].label, "GET /agents");
    let mut two = one.clone();
    for (i, row) in two.requests.iter_mut().enumerate() {
        row.user_type = Some(if i < 2 { "reader" } else { "writer" }.into());
    }
    let c = compare(&two, &two, &gates(&["GET /agents:p95>+10%"]));
    assert_eq!(c.rows[0].label, "GET /agents [reader]");
    assert!(c.passed(), "a row scope still matches by METHOD name");
}

#[test]
fn database_share_and_pool_wait_are_compared_per_endpoint() {
    let base = common::sample_report();
    let mut new = base.clone();
    let row = new
        .requests
        .iter_mut()
        .find(|r| r.name == "/agents/{id}/metrics")
        .unwrap();
    let t = row
        .server_timing
        .as_mut()
        .expect("the sample carries Server-Timing");
    let before = (t.db_share, t.pool_wait_mean_ms);
    t.db_share = 0.9;
    t.pool_wait_mean_ms += 5.0;
    let c = compare(&base, &new, &[]);
    let r = c
        .rows
        .iter()
        .find(|r| r.label == "GET /agents/{id}/metrics")
        .unwrap();
    let db = r.db_share.expect("both runs carry it");
    assert_eq!((db.base, db.new), (before.0 * 100.0, 90.0));
    assert_eq!(r.pool_wait.unwrap().absolute(), 5.0);
    let table = c.render_table(false);
    assert!(
        table.contains("DB share") && table.contains("Pool wait (ms)"),
        "{table}"
    );
    assert!(
        table.contains(&format!("{:+.2}pp", 90.0 - before.0 * 100.0)),
        "{table}"
    );
    // Without Server-Timing in a run there is nothing to compare, and no columns.
    let mut plain = base.clone();
    for r in plain.requests.iter_mut() {
        r.server_timing = None;
    }
    plain.aggregated.server_timing = None;
    let c = compare(&plain, &new, &[]);
    assert!(c.rows.iter().all(|r| r.db_share.is_none()));
    assert!(!c.render_table(false).contains("DB share"));
}
