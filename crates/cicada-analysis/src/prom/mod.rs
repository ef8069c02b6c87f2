//! The target's Prometheus metrics: a text-format (0.0.4) parser ([`parse`]), histogram
//! quantiles as `histogram_quantile` computes them ([`quantile`]), metric selection by glob or
//! regex ([`select`]), an accumulator that turns successive scrapes into rates, values and
//! per-interval quantiles ([`series`]), and a scraper over loopback HTTP ([`mod@scrape`]).

pub mod parse;
pub mod quantile;
pub mod scrape;
pub mod select;
pub mod series;

pub use parse::{MetricFamily, MetricType, PromParseError, Sample, parse_text};
pub use quantile::histogram_quantile;
pub use scrape::{ScrapeError, Scraper, scrape};
pub use select::{MetricSelector, PatternError};
pub use series::SeriesAccumulator;
