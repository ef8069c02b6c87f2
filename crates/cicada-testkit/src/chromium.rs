//! Driving headless Chromium over the DevTools protocol (a websocket on loopback) to check a
//! report page the way a reader's browser sees it: console errors, network requests, what the
//! charts drew, and a screenshot.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The Chromium binary, if installed (`CHROMIUM` overrides the search).
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// What loading a page produced.
#[derive(Debug)]
pub struct PageCheck {
    pub console_errors: Vec<String>,
    /// Requests other than the page's own file.
    pub network_requests: Vec<String>,
    /// The value of the evaluated probe expression.
    pub probe: Value,
    pub screenshot_png: Vec<u8>,
    pub pdf: Vec<u8>,
}

struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Helper processes may still write to the profile for a moment after the main one exits.
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

struct Cdp {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
    events: Vec<Value>,
}

impl Cdp {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            let v = self.read();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method} failed: {}", v["error"]);
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read from DevTools") {
                Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("DevTools JSON");
                }
                Message::Close(_) => panic!("DevTools closed the connection"),
                _ => continue,
            }
        }
    }

    fn wait_event(&mut self, method: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        while Instant::now() < deadline {
            let v = self.read();
            let done = v["method"] == method;
            self.events.push(v);
            if done {
                return;
            }
        }
        panic!("no {method} within {timeout:?}");
    }
}

fn launch(chromium: &Path) -> (Browser, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let profile = std::env::temp_dir().join(format!(
        "cicada-chromium-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&profile).unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("ws://") {
                let _ = tx.send(line[at..].trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("chromium printed its DevTools URL");
    (Browser { child, profile }, url)
}

/// Load `page` at `width`×`height` CSS pixels, evaluate `probe` (a JS expression returning a
/// JSON string), take a full-page screenshot and print the page to PDF.
pub fn check_page(chromium: &Path, page: &Path, width: u32, height: u32, probe: &str) -> PageCheck {
    let (_browser, ws_url) = launch(chromium);
    let (ws, _) = tungstenite::connect(ws_url.as_str()).expect("connect to DevTools");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    let mut cdp = Cdp {
        ws,
        next_id: 0,
        session: None,
        events: Vec::new(),
    };
    let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
    let attached = cdp.call(
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
    for domain in ["Page", "Runtime", "Log", "Network"] {
        cdp.call(&format!("{domain}.enable"), json!({}));
    }
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    );
    cdp.events.clear();
    let page_url = format!("file://{}", page.canonicalize().unwrap().display());
    cdp.call("Page.navigate", json!({"url": page_url}));
    cdp.wait_event("Page.loadEventFired", Duration::from_secs(60));
    let probe = cdp.call(
        "Runtime.evaluate",
        json!({"expression": probe, "returnByValue": true}),
    );
    let probe: Value = serde_json::from_str(
        probe["result"]["value"]
            .as_str()
            .expect("probe returns a string"),
    )
    .unwrap();
    let metrics = cdp.call("Page.getLayoutMetrics", json!({}));
    let full_height = metrics["cssContentSize"]["height"].as_f64().unwrap().ceil();
    let shot = cdp.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true,
               "clip": {"x": 0, "y": 0, "width": width, "height": full_height, "scale": 1}}),
    );
    let pdf = cdp.call(
        "Page.printToPDF",
        json!({"printBackground": true, "preferCSSPageSize": true}),
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let screenshot_png = b64.decode(shot["data"].as_str().unwrap()).unwrap();
    let pdf = b64.decode(pdf["data"].as_str().unwrap()).unwrap();

    let mut console_errors = Vec::new();
    let mut network_requests = Vec::new();
    for e in &cdp.events {
        let p = &e["params"];
        match e["method"].as_str().unwrap_or("") {
            "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "warning" => {
                console_errors.push(p["args"].to_string())
            }
            "Runtime.exceptionThrown" => console_errors.push(p["exceptionDetails"].to_string()),
            "Log.entryAdded"
                if p["entry"]["level"] == "error" || p["entry"]["level"] == "warning" =>
            {
                console_errors.push(p["entry"]["text"].to_string())
            }
            "Network.requestWillBeSent" => {
                let url = p["request"]["url"].as_str().unwrap_or("").to_owned();
                if url != page_url {
                    network_requests.push(url);
                }
            }
            _ => {}
        }
    }
    PageCheck {
        console_errors,
        network_requests,
        probe,
        screenshot_png,
        pdf,
    }
}

/// The probe run in the report page: what every chart drew.
pub const CHART_PROBE: &str = r#"JSON.stringify({
  charts: [...document.querySelectorAll('svg.chart')].map(svg => ({
    title: svg.querySelector('title').textContent,
    paths: [...svg.querySelectorAll('path.series')].map(p => ({
      d: (p.getAttribute('d') || '').length,
      length: p.getTotalLength(),
      width: p.getBBox().width,
      height: p.getBBox().height,
    })),
    noData: svg.querySelectorAll('.no-data').length,
  })),
  scripts: document.scripts.length,
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  sections: [...document.querySelectorAll('main > section')].map(s => s.id),
})"#;

/// A live page in headless Chromium, driven over the DevTools protocol: navigate, evaluate
/// JavaScript, click and type as a user does (real input events), wait for a condition,
/// take a screenshot. The browser is stopped when the page is dropped.
pub struct Page {
    cdp: Cdp,
    _browser: Browser,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page").finish_non_exhaustive()
    }
}

impl Page {
    /// Start Chromium and open `url` in a `width`×`height` window; returns once it loaded.
    pub fn open(chromium: &Path, url: &str, width: u32, height: u32) -> Page {
        let (browser, ws_url) = launch(chromium);
        let (ws, _) = tungstenite::connect(ws_url.as_str()).expect("connect to DevTools");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        }
        let mut cdp = Cdp {
            ws,
            next_id: 0,
            session: None,
            events: Vec::new(),
        };
        let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = cdp.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        cdp.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        for domain in ["Page", "Runtime", "Network"] {
            cdp.call(&format!("{domain}.enable"), json!({}));
        }
        cdp.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        cdp.events.clear();
        cdp.call("Page.navigate", json!({"url": url}));
        cdp.wait_event("Page.loadEventFired", Duration::from_secs(60));
        Page {
            cdp,
            _browser: browser,
        }
    }

    /// Evaluate `expression` in the page (promises are awaited) and return its value.
    /// Panics on an exception, with its text.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.cdp.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Poll `expression` until it returns something truthy (not false, null, 0 or "");
    /// returns that value, or panics with `what` after `timeout`.
    pub fn wait_until(&mut self, expression: &str, timeout: Duration, what: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(expression);
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Click the centre of the element `selector` with real mouse events.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = match at.as_array() {
            Some(xy) => (xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap()),
            None => panic!("no element {selector} to click"),
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.cdp.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Replace the text of the input `selector` by typing `text` into it (focus, select all,
    /// insert text as a keyboard would).
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("document.querySelector({sel}).select()"));
        self.cdp.call("Input.insertText", json!({"text": text}));
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self
            .cdp
            .call("Page.captureScreenshot", json!({"format": "png"}));
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    /// Requests the page made to other origins than `origin` (a self-contained page makes none).
    pub fn foreign_requests(&self, origin: &str) -> Vec<String> {
        self.cdp
            .events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str())
            .filter(|u| !u.starts_with(origin))
            .map(str::to_owned)
            .collect()
    }
}
