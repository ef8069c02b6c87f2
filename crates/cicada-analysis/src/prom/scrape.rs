//! Scraping a `/metrics` URL once a second into a [`SeriesAccumulator`].

use std::time::Duration;

use cicada_report::analysis_model::ScrapedMetrics;

use super::parse::{MetricFamily, PromParseError, parse_text};
use super::series::SeriesAccumulator;
use crate::http_get::{HttpGetError, HttpUrl, get_text};

/// Why one scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error(transparent)]
    Http(#[from] HttpGetError),
    #[error("{url}: {source}")]
    Parse {
        url: String,
        #[source]
        source: PromParseError,
    },
}

/// Fetch `url` and parse it as Prometheus text, within `timeout`.
pub async fn scrape(url: &HttpUrl, timeout: Duration) -> Result<Vec<MetricFamily>, ScrapeError> {
    let text = get_text(url, timeout).await?;
    parse_text(&text).map_err(|source| ScrapeError::Parse {
        url: url.as_str().to_owned(),
        source,
    })
}

/// A run's scraper: call [`tick`](Self::tick) once a second; failures are counted, not fatal.
#[derive(Debug)]
pub struct Scraper {
    url: HttpUrl,
    timeout: Duration,
    accumulator: SeriesAccumulator,
    scrapes: u64,
    failed: u64,
    last_error: Option<String>,
}

impl Scraper {
    /// `url` must be `http://`; checked here, once.
    pub fn new(
        url: &str,
        timeout: Duration,
        accumulator: SeriesAccumulator,
    ) -> Result<Self, HttpGetError> {
        Ok(Self {
            url: HttpUrl::parse(url)?,
            timeout,
            accumulator,
            scrapes: 0,
            failed: 0,
            last_error: None,
        })
    }

    /// Scrape once and add the result at `elapsed_s`.
    pub async fn tick(&mut self, elapsed_s: f64) -> Result<(), ScrapeError> {
        match scrape(&self.url, self.timeout).await {
            Ok(families) => {
                self.scrapes += 1;
                self.accumulator.add_scrape(elapsed_s, &families);
                Ok(())
            }
            Err(e) => {
                self.failed += 1;
                self.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    pub fn accumulator(&self) -> &SeriesAccumulator {
        &self.accumulator
    }

    /// The report section so far; scraping goes on (the live view).
    pub fn so_far(&self) -> ScrapedMetrics {
        ScrapedMetrics {
            url: self.url.as_str().to_owned(),
            scrapes: self.scrapes,
            failed_scrapes: self.failed,
            last_error: self.last_error.clone(),
            series: self.accumulator.series(),
        }
    }

    /// The report section.
    pub fn finish(self) -> ScrapedMetrics {
        let url = self.url.as_str().to_owned();
        self.accumulator
            .into_scraped(&url, self.scrapes, self.failed, self.last_error)
    }
}
