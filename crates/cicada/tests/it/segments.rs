//! Execution segments (issue #13): a run split across three generators is the one run — the
//! same users per type at the same instants, the same arrivals, exactly the iteration bound,
//! every shared feeder row once — and `start_at` holds traffic back until its instant.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use cicada::launch::{LaunchOptions, SegmentFlags, check};
use cicada::runner::{RunConfig, RunHandle, Runner};
use cicada::scenario::{LoadSpec, parse_scenario};
use cicada::segment::Stripe;
use cicada_report::RunReport;

use crate::util::{config, run, serve};

/// Every request a server received: its path and query, and when.
type Log = Arc<Mutex<Vec<(String, SystemTime)>>>;

/// A server that answers every GET and logs it.
async fn logging_server() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .fallback(|State(l): State<Log>, uri: Uri| async move {
            let what = uri.path_and_query().map_or("", |p| p.as_str()).to_string();
            l.lock().unwrap().push((what, SystemTime::now()));
            "ok"
        })
        .with_state(Arc::clone(&log));
    (serve(app).await, log)
}

/// How many requests of each path (query left out) the log holds.
fn per_path(log: &Log) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (what, _) in log.lock().unwrap().iter() {
        let path = what.split('?').next().unwrap_or(what).to_string();
        *out.entry(path).or_insert(0) += 1;
    }
    out
}

/// Prepare the same run three times, each on its own server, as segment `i` of three equal
/// ones, starting together at `start_at`; run them at once.
async fn three_workers(
    toml: &str,
    dir: &Path,
    load: &LoadSpec,
    start_at: Option<SystemTime>,
) -> Vec<(RunReport, Log)> {
    let mut started: Vec<(RunHandle, Log)> = Vec::new();
    for i in 0..3 {
        let (host, log) = logging_server().await;
        let mut c = config(toml, dir, &host, load.clone());
        c.segment = Stripe::nth(i, 3).unwrap();
        c.start_at = start_at;
        started.push((Runner::start(c).await.expect("run starts"), log));
    }
    let mut out = Vec::new();
    for (handle, log) in started {
        out.push((handle.wait().await.expect("run ends"), log));
    }
    out
}

fn peaks(report: &RunReport) -> Vec<(String, u64)> {
    report
        .run
        .user_types
        .iter()
        .map(|u| (u.name.clone(), u.peak_users))
        .collect()
}

const TWO_TYPES: &str = r#"
[[users]]
name = "a"
weight = 3
wait = { constant = "30ms" }
[[users.tasks]]
method = "GET"
path = "/a"

[[users]]
name = "b"
weight = 1
wait = { constant = "30ms" }
[[users.tasks]]
method = "GET"
path = "/b"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iteration_bounded_closed_run_split_in_three_is_the_whole_run() {
    let load = LoadSpec {
        users: Some(10),
        spawn_rate: Some(10_000.0),
        iterations: Some(301),
        run_time: Some(Duration::from_secs(60)),
        ..LoadSpec::default()
    };
    let (host, whole_log) = logging_server().await;
    let whole = run(config(TWO_TYPES, Path::new("."), &host, load.clone())).await;
    assert_eq!(whole.aggregated.requests, 301);
    assert_eq!(per_path(&whole_log).values().sum::<u64>(), 301);
    assert_eq!(whole.run.segment, None);
    // 10 users of weights 3:1, as the run's round-robin gives them.
    assert_eq!(peaks(&whole), [("a".to_string(), 8), ("b".to_string(), 2)]);

    let parts = three_workers(TWO_TYPES, Path::new("."), &load, None).await;
    let mut union_peaks = [0u64; 2];
    let mut served = 0;
    for (i, (report, log)) in parts.iter().enumerate() {
        let stripe = Stripe::nth(i as u64, 3).unwrap();
        // Each worker did its exact share of the bound: 101, 100, 100.
        let n = per_path(log).values().sum::<u64>();
        assert_eq!(n, stripe.share(301), "worker {i}");
        assert_eq!(report.aggregated.requests, n, "worker {i}");
        assert!(n == 301 / 3 || n == 301 / 3 + 1, "worker {i}: {n}");
        assert_eq!(
            report.run.segment.as_deref(),
            Some(stripe.to_string().as_str())
        );
        // Its users are the run's users k of its stripe, typed as in the whole run.
        assert_eq!(
            report
                .run
                .user_types
                .iter()
                .map(|u| u.peak_users)
                .sum::<u64>(),
            stripe.share(10),
            "worker {i}"
        );
        for (t, u) in report.run.user_types.iter().enumerate() {
            union_peaks[t] += u.peak_users;
        }
        served += n;
    }
    assert_eq!(served, 301);
    assert_eq!(
        peaks(&whole).iter().map(|p| p.1).collect::<Vec<_>>(),
        union_peaks
    );

    // Merged, the three reports say they are the whole run.
    let inputs: Vec<cicada_report::merge::Input> = parts
        .iter()
        .enumerate()
        .map(|(i, (r, _))| cicada_report::merge::Input {
            source: format!("worker{i}.json"),
            report: r.clone(),
        })
        .collect();
    let merged = cicada_report::merge::merge(&inputs, &Default::default()).expect("merges");
    assert_eq!(merged.report.aggregated.requests, 301);
    assert_eq!(merged.report.run.segment, None);
    let segments = merged.report.merged.as_ref().unwrap().segments.clone();
    assert_eq!(
        segments.as_deref(),
        Some("0:1/3 + 1/3:2/3 + 2/3:1 = the whole run (0:1)")
    );
    assert!(
        !merged
            .report
            .verdict
            .warnings
            .iter()
            .any(|w| w.contains("segments")),
        "{:?}",
        merged.report.verdict.warnings
    );
    // Two of the three leave a gap, and the merge says so.
    let gap = cicada_report::merge::merge(&inputs[..2], &Default::default()).unwrap();
    assert!(
        gap.report
            .verdict
            .warnings
            .iter()
            .any(|w| w.contains("2/3:1 missing")),
        "{:?}",
        gap.report.verdict.warnings
    );
}

