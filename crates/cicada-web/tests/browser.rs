//! The live page in real headless Chromium over the DevTools protocol: open it, start a run
//! from the form against a real local server, see the numbers change, raise the users and see
//! the server's connections rise, sort the table, stop, download the JSON report and validate
//! it against the schema. Fails (does not skip) without Chromium when `CI` is set.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use cicada_testkit::chromium::{Page, find_chromium};
use cicada_web::WebOptions;
use support::{counting_server, scenario, start_web};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_watch_steer_stop_and_download_in_a_browser() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no Chromium was found (install chromium or set CHROMIUM)"
        );
        eprintln!("skipped: no Chromium found (set CHROMIUM=/path/to/chromium)");
        return;
    };
    let target = counting_server(Duration::from_millis(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let options = WebOptions {
        port: 0,
        ..WebOptions::default()
    };
    let web = start_web(&scenario(dir.path(), &target.url), options).await;
    let url = web.url();
    let open = target.open.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut page = Page::open(&chromium, &format!("{url}/"), 1400, 900);
        page.wait_until(
            "document.querySelector('input[name=users]').value === '2' && document.getElementById('scenario').textContent",
            WAIT,
            "the form pre-filled from the scenario",
        );
        page.type_into("input[name=users]", "2");
        page.type_into("input[name=run_time]", "60s");
        page.click("#start");
        page.wait_until(
            "document.getElementById('state').textContent === 'running'",
            WAIT,
            "the state to be running",
        );
        let total = "Number((document.querySelector('[data-key=rps] .extra') || {textContent: ''}).textContent.replace(/[^0-9]/g, ''))";
        let first = page
            .wait_until(total, WAIT, "requests in the headline")
            .as_f64()
            .unwrap();
        page.wait_until(&format!("{total} > {first}"), WAIT, "the numbers to change");
        page.wait_until(
            "document.querySelector('[data-key=rps] .value').textContent !== '0.00'",
            WAIT,
            "a requests-per-second figure",
        );
        // Raise the users from the controls: the server sees the connections rise.
        let before = open.load(Ordering::SeqCst);
        assert!(before <= 2, "{before} connections before");
        page.type_into("#ctl-users", "6");
        page.type_into("#ctl-spawn", "50");
        page.click("#apply-users");
        let deadline = std::time::Instant::now() + WAIT;
        while open.load(Ordering::SeqCst) < 6 {
            assert!(
                std::time::Instant::now() < deadline,
                "connections did not rise: {}",
                open.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        page.wait_until(
            "document.querySelector('[data-key=users] .value').textContent === '6'",
            WAIT,
            "six users in the headline",
        );
        page.wait_until(
            "/ %$/.test(document.querySelector('[data-key=generator] .value').textContent) && /RSS/.test(document.querySelector('[data-key=target] .extra').textContent)",
            WAIT,
            "the generator's and the target's CPU and RSS",
        );
        // The request table, the charts, and sorting by a column.
        page.wait_until(
            "document.querySelector('#report table.requests tbody tr') && document.querySelectorAll('#report svg.chart').length",
            WAIT,
            "the request table and charts",
        );
        assert!(
            page.eval("document.querySelectorAll('#report svg.chart rect[data-v] title').length > 0")
                .as_bool()
                .unwrap(),
            "charts carry their values on hover"
        );
        // The resources so far, growing: the monitor's series drawn while the run goes on.
        let columns = "(() => { const s = document.querySelector('#report section#resources'); \
             return s && /so far/.test(s.querySelector('h2').textContent) \
             ? s.querySelectorAll('svg.chart rect[data-v]').length : 0; })()";
        let first = page
            .wait_until(&format!("{columns} > 0 && {columns}"), WAIT, "the resources so far")
            .as_f64()
            .unwrap();
        page.wait_until(
            &format!("{columns} > {first}"),
            WAIT,
            "the resource charts to grow",
        );
        page.wait_until(
            "/so far/.test((document.querySelector('#report section#findings h2') || {textContent: ''}).textContent)",
            WAIT,
            "the findings so far",
        );
        // The status-code breakdown: every response of this target was a 200.
        page.wait_until(
            "[...document.querySelectorAll('#report table.status-codes thead th')].some(th => th.textContent === '200') \
             && /^[0-9,]+$/.test(document.querySelector('#report table.status-codes tfoot td:nth-child(3)').textContent)",
            WAIT,
            "the status-code breakdown",
        );
        assert!(
            page.eval("[...document.querySelectorAll('#report table.requests thead th')].some(th => th.textContent === 'TTFB (ms)')")
                .as_bool()
                .unwrap(),
            "the TTFB column"
        );
        assert!(
            page.eval("(w => w.scrollWidth <= w.clientWidth)(document.querySelector('#report table.requests').parentElement)")
                .as_bool()
                .unwrap(),
            "the request table fits a 1400 px window without scrolling"
        );
        page.click("#report table.requests thead th:nth-child(3)");
        assert_eq!(
            page.eval("document.querySelector('#report table.requests thead th:nth-child(3)').dataset.sort"),
            "desc"
        );
        assert!(
            page.eval("document.documentElement.scrollWidth <= 1400").as_bool().unwrap(),
            "the page fits 1400 px"
        );
        assert_eq!(
            page.eval("getComputedStyle(document.getElementById('steer-rate')).display"),
            "none",
            "a closed-model run shows no rate control"
        );
        if let Some(path) = std::env::var_os("CICADA_WEB_SCREENSHOT") {
            page.eval("window.scrollTo(0, 0)");
            std::thread::sleep(Duration::from_millis(1500));
            std::fs::write(path, page.screenshot()).unwrap();
        }
        page.click("#stop");
        page.wait_until(
            "document.getElementById('state').textContent === 'stopped'",
            WAIT,
            "the run to stop",
        );
        assert_eq!(
            page.eval("getComputedStyle(document.getElementById('new-test')).display !== 'none'"),
            true,
            "a new test can start"
        );
        let json = page.eval(
            "fetch(document.getElementById('dl-json').href).then(r => r.text())",
        );
        let foreign = page.foreign_requests(&url);
        assert!(foreign.is_empty(), "the page fetched elsewhere: {foreign:?}");
        json
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(report.as_str().unwrap()).unwrap();
    let validator = cicada_testkit::schema_validator();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(report["aggregated"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(report["run"]["user_types"][0]["peak_users"], 6);
    web.quit().await;
}
