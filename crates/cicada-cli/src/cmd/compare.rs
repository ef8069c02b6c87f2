//! `cicada compare BASE.json NEW.json [--fail-on GATE]...`: per-request deltas between two
//! saved runs and a regression gate for CI. Gate syntax: `[SCOPE:]METRIC OP CHANGE`, e.g.
//! `p95>+10%`, `error_rate>+0.5pp`, `rps<-5%`, `each:p99>+50ms` (see docs/report.md).

use std::io::IsTerminal;
use std::path::PathBuf;

use cicada_render::compare::{Gate, compare as compare_reports};

use super::report::read_report;
use crate::exit;

/// `cicada compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline JSON report.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The JSON report to check against the baseline.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Fail (exit 1) when a change breaks this gate (repeatable): 'p95>+10%',
    /// 'error_rate>+0.5pp', 'rps<-5%', 'each:p99>+50ms', 'GET /agents:p95>+20%'.
    #[arg(long = "fail-on", value_name = "GATE", value_parser = parse_gate)]
    pub fail_on: Vec<Gate>,
    /// Also write the comparison as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No colours, even on a terminal (NO_COLOR is honoured too).
    #[arg(long)]
    pub no_color: bool,
}

fn parse_gate(s: &str) -> Result<Gate, String> {
    Gate::parse(s).map_err(|e| e.to_string())
}

/// Run `cicada compare`; returns 0 when every gate passed, 1 when one failed, 2 on bad input,
/// 4 when `--json` could not be written.
pub fn compare(args: CompareArgs) -> i32 {
    let (base, new) = match (read_report(&args.base), read_report(&args.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let comparison = compare_reports(&base, &new, &args.fail_on);
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    print!("{}", comparison.render_table(color));
    if let Some(path) = &args.json
        && let Err(e) = std::fs::write(path, comparison.to_json_pretty())
    {
        eprintln!(
            "error: cannot write comparison JSON to {}: {e}",
            path.display()
        );
        return exit::INTERNAL;
    }
    if comparison.passed() {
        exit::PASS
    } else {
        exit::THRESHOLDS_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, r: &cicada_report::RunReport) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, r.to_json_pretty()).unwrap();
        p
    }

    fn args(base: PathBuf, new: PathBuf, gates: &[&str]) -> CompareArgs {
        CompareArgs {
            base,
            new,
            fail_on: gates.iter().map(|g| parse_gate(g).unwrap()).collect(),
            json: None,
            no_color: true,
        }
    }

    #[test]
    fn exit_codes_follow_the_gates() {
        let dir = tempfile::tempdir().unwrap();
        let base = cicada_report::sample::sample_report();
        let mut slower = base.clone();
        slower.aggregated.percentiles.p95 *= 1.25;
        let b = write(dir.path(), "base.json", &base);
        let same = write(dir.path(), "same.json", &base);
        let worse = write(dir.path(), "new.json", &slower);
        let gates = ["p95>+10%", "error_rate>+0.5pp"];
        assert_eq!(compare(args(b.clone(), same, &gates)), exit::PASS);
        let mut a = args(b.clone(), worse, &gates);
        a.json = Some(dir.path().join("cmp.json"));
        assert_eq!(compare(a), exit::THRESHOLDS_FAILED);
        let json = std::fs::read_to_string(dir.path().join("cmp.json")).unwrap();
        assert!(json.contains("\"failed\": true"));
        assert_eq!(
            compare(args(b, dir.path().join("nope.json"), &gates)),
            exit::BAD_INPUT
        );
    }

    #[test]
    fn bad_gates_are_rejected_by_the_parser() {
        assert!(parse_gate("p95>10").unwrap_err().contains("needs a unit"));
    }
}
