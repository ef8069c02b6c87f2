//! `cicada check`: validate a scenario and print what a run would do. Sends nothing.

use std::fmt::Write as _;

use cicada::launch::{CheckedScenario, check as validate};
use cicada::scenario::model::{FeederMode, Wait};

use crate::cli::CheckArgs;
use crate::exit;

pub fn check(args: CheckArgs) -> i32 {
    let options = super::launch_options(&args.scenario, &args.load);
    match validate(&options) {
        Ok(checked) => {
            print!("{}", describe(&checked));
            exit::PASS
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

fn wait_text(w: &Wait) -> String {
    use cicada::duration::format_duration as f;
    match w {
        Wait::None => "none".to_string(),
        Wait::Constant(d) => format!("constant {}", f(*d)),
        Wait::Between(a, b) => format!("between {} and {}", f(*a), f(*b)),
        Wait::ConstantPacing(d) => format!("pacing {}", f(*d)),
        Wait::ConstantThroughput(t) => format!("throughput {t}/s"),
    }
}

/// The plan in words.
pub fn describe(checked: &CheckedScenario) -> String {
    let p = &checked.program;
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {} — valid", p.name);
    let target = checked.target.as_ref().map_or_else(
        || "none given (pass -H/--host or set host under [defaults])".to_string(),
        |t| t.url.clone(),
    );
    let _ = writeln!(out, "target:   {target}");
    let plan = checked.plan.as_ref().map_or_else(
        || "none given (pass -u/--users, --rate or stages)".to_string(),
        |p| p.describe(),
    );
    let _ = writeln!(out, "plan:     {plan}");
    if !checked.segment.is_full() {
        let _ = writeln!(
            out,
            "segment:  {} of {} (this generator runs that part of the plan's users, arrivals, \
             iterations and shared feeder rows)",
            checked.segment,
            checked.segment.sequence()
        );
    }
    let total: u32 = p.user_types.iter().map(|u| u.weight).sum();
    for u in &p.user_types {
        let _ = writeln!(
            out,
            "user type {} (weight {}/{total}, wait {}): {} on_start, {} on_stop step(s)",
            u.name,
            u.weight,
            wait_text(&u.wait),
            u.on_start.len(),
            u.on_stop.len()
        );
        let task_total: u32 = u.tasks.iter().map(|t| t.weight).sum();
        for t in &u.tasks {
            let rows: Vec<String> = t.steps.iter().map(|s| s.describe(&p.rows)).collect();
            let _ = writeln!(
                out,
                "  task {:?} weight {}/{task_total} ({:.1}%): {}",
                t.name,
                t.weight,
                100.0 * f64::from(t.weight) / f64::from(task_total.max(1)),
                rows.join(" → ")
            );
        }
    }
    for f in &p.feeders {
        let mode = match f.mode {
            FeederMode::PerUser => "per user",
            FeederMode::Shared => "shared round-robin",
            FeederMode::Random => "random",
        };
        let columns: Vec<&str> = f.columns.iter().map(|c| p.vars.name(*c)).collect();
        let _ = writeln!(
            out,
            "feeder {}: {} rows, columns {}, {mode}",
            f.name,
            f.rows.len(),
            columns.join(", ")
        );
    }
    if !p.thresholds.is_empty() {
        let t: Vec<&str> = p.thresholds.iter().map(|t| t.expression.as_str()).collect();
        let _ = writeln!(out, "thresholds: {}", t.join(", "));
    }
    let _ = writeln!(out, "request rows: {}", p.rows.len());
    out
}
