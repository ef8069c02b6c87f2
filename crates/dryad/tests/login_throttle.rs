//! Login throttling against the real `dryad serve`: failed attempts per username and per client
//! address (429 with Retry-After, then recovery), the bounded hashing queue (503 with
//! Retry-After), and a real user's login during someone else's guessing burst.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::TestApp;
use common::server::{self, LOCAL, RawReply, request_from, sample};
use dryad::auth::{HashParams, PasswordHasher};
use dryad::db::users;
use dryad::model::now_millis;
use serde_json::json;

/// Another client on the loopback network (Linux routes all of 127/8 to `lo`).
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

async fn login(source: IpAddr, addr: &str, username: &str, password: &str) -> RawReply {
    let body = json!({"username": username, "password": password});
    request_from(source, addr, "POST", "/api/v1/auth/login", &[], Some(&body)).await
}

fn retry_after(r: &RawReply) -> u64 {
    r.header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After in {}", r.head))
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After is not whole seconds ({e}): {}", r.head))
}

fn assert_error(r: &RawReply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}\n{}", r.head, r.body);
    assert_eq!(r.json()["error"], code, "{}", r.body);
    assert!(r.json()["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_is_429_with_retry_after_and_recovers() {
    let app = TestApp::new().await;
    // 3 failures per 12 s: one more attempt every 4 s once they are spent.
    let srv = server::start(
        &app.db.url,
        &[
            "--login-failures-per-username",
            "3",
            "--login-failure-window-secs",
            "12",
        ],
    )
    .await;
    for _ in 0..3 {
        let r = login(LOCAL, &srv.addr, "loadtest", "wrong").await;
        assert_error(&r, 401, "invalid_credentials");
    }
    let refused = login(LOCAL, &srv.addr, "loadtest", "wrong").await;
    assert_error(&refused, 429, "too_many_failed_logins");
    let wait = retry_after(&refused);
    assert!((1..=4).contains(&wait), "Retry-After {wait}");
    // The limit is the username's: the right password is refused too, from any address...
    let r = login(OTHER, &srv.addr, "loadtest", "test123").await;
    assert_error(&r, 429, "too_many_failed_logins");
    // ...while another username from the same address is checked as usual.
    let r = login(LOCAL, &srv.addr, "nobody", "wrong").await;
    assert_error(&r, 401, "invalid_credentials");

    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = login(LOCAL, &srv.addr, "loadtest", "test123").await;
    assert_eq!(
        r.status, 200,
        "after Retry-After the login passes: {}",
        r.body
    );

    let m = server::metrics(&srv.addr).await;
    assert_eq!(
        sample(&m, "dryad_login_throttled_total{reason=\"username\"}"),
        2.0
    );
    assert_eq!(
        sample(&m, "dryad_login_throttled_total{reason=\"address\"}"),
        0.0
    );
    assert_eq!(sample(&m, "dryad_logins_total{outcome=\"failure\"}"), 4.0);
}

#[tokio::test]
async fn a_real_users_login_succeeds_during_a_guessing_burst_from_another_address() {
    let app = TestApp::new().await;
    let srv = server::start(
        &app.db.url,
        &[
            "--login-failures-per-address",
            "5",
            "--login-failures-per-username",
            "1000",
            "--login-failure-window-secs",
            "600",
        ],
    )
    .await;
    // 40 guesses from 127.0.0.2, on the real user's name and on others, 8 at a time.
    let guesses = {
        let addr = srv.addr.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for round in 0..5 {
                let batch: Vec<_> = (0..8)
                    .map(|i| {
                        let addr = addr.clone();
                        let name = if i % 2 == 0 {
                            "loadtest".to_owned()
                        } else {
                            format!("admin{round}{i}")
                        };
                        tokio::spawn(async move {
                            let r = login(OTHER, &addr, &name, "guess").await;
                            if r.status == 429 {
                                assert_eq!(
                                    r.json()["error"],
                                    "too_many_failed_logins_from_address"
                                );
                                assert!(retry_after(&r) >= 1);
                            }
                            r.status
                        })
                    })
                    .collect();
                for t in batch {
                    statuses.push(t.await.unwrap());
                }
            }
            statuses
        })
    };
    // The real user, from their own address, while the burst runs.
    for _ in 0..3 {
        let r = login(LOCAL, &srv.addr, "loadtest", "test123").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let statuses = guesses.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|s| **s == 429).count();
    // 5 failures are allowed (plus those in flight when the budget ran out, at most a batch).
    assert!(refused >= 40 - 5 - 8, "{statuses:?}");
    // And after the burst the real user still logs in.
    let r = login(LOCAL, &srv.addr, "loadtest", "test123").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = server::metrics(&srv.addr).await;
    assert_eq!(
        sample(&m, "dryad_login_throttled_total{reason=\"address\"}"),
        refused as f64
    );
}

#[tokio::test]
async fn a_full_hashing_queue_is_503_with_retry_after() {
    let app = TestApp::new().await;
    // A costly hash (64 MiB, 4 passes: a good fraction of a second) so that the logins below
    // overlap whatever the machine's speed.
    let costly = PasswordHasher::new(
        HashParams {
            m_cost_kib: 64 * 1024,
            t_cost: 4,
            p_cost: 1,
        },
        1,
    )
    .unwrap();
    let phc = costly.hash("slow-pw".to_owned()).await.unwrap();
    {
        let mut conn = app.state.db.pool().acquire().await.unwrap();
        users::upsert(
            &mut conn,
            &uuid::Uuid::new_v4().to_string(),
            "slow",
            &phc,
            now_millis(),
        )
        .await
        .unwrap();
    }
    let srv = server::start(
        &app.db.url,
        &["--hash-concurrency", "1", "--login-queue-max", "1"],
    )
    .await;
    let m = server::metrics(&srv.addr).await;
    assert_eq!(sample(&m, "dryad_password_hash_permits_max"), 1.0);
    assert_eq!(sample(&m, "dryad_password_hash_queue_limit"), 1.0);
    assert_eq!(sample(&m, "dryad_password_hash_waiting"), 0.0);

    let logins: Vec<_> = (0..16)
        .map(|_| {
            let addr = srv.addr.clone();
            tokio::spawn(async move { login(LOCAL, &addr, "slow", "slow-pw").await })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for t in logins {
        let r = t.await.unwrap();
        match r.status {
            200 => ok += 1,
            503 => {
                assert_error(&r, 503, "login_queue_full");
                assert!(retry_after(&r) >= 1);
                busy += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    // One hashing and one waiting at most at any time: most of 16 simultaneous logins are
    // refused at once, and the ones admitted succeed.
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
    let m = server::metrics(&srv.addr).await;
    assert_eq!(
        sample(&m, "dryad_login_throttled_total{reason=\"queue_full\"}"),
        f64::from(busy)
    );
    assert_eq!(sample(&m, "dryad_password_hash_waiting"), 0.0);
    assert_eq!(sample(&m, "dryad_password_hash_permits_in_use"), 0.0);
    // The queue drains: a login afterwards passes.
    let r = login(LOCAL, &srv.addr, "slow", "slow-pw").await;
    assert_eq!(r.status, 200, "{}", r.body);
}
