//! Scrape a live `/metrics` URL a few times, one second apart, and print the series cicada
//! derives from it: `cargo run -p cicada-analysis --example scrape -- http://127.0.0.1:8000/metrics [PATTERN...]`.

use std::time::Duration;

use cicada_analysis::prom::{MetricSelector, Scraper, SeriesAccumulator};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: scrape URL [PATTERN...]")?;
    let patterns: Vec<String> = args.collect();
    let selector = MetricSelector::new(&patterns)?;
    let mut scraper = Scraper::new(
        &url,
        Duration::from_secs(2),
        SeriesAccumulator::new(selector, &[0.5, 0.95, 0.99]),
    )?;
    for t in 1..=3 {
        if let Err(e) = scraper.tick(f64::from(t)).await {
            eprintln!("scrape {t}: {e}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let scraped = scraper.finish();
    println!(
        "{} scrapes, {} failed, {} series",
        scraped.scrapes,
        scraped.failed_scrapes,
        scraped.series.len()
    );
    for s in &scraped.series {
        let last = s.points.last().map_or(f64::NAN, |p| p.value);
        println!(
            "{:<48} {:<40} {:?} last={last}",
            s.name,
            format!("{:?}", s.labels),
            s.stat
        );
    }
    Ok(())
}
