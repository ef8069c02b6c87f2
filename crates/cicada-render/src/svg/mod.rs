//! A small SVG chart library: line charts with axes, ticks, grid lines and a legend, on linear,
//! logarithmic or percentile ("nines") axes. The HTML report draws every chart with it, so the
//! page needs no script and no network.

mod line_chart;
mod scale;

pub use line_chart::{Axis, Band, LineChart, RenderOptions, Series, TickFormat};
pub use scale::{NINES_MAX_PERCENTILE, ScaleKind, nines_upper};

/// Series colours: distinguishable for common colour-vision deficiencies, readable on white.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22",
];

/// The palette colour for the `i`-th series (cycling).
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}