/// The users' spawn instants: each user's `on_start` request carries its per-user feeder row,
/// which is the whole run's user index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_union_spawns_the_whole_runs_users_at_its_instants() {
    let dir = tempfile::tempdir().unwrap();
    let users = 9u64;
    let csv: String = std::iter::once("uid".to_string())
        .chain((0..users).map(|k| k.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("users.csv"), csv + "\n").unwrap();
    let toml = r#"
[feeders.users]
file = "users.csv"
mode = "per_user"

[[users]]
wait = { constant = "200ms" }
[[users.on_start]]
method = "GET"
path = "/start?uid={{uid}}"
[[users.tasks]]
method = "GET"
path = "/tick"
"#;
    // One user every 250 ms: user k is spawned when the plan reaches k + 1 users.
    let rate = 4.0;
    let interval = 1.0 / rate;
    let load = LoadSpec {
        users: Some(users),
        spawn_rate: Some(rate),
        run_time: Some(Duration::from_secs_f64(users as f64 * interval + 0.5)),
        ..LoadSpec::default()
    };
    let start_at = SystemTime::now() + Duration::from_millis(500);
    let parts = three_workers(toml, dir.path(), &load, Some(start_at)).await;
    let mut seen = BTreeSet::new();
    for (i, (report, log)) in parts.iter().enumerate() {
        let stripe = Stripe::nth(i as u64, 3).unwrap();
        for (what, at) in log.lock().unwrap().iter() {
            let Some(uid) = what.strip_prefix("/start?uid=") else {
                continue;
            };
            let k: u64 = uid.parse().unwrap();
            assert!(stripe.contains(k), "worker {i} ran user {k}");
            assert!(seen.insert(k), "user {k} started twice");
            let since = at
                .duration_since(start_at)
                .unwrap_or_default()
                .as_secs_f64();
            let planned = (k + 1) as f64 * interval;
            // Never before its instant; late by less than two spawn intervals.
            assert!(
                since > planned - 0.2 * interval && since < planned + 2.0 * interval,
                "user {k} (worker {i}): started {since:.3}s after start_at, planned {planned:.3}s"
            );
        }
        assert_eq!(report.users.as_ref().unwrap().spawned, stripe.share(users));
    }
    assert_eq!(seen, (0..users).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_union_of_open_model_segments_starts_the_whole_runs_arrivals() {
    // Each arrival's sequence value is the whole run's arrival index.
    let toml = r#"
[generators]
seq = { type = "sequence", start = 0 }

[[users]]
[[users.tasks]]
method = "GET"
path = "/it?n={{seq}}"
"#;
    let arrivals = |log: &Log| -> Vec<u64> {
        log.lock()
            .unwrap()
            .iter()
            .map(|(w, _)| w.strip_prefix("/it?n=").unwrap().parse().unwrap())
            .collect()
    };
    // Rate × run time: 100/s for 1.5 s is arrivals 0..150.
    let timed = LoadSpec {
        rate: Some(100.0),
        run_time: Some(Duration::from_millis(1500)),
        max_concurrency: Some(3000),
        ..LoadSpec::default()
    };
    // An iteration bound at a high rate.
    let bounded = LoadSpec {
        rate: Some(400.0),
        iterations: Some(200),
        run_time: Some(Duration::from_secs(60)),
        max_concurrency: Some(3000),
        ..LoadSpec::default()
    };
    for (load, n) in [(timed, 150u64), (bounded, 200)] {
        let (host, log) = logging_server().await;
        let whole = run(config(toml, Path::new("."), &host, load.clone())).await;
        assert_eq!(whole.open_model.as_ref().unwrap().scheduled_iterations, n);
        assert_eq!(whole.open_model.as_ref().unwrap().dropped_iterations, 0);
        let mut one: Vec<u64> = arrivals(&log);
        one.sort_unstable();
        assert_eq!(one, (0..n).collect::<Vec<_>>());

        let start_at = SystemTime::now() + Duration::from_millis(300);
        let parts = three_workers(toml, Path::new("."), &load, Some(start_at)).await;
        let mut union = Vec::new();
        for (i, (report, log)) in parts.iter().enumerate() {
            let stripe = Stripe::nth(i as u64, 3).unwrap();
            let open = report.open_model.as_ref().unwrap();
            assert_eq!(open.scheduled_iterations, stripe.share(n), "worker {i}");
            assert_eq!(open.dropped_iterations, 0, "worker {i}");
            let mine = arrivals(log);
            assert!(mine.iter().all(|&k| stripe.contains(k)), "worker {i}");
            union.extend(mine);
        }
        union.sort_unstable();
        assert_eq!(union, (0..n).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_is_split_between_the_segments() {
    // Each iteration takes 100 ms; arrivals come every 10 ms (30 ms on each worker), so a
    // worker needs more virtual users than its share of 6 and holds exactly its 2.
    let app = Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        "ok"
    });
    let host = serve(app).await;
    let load = LoadSpec {
        rate: Some(100.0),
        run_time: Some(Duration::from_secs(1)),
        max_concurrency: Some(6),
        ..LoadSpec::default()
    };
    let toml = "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/slow\"\n";
    let mut started = Vec::new();
    for i in 0..3 {
        let mut c = config(toml, Path::new("."), &host, load.clone());
        c.segment = Stripe::nth(i, 3).unwrap();
        started.push(Runner::start(c).await.unwrap());
    }
    for (i, handle) in started.into_iter().enumerate() {
        let report = handle.wait().await.unwrap();
        let open = report.open_model.as_ref().unwrap();
        assert_eq!(report.users.as_ref().unwrap().spawned, 2, "worker {i}");
        assert!(
            open.peak_concurrency <= 2,
            "worker {i}: {}",
            open.peak_concurrency
        );
        assert!(open.dropped_iterations > 0, "worker {i}");
        assert_eq!(
            open.scheduled_iterations,
            Stripe::nth(i as u64, 3).unwrap().share(100)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_feeder_pass_is_taken_once_over_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 12u64;
    let csv: String = std::iter::once("v".to_string())
        .chain((0..rows).map(|k| format!("r{k}")))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("rows.csv"), csv + "\n").unwrap();
    let toml = r#"
[feeders.rows]
file = "rows.csv"

[[users]]
wait = { constant = "5ms" }
[[users.tasks]]
method = "GET"
path = "/row?v={{v}}"
"#;
    let load = LoadSpec {
        users: Some(4),
        spawn_rate: Some(1000.0),
        iterations: Some(rows),
        run_time: Some(Duration::from_secs(60)),
        ..LoadSpec::default()
    };
    let parts = three_workers(toml, dir.path(), &load, None).await;
    let mut union = BTreeMap::new();
    for (i, (_, log)) in parts.iter().enumerate() {
        let stripe = Stripe::nth(i as u64, 3).unwrap();
        for (what, _) in log.lock().unwrap().iter() {
            let k: u64 = what.strip_prefix("/row?v=r").unwrap().parse().unwrap();
            // The worker's j-th take is the j-th row of its stripe.
            assert!(stripe.contains(k), "worker {i} took row {k}");
            *union.entry(k).or_insert(0) += 1;
        }
    }
    assert_eq!(union, (0..rows).map(|k| (k, 1)).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_users_takes_the_whole_runs_count_and_keeps_the_share() {
    let (host, _log) = logging_server().await;
    let load = LoadSpec {
        users: Some(3),
        spawn_rate: Some(1000.0),
        run_time: Some(Duration::from_secs(60)),
        ..LoadSpec::default()
    };
    let mut c = config(TWO_TYPES, Path::new("."), &host, load);
    let stripe = Stripe::nth(0, 3).unwrap();
    c.segment = stripe.clone();
    let handle = Runner::start(c).await.unwrap();
    let control = handle.control();
    let users_become = |n: u64| {
        let control = control.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while control.users() != n {
                assert!(
                    Instant::now() < deadline,
                    "users {} != {n}",
                    control.users()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Whole-run users 3: this worker holds user 0 only.
    users_become(stripe.share(3)).await;
    assert_eq!(stripe.share(3), 1);
    assert!(control.set_users(10));
    // Users 0, 3, 6, 9 of 10.
    users_become(stripe.share(10)).await;
    assert_eq!(stripe.share(10), 4);
    assert!(control.set_users(5));
    users_become(stripe.share(5)).await;
    assert_eq!(stripe.share(5), 2);
    // And it stays there.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(control.users(), 2);
    control.stop();
    let report = handle.wait().await.unwrap();
    // Users 0, 3, 6, 9 are of types a, a, b, a in the whole run's round-robin.
    assert_eq!(peaks(&report), [("a".to_string(), 3), ("b".to_string(), 1)]);
}

fn one_path(host: &str, load: LoadSpec) -> RunConfig {
    config(
        "[[users]]\nwait = { constant = \"20ms\" }\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n",
        Path::new("."),
        host,
        load,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_holds_traffic_until_its_instant() {
    let (host, log) = logging_server().await;
    let load = LoadSpec {
        users: Some(2),
        spawn_rate: Some(100.0),
        run_time: Some(Duration::from_millis(500)),
        ..LoadSpec::default()
    };
    let mut c = one_path(&host, load.clone());
    // A whole millisecond, as the report writes it.
    let at_ms = (SystemTime::now() + Duration::from_secs(1))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let start_at = SystemTime::UNIX_EPOCH + Duration::from_millis(at_ms);
    c.start_at = Some(start_at);
    let handle = Runner::start(c).await.unwrap();
    assert_eq!(handle.control().elapsed(), Duration::ZERO);
    let report = handle.wait().await.unwrap();
    let log = log.lock().unwrap().clone();
    assert!(!log.is_empty());
    let first = log.iter().map(|(_, t)| *t).min().unwrap();
    // The server's clock is the engine's: allow a little for the two clocks' reading.
    assert!(
        first + Duration::from_millis(50) >= start_at,
        "a request {:?} before start_at",
        start_at.duration_since(first).unwrap_or_default()
    );
    let expected: chrono::DateTime<chrono::Utc> = start_at.into();
    assert_eq!(
        report.run.started_at,
        expected.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert!(
        report
            .verdict
            .warnings
            .iter()
            .all(|w| !w.contains("start time"))
    );

    // An instant already past: at once, and the lateness is reported.
    let mut c = one_path(&host, load);
    c.start_at = Some(SystemTime::now() - Duration::from_secs(2));
    let before = SystemTime::now();
    let report = run(c).await;
    let started: chrono::DateTime<chrono::Utc> = report.run.started_at.parse().unwrap();
    let before: chrono::DateTime<chrono::Utc> = before.into();
    assert!(started >= before - chrono::Duration::milliseconds(1));
    assert!(
        report
            .verdict
            .warnings
            .iter()
            .any(|w| w.contains("after the requested start time")),
        "{:?}",
        report.verdict.warnings
    );
}

#[test]
fn bad_segment_flags_are_refused_naming_the_flag_and_the_form() {
    let scenario = parse_scenario(
        "[[users]]\n[[users.tasks]]\nmethod = \"GET\"\npath = \"/x\"\n",
        Path::new("s.toml"),
    )
    .unwrap();
    let with = |segment: Option<&str>, sequence: Option<&str>| LaunchOptions {
        scenario: Some(scenario.clone()),
        segment: SegmentFlags {
            segment: segment.map(str::to_owned),
            sequence: sequence.map(str::to_owned),
        },
        ..LaunchOptions::default()
    };
    for (segment, sequence, says) in [
        (Some("1/3"), None, "--execution-segment: "),
        (Some("2/3:1/3"), None, "FROM must be below TO"),
        (Some("0:3/2"), None, "expected FROM:TO"),
        (Some("a:b"), None, "expected FROM:TO"),
        (Some("0:1/3"), Some("0,1/2,1"), "not one of the segments"),
        (
            Some("0:1/3"),
            Some("0,2/3,1/3,1"),
            "--execution-segment-sequence: ",
        ),
        (
            Some("0:1/3"),
            Some("0,1/3"),
            "expected increasing fractions",
        ),
        (None, Some("0,1/2,1"), "needs --execution-segment"),
    ] {
        let e = check(&with(segment, sequence)).unwrap_err().to_string();
        assert!(e.contains(says), "{segment:?} {sequence:?}: {e}");
        assert!(e.contains("--execution-segment"), "{e}");
    }
    let ok = check(&with(Some("1/3:2/3"), Some("0,1/3,2/3,1"))).unwrap();
    assert_eq!(ok.segment, Stripe::nth(1, 3).unwrap());
    let alone = check(&with(Some("1/2:1"), None)).unwrap();
    assert_eq!(alone.segment.to_string(), "1/2:1");
}
