//! Write the example report in every format, and time the renderers.
//!
//! ```sh
//! cargo run -p cicada-render --example render_sample -- /tmp/sample
//! # /tmp/sample/report.{json,html,xml}, /tmp/sample/report_{stats,stats_history,failures}.csv
//! ```
//!
//! With `--hours N` the example's one-minute timeline is stretched to N hours (one sample per
//! second), to see how the page and the renderers scale with long runs. With `--analysed` the
//! report carries the performance analysis too (findings, resources, target metrics, capacity,
//! auto-scaling: `sample::analysed_report`).

use std::path::PathBuf;
use std::time::Instant;

use cicada_render::{OutputOptions, html, write_outputs};
use cicada_report::sample;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("sample-report");
    let mut hours = 0u64;
    let mut analysed = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hours" => hours = args.next().ok_or("--hours needs a number")?.parse()?,
            "--analysed" => analysed = true,
            other => dir = PathBuf::from(other),
        }
    }
    let mut report = if analysed {
        sample::analysed_report()
    } else {
        sample::sample_report()
    };
    if hours > 0 {
        let minute = report.timeline.clone();
        report.timeline = (0..hours * 60)
            .flat_map(|m| {
                minute.iter().map(move |s| {
                    let mut s = s.clone();
                    s.elapsed_s += m * 60;
                    s.unix_time += m * 60;
                    s
                })
            })
            .collect();
    }
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let page = html::render_html(&report);
    let html_time = started.elapsed();
    let opts = OutputOptions {
        json: Some(dir.join("report.json")),
        html: Some(dir.join("report.html")),
        csv_prefix: Some(dir.join("report")),
        junit: Some(dir.join("report.xml")),
    };
    let started = Instant::now();
    let errors = write_outputs(&report, &opts);
    let all_time = started.elapsed();
    for e in &errors {
        eprintln!("error: {e}");
    }
    println!(
        "{} timeline samples: HTML {} KiB rendered in {:.1} ms; every format written in {:.1} ms to {}",
        report.timeline.len(),
        page.len() / 1024,
        html_time.as_secs_f64() * 1000.0,
        all_time.as_secs_f64() * 1000.0,
        dir.display()
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err("some files were not written".into())
    }
}
