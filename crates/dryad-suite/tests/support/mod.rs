//! What the dryad-suite tests share: the built binaries, a scratch directory with a
//! seeded SQLite database and a scenario, a dryad process that is stopped when dropped, and
//! small HTTP helpers.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod api;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cicada_analysis::http_get::{HttpUrl, get_text};
use cicada_report::RunReport;

/// The two binaries, from the target directory this test was built into.
pub struct Bins {
    pub cicada: PathBuf,
    pub dryad: PathBuf,
}

pub fn bins() -> Bins {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bins = Bins {
        cicada: dir.join("cicada"),
        dryad: dir.join("dryad"),
    };
    for bin in [&bins.cicada, &bins.dryad] {
        assert!(
            bin.exists(),
            "{} is missing: build the binaries first (`cargo build -p dryad -p cicada-cli`; \
             `cargo test --workspace` does)",
            bin.display()
        );
    }
    bins
}

/// A scratch directory holding one test's database, scenario, data and report.
pub struct Scratch(PathBuf);

impl Scratch {
    /// An empty directory with a `data/` folder, `scenario` written as `scenario.toml`.
    pub fn new(name: &str, scenario: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dryad-suite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("scenario.toml"), scenario).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.path("dryad.db").display())
    }

    /// Seed a small history (20 agents × 5 executions) and export its agent ids to
    /// `data/agents.csv`.
    pub fn seed(&self, bins: &Bins) {
        self.seed_with(bins, 20, 5);
    }

    /// Seed `agents` × `executions` and export the agent ids to `data/agents.csv`.
    pub fn seed_with(&self, bins: &Bins, agents: u32, executions: u32) {
        let out = Command::new(&bins.dryad)
            .args(["seed", "--database-url", &self.database_url()])
            .args(["--agents", &agents.to_string()])
            .args(["--executions-per-agent", &executions.to_string()])
            .arg("--export-agents")
            .arg(self.path("data/agents.csv"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "seed failed: {}", text(&out.stderr));
    }

    /// PIDs of live processes whose command line mentions this scratch directory.
    pub fn processes(&self) -> Vec<u32> {
        let marker = self.0.to_string_lossy().into_owned();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&marker) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Processes a test started are gone shortly after cicada exits; give them a moment.
    pub fn assert_nothing_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.processes();
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "processes left behind: {left:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON report cicada wrote to `report.json`.
    pub fn report(&self) -> RunReport {
        let json = std::fs::read_to_string(self.path("report.json")).expect("report.json written");
        RunReport::from_json(&json).expect("a valid report")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `dryad serve` over the scratch database on a free port; killed when dropped.
pub struct Dryad {
    child: Child,
    pub base: String,
}

impl Dryad {
    /// Start dryad with `extra` flags (after `--database-url` and `--bind`) and wait until it
    /// answers `/ready`. `prefix` runs before it (e.g. `taskset -c 1`), or nothing.
    pub fn start(bins: &Bins, scratch: &Scratch, prefix: &[&str], extra: &[&str]) -> Self {
        let port = free_port();
        let mut cmd = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&bins.dryad);
                c
            }
            None => Command::new(&bins.dryad),
        };
        let child = cmd
            .args(["serve", "--database-url", &scratch.database_url()])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dryad = Dryad {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_ready(&dryad.base);
        dryad
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Dryad {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn get(url: &str) -> Option<String> {
    let url = HttpUrl::parse(url).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(get_text(&url, Duration::from_secs(2)))
        .ok()
}

pub fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if get(&format!("{base}/ready")).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("dryad at {base} never became ready");
}

/// `cicada run scenario.toml ARGS --json report.json` in the scratch directory.
pub fn cicada_run(bins: &Bins, scratch: &Scratch, args: &[&str]) -> Command {
    let mut cmd = Command::new(&bins.cicada);
    cmd.arg("run")
        .arg(scratch.path("scenario.toml"))
        .args(args)
        .arg("--json")
        .arg(scratch.path("report.json"))
        .stdin(Stdio::null());
    cmd
}
