//! What the analysis costs the generator per second of a run, measured:
//! `cargo run --release -p cicada-analysis --example costs`.
//!
//! Prints the time of one resource-sampler tick (generator + a target + system), one parse of
//! a dryad-sized `/metrics` page, one accumulator step, and one USL fit.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cicada_analysis::prom::{MetricSelector, SeriesAccumulator, parse_text};
use cicada_analysis::resources::{ResourceSampler, TargetProcess};
use cicada_analysis::usl::{fit_usl, usl_throughput};

fn exposition(n: u64) -> String {
    let mut s = String::new();
    s.push_str("# TYPE dryad_http_requests_total counter\n");
    for route in 0..12 {
        for status in [200, 201, 404, 500] {
            s.push_str(&format!(
                "dryad_http_requests_total{{method=\"GET\",route=\"/r{route}\",status=\"{status}\"}} {}\n",
                n * (route + 1)
            ));
        }
    }
    s.push_str("# TYPE dryad_http_request_duration_seconds histogram\n");
    for route in 0..12 {
        let mut c = 0;
        for le in [
            "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
        ] {
            c += n;
            s.push_str(&format!(
                "dryad_http_request_duration_seconds_bucket{{route=\"/r{route}\",le=\"{le}\"}} {c}\n"
            ));
        }
        s.push_str(&format!(
            "dryad_http_request_duration_seconds_sum{{route=\"/r{route}\"}} {}\n",
            n as f64 * 0.3
        ));
        s.push_str(&format!(
            "dryad_http_request_duration_seconds_count{{route=\"/r{route}\"}} {c}\n"
        ));
    }
    s.push_str("# TYPE dryad_queue_depth gauge\ndryad_queue_depth 3\n");
    s
}

fn time<T>(label: &str, rounds: u32, mut f: impl FnMut(u32) -> T) {
    let start = Instant::now();
    for i in 0..rounds {
        black_box(f(i));
    }
    let per = start.elapsed() / rounds;
    println!("{label:<48} {:>10.1} µs", per.as_secs_f64() * 1e6);
}

fn main() {
    let mut child = Command::new("sleep")
        .arg("60")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut sampler = ResourceSampler::new(Some(TargetProcess {
        pid: child.id(),
        tree: false,
    }))
    .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    time(
        "resource sampler tick (generator, target, system)",
        2000,
        |i| sampler.tick(f64::from(i)),
    );
    let _ = child.kill();
    let _ = child.wait();

    let pages: Vec<String> = (1..=200).map(exposition).collect();
    println!(
        "metrics page: {} lines, {} bytes",
        pages[0].lines().count(),
        pages[0].len()
    );
    time("parse one /metrics page", 2000, |i| {
        parse_text(&pages[i as usize % 200]).unwrap()
    });
    let parsed: Vec<_> = pages.iter().map(|p| parse_text(p).unwrap()).collect();
    let mut acc = SeriesAccumulator::new(MetricSelector::all(), &[0.5, 0.95, 0.99]);
    time("accumulate one scrape (rates, 3 quantiles)", 200, |i| {
        acc.add_scrape(f64::from(i + 1), &parsed[i as usize]);
    });

    let points: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]
        .iter()
        .map(|&n| (n, usl_throughput(n, 0.03, 0.0001, 100.0)))
        .collect();
    time("USL fit, 10 points", 50, |_| fit_usl(&points).unwrap());
}
