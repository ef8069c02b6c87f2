//! Retakes the README's screenshot of the live page (`docs/web-live.png`) from a real run:
//! dryad, seeded in a temp dir, as the managed target of `cicada run tests/load/dryad.toml --web
//! --autostart` (so the generator's and the target's CPU are separate series), its `/metrics`
//! scraped, 50 users; headless Chromium over DevTools at 1400×900 waits until the charts,
//! the resources so far and the status codes are drawn, scrolls to the charts over time (under
//! the sticky bar and headline) and captures the viewport.
//!
//! Ignored by default (it needs the debug binaries and takes about a minute):
//!
//! ```sh
//! cargo build -p cicada-cli -p dryad
//! cargo test -p cicada-web --test screenshot -- --ignored --nocapture
//! ```
//!
//! `CICADA_WEB_SCREENSHOT=PATH` writes elsewhere; `CICADA_BIN` / `DRYAD_BIN` pick other binaries.
//! dryad listens on 127.0.0.1:24080 (this test's fixed port).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cicada_testkit::chromium::{Page, find_chromium};

const DRYAD_PORT: u16 = 24080;
const WAIT: Duration = Duration::from_secs(90);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn binary(env: &str, name: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("debug").join(name)
    })
}

#[test]
#[ignore = "retakes docs/web-live.png from a real dryad run (about a minute)"]
fn live_page_screenshot_from_a_real_dryad_run() {
    let chromium = find_chromium().expect("Chromium (set CHROMIUM=/path/to/chromium)");
    let cicada = binary("CICADA_BIN", "cicada");
    let dryad = binary("DRYAD_BIN", "dryad");
    for b in [&cicada, &dryad] {
        assert!(
            b.exists(),
            "{} missing: cargo build -p cicada-cli -p dryad",
            b.display()
        );
    }
    let out = std::env::var_os("CICADA_WEB_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("docs/web-live.png"));

    // The scenario beside its own agent ids, from a freshly seeded database.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let scenario = dir.path().join("dryad.toml");
    std::fs::copy(root().join("tests/load/dryad.toml"), &scenario).unwrap();
    let db = format!("sqlite://{}", dir.path().join("dryad.db").display());
    let seeded = Command::new(&dryad)
        .args(["seed", "--database-url", &db, "--agents", "200"])
        .args(["--executions-per-agent", "200", "--export-agents"])
        .arg(dir.path().join("data/agents.csv"))
        .status()
        .unwrap();
    assert!(seeded.success(), "dryad seed");

    let host = format!("http://127.0.0.1:{DRYAD_PORT}");
    let target_cmd = format!(
        "exec '{}' serve --database-url '{db}' --bind 127.0.0.1:{DRYAD_PORT}",
        dryad.display()
    );
    let mut child = Command::new(&cicada)
        .arg("run")
        .arg(&scenario)
        .args(["-H", &host, "-u", "50", "-r", "5", "-t", "90s"])
        .args(["--target-cmd", &target_cmd])
        .args(["--target-ready", &format!("{host}/ready")])
        .args(["--scrape", &format!("{host}/metrics")])
        .args(["--web", "--web-port", "0", "--autostart", "--autoquit", "1"])
        .env_remove("CICADA_WEB_AUTH_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        eprint!("{line}");
        addr = line
            .split("web UI on http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned);
        line.clear();
    }
    let addr = addr.expect("the web UI's address");
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            eprintln!("{line}");
        }
    });

    let mut page = Page::open(&chromium, &format!("http://{addr}/"), 1400, 900);
    page.wait_until(
        "document.getElementById('state').textContent === 'running'",
        WAIT,
        "the run",
    );
    // Half a minute in: the users have ramped up (5/s), the charts have moved, the monitor's
    // series and the findings so far are drawn, the status codes counted.
    let started = Instant::now();
    page.wait_until(
        "(() => { const s = document.querySelector('#report section#resources svg.chart'); \
           const t = document.querySelector('#report section#timeline svg.chart'); \
           return s && t && t.querySelectorAll('rect[data-v]').length >= 35 \
             && s.querySelectorAll('rect[data-v]').length >= 30 \
             && document.querySelector('#report table.status-codes') \
             && document.querySelector('[data-key=users] .value').textContent === '50'; })()",
        WAIT,
        "50 users, resources so far and status codes",
    );
    eprintln!("drawn after {:?}", started.elapsed());
    // The charts over time under the sticky bar (state, run time, the users controls) and
    // the sticky headline (users, RPS, failures, percentiles, the generator's and target's CPU).
    std::thread::sleep(Duration::from_millis(1500));
    page.eval(
        "(() => { const s = document.querySelector('#report section#timeline'); \
           window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY \
             - document.querySelector('.bar').offsetHeight \
             - document.getElementById('headline').offsetHeight - 8); return true; })()",
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&out, page.screenshot()).unwrap();
    eprintln!("wrote {}", out.display());
    // The request table and the status codes, for a person to look at (not in the README).
    page.eval(
        "(() => { const s = document.querySelector('#report section#requests'); \
           window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY \
             - document.querySelector('.bar').offsetHeight \
             - document.getElementById('headline').offsetHeight - 8); return true; })()",
    );
    std::thread::sleep(Duration::from_millis(300));
    let tables = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-live-tables.png");
    std::fs::write(&tables, page.screenshot()).unwrap();
    eprintln!("wrote {}", tables.display());
    // With dryad's Server-Timing columns and the checks column too, the table still fits.
    assert!(
        page.eval("(w => w.scrollWidth <= w.clientWidth)(document.querySelector('#report table.requests').parentElement)")
            .as_bool()
            .unwrap(),
        "the request table fits 1400 px: {}",
        page.eval("(w => [w.scrollWidth, w.clientWidth])(document.querySelector('#report table.requests').parentElement)")
    );
    page.eval("fetch('/api/stop', {method: 'POST'}).then(r => r.status)");
    drop(page);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            eprintln!("cicada exited: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cicada did not quit");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
