//! End to end: the database findings on a real dryad, from its `Server-Timing` headers.
//!
//! dryad with a one-connection pool, driven by the real `cicada run --scrape` with 8 users
//! and no think time, makes every request queue for the connection: the report's findings
//! hold the connection-pool finding, critical, with the pool wait's share of response time as
//! evidence, ranked above the database-bound one (the queries themselves are short); the
//! per-row database share is above 0 for the database route and 0 for the route that never
//! touches the database. The negative control: the same load
//! on dryad's default pool of 8 yields neither finding.

mod support;

use cicada_report::RunReport;
use cicada_report::analysis_model::{Finding, FindingKind, Severity};
use cicada_report::model::RequestStats;
use support::{Bins, Dryad, Scratch, bins, cicada_run, text};

/// `/ready` pings the database through the pool; `/health` never touches it.
const SCENARIO: &str = r#"
name = "pool-pressure"

[[users]]
name = "prober"

[[users.tasks]]
weight = 4
method = "GET"
path = "/ready"

[[users.tasks]]
weight = 1
method = "GET"
path = "/health"
"#;

/// 8 users without think time for 8 s against dryad with a pool of `pool_size`, scraping its
/// `/metrics`.
fn run(bins: &Bins, scratch: &Scratch, pool_size: u32) -> RunReport {
    let dryad = Dryad::start(bins, scratch, &[], &["--pool-size", &pool_size.to_string()]);
    let out = cicada_run(
        bins,
        scratch,
        &["-H", &dryad.base, "-u", "8", "-r", "8", "-t", "8s"],
    )
    .args(["--scrape", &format!("{}/metrics", dryad.base)])
    .arg("--quiet")
    .output()
    .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "cicada failed: {}",
        text(&out.stderr)
    );
    scratch.report()
}

fn row<'a>(report: &'a RunReport, name: &str) -> &'a RequestStats {
    report
        .requests
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

fn finding(report: &RunReport, kind: FindingKind) -> Option<&Finding> {
    let all: Vec<&Finding> = report
        .analysis
        .as_ref()
        .expect("analysis attached")
        .findings
        .iter()
        .filter(|f| f.kind == kind)
        .collect();
    // A pool seen in the scraped gauges and in the Server-Timing waits is one finding with
    // both evidences, never the same headline twice.
    assert!(
        all.len() <= 1,
        "{kind:?} named {} times: {all:#?}",
        all.len()
    );
    all.first().copied()
}

#[test]
fn a_one_connection_pool_is_found_and_a_normal_pool_is_not() {
    let bins = bins();
    let scratch = Scratch::new("db-findings", SCENARIO);

    // Tiny pool: every request queues for the one connection.
    let tiny = run(&bins, &scratch, 1);
    assert_eq!(tiny.aggregated.failures, 0, "{:?}", tiny.failures);
    let ready = row(&tiny, "/ready")
        .server_timing
        .clone()
        .expect("dryad sends Server-Timing");
    assert!(ready.db_share > 0.0, "{ready:?}");
    // The wait for the one connection dwarfs the query itself; its absolute size depends on
    // the machine's speed (under 1 ms on a fast one), the ratio does not.
    assert!(
        ready.pool_wait_mean_ms > 5.0 * ready.db_mean_ms && ready.pool_share > 0.5,
        "{ready:?}"
    );
    let health = row(&tiny, "/health").server_timing.clone().unwrap();
    assert_eq!((health.db_share, health.pool_share), (0.0, 0.0));
    assert!(
        tiny.timeline
            .iter()
            .filter_map(|s| s.server_timing.as_ref())
            .any(|t| t.db_share > 0.0),
        "a per-second database share"
    );
    let summary = |f: &Finding| format!("{}: {} {:?}", f.title, f.summary, f.evidence);
    let pool = finding(&tiny, FindingKind::ConnectionPoolSaturated)
        .unwrap_or_else(|| panic!("pool finding in {:#?}", tiny.analysis));
    assert_eq!(pool.severity, Severity::Critical, "{}", summary(pool));
    assert!(pool.window.is_some());
    assert!(!pool.next_step.is_empty());
    let share = pool
        .evidence
        .iter()
        .find(|e| e.label == "pool wait, share of response time")
        .unwrap_or_else(|| panic!("{}", summary(pool)));
    assert!(share.value > 50.0, "{}", summary(pool));
    // The gauges' evidence (every connection in use) is in the same finding.
    assert!(
        pool.evidence
            .iter()
            .any(|e| e.label.starts_with("seconds with every connection in use")),
        "{}",
        summary(pool)
    );
    let db = finding(&tiny, FindingKind::DatabaseBound)
        .unwrap_or_else(|| panic!("database finding in {:#?}", tiny.analysis));
    assert!(
        db.summary.contains("Server-Timing pool") && db.summary.contains("GET /ready"),
        "{}",
        summary(db)
    );
    // The waits are for the one connection, not in queries: the pool is the diagnosis and
    // ranks first; the database's own share (the `/ready` ping) is small.
    assert!(db.severity < pool.severity, "{}", summary(db));
    let rank = |kind| {
        tiny.analysis
            .as_ref()
            .unwrap()
            .findings
            .iter()
            .position(|f| f.kind == kind)
    };
    assert!(
        rank(FindingKind::ConnectionPoolSaturated) < rank(FindingKind::DatabaseBound),
        "{:#?}",
        tiny.analysis
    );

    // The same load on dryad's default pool: no pool or database finding.
    let normal = run(&bins, &scratch, 8);
    assert_eq!(normal.aggregated.failures, 0);
    let ready = row(&normal, "/ready").server_timing.clone().unwrap();
    assert!(ready.db_share > 0.0, "{ready:?}");
    for kind in [
        FindingKind::ConnectionPoolSaturated,
        FindingKind::DatabaseBound,
    ] {
        assert!(
            finding(&normal, kind).is_none(),
            "{kind:?} with a normal pool: {:#?} (rows: {ready:?})",
            normal.analysis.as_ref().unwrap().findings
        );
    }
}
