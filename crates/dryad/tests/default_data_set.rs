//! The committed data set `tests/load/data/agents.csv` (what `cicada check
//! tests/load/dryad.toml` needs on a fresh checkout) is exactly what `scripts/run_load_test.sh`
//! writes with its defaults: the real `dryad seed`, with the script's agent count and the
//! default seed, exports the same bytes. Agent ids depend on the seed and the agent's index
//! only, so one execution per agent is enough to produce them.

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The script's default for `var` (`var=${VAR:-default}`).
fn script_default(script: &str, var: &str) -> String {
    let prefix = format!("{var}=${{");
    let line = script
        .lines()
        .find(|l| l.trim_start().starts_with(&prefix))
        .unwrap_or_else(|| panic!("run_load_test.sh sets no {var}"));
    let (_, default) = line.split_once(":-").expect("a default");
    default.trim_end_matches('}').to_owned()
}

#[test]
fn the_committed_agents_csv_is_what_the_run_script_seeds_by_default() {
    let script = std::fs::read_to_string(repo().join("scripts/run_load_test.sh")).unwrap();
    let agents = script_default(&script, "agents");
    assert_eq!(agents, "1000");
    // The script leaves the seed to dryad's default (42), and so must this test.
    let seed_line = script
        .lines()
        .find(|l| l.contains("\"$dryad\" seed"))
        .expect("the script seeds");
    assert!(!seed_line.contains("--seed"), "{seed_line}");

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("agents.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_dryad"))
        .arg("seed")
        .arg("--database-url")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("dryad.db").display()
        ))
        .args(["--agents", &agents, "--executions-per-agent", "1"])
        .arg("--export-agents")
        .arg(&csv)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&csv).unwrap();
    let committed = std::fs::read_to_string(repo().join("tests/load/data/agents.csv"))
        .expect("tests/load/data/agents.csv is committed");
    assert_eq!(written.lines().next(), Some("agent_id"));
    assert_eq!(written.lines().count(), 1001);
    assert!(
        written == committed,
        "tests/load/data/agents.csv differs from what `dryad seed --agents {agents} \
         --export-agents tests/load/data/agents.csv` writes: regenerate it with that command"
    );
}
