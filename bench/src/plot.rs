//! `zkbench --plot FILE`: the figure a run hands over, and the SVG file it goes to.
//!
//! Three subcommands draw one: `propagation` (latency CDFs, [`Cdfs`]), `select` (pick cost
//! against the number of providers, [`PickCost`]) and `weighted` (request shares against
//! weight shares, [`Shares`]). The plots are drawn with plotters' SVG backend alone: no font
//! or system library is needed, text goes into the SVG as text.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

pub use crate::plot_cdf::Cdfs;
pub use crate::plot_cost::PickCost;
pub use crate::plot_shares::Shares;
use crate::BoxError;

/// What one run of a subcommand can plot.
#[derive(Debug, Clone)]
pub enum Figure {
    /// `propagation`: latency CDFs.
    Cdfs(Cdfs),
    /// `select`: cost per pick against the number of providers.
    PickCost(PickCost),
    /// `weighted`: each provider's share of the requests against its share of the weights.
    Shares(Shares),
}

/// Size of every plot, in pixels.
pub const SIZE: (u32, u32) = (1100, 480);

impl Figure {
    /// Draws the figure into an SVG file at `path`; `server` goes into the titles.
    pub fn write(&self, path: &Path, server: &str) -> Result<(), BoxError> {
        match self {
            Figure::Cdfs(cdfs) => cdfs.write(path, server),
            Figure::PickCost(cost) => cost.write(path, server),
            Figure::Shares(shares) => shares.write(path, server),
        }
    }
}

/// The file a server's plot goes to: `file` itself when the run measures on one server, else
/// `file` with `-SERVER` before its extension (`out.svg` -> `out-tuned.svg`).
pub fn path_for(file: &Path, server: &str, servers: usize) -> PathBuf {
    if servers <= 1 {
        return file.to_path_buf();
    }
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match file.extension() {
        Some(ext) => format!("{stem}-{server}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{server}"),
    };
    file.with_file_name(name)
}

/// `lo..hi` widened for a logarithmic axis: positive, and not empty.
pub fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 1.0..10.0;
    }
    (lo / 1.25)..(hi * 1.25)
}

/// Marks on a logarithmic axis over `range`: 1, 2 and 5 times each power of ten in it.
pub fn log_ticks(range: &std::ops::Range<f64>) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(range.start.max(f64::MIN_POSITIVE).log10().floor());
    while decade <= range.end {
        ticks.extend([1.0, 2.0, 5.0].map(|m| m * decade).into_iter().filter(|t| range.contains(t)));
        decade *= 10.0;
    }
    ticks
}

/// The `i`th series' colour (matplotlib's first four: red, blue, green, orange), dark enough
/// on white.
pub fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 4] =
        [RGBColor(214, 39, 40), RGBColor(31, 119, 180), RGBColor(44, 160, 44), RGBColor(255, 127, 14)];
    COLORS[i % COLORS.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_writes_the_file_named() {
        assert_eq!(path_for(Path::new("a/out.svg"), "tuned", 1), PathBuf::from("a/out.svg"));
    }

    #[test]
    fn two_servers_write_one_file_each_named_by_server() {
        assert_eq!(path_for(Path::new("a/out.svg"), "tuned", 2), PathBuf::from("a/out-tuned.svg"));
        assert_eq!(path_for(Path::new("out"), "production", 2), PathBuf::from("out-production"));
    }

    #[test]
    fn a_log_range_holds_every_positive_value_and_is_never_empty() {
        let range = log_range([0.0, 200.0, 1000.0, f64::NAN].into_iter());
        assert!(range.start < 200.0 && range.end > 1000.0);
        let single = log_range([5.0].into_iter());
        assert!(single.start < 5.0 && single.end > 5.0);
        assert_eq!(log_range(std::iter::empty()), 1.0..10.0);
    }

    #[test]
    fn log_ticks_are_one_two_five_in_each_decade_of_the_range() {
        assert_eq!(log_ticks(&(150.0..2500.0)), vec![200.0, 500.0, 1000.0, 2000.0]);
        assert_eq!(log_ticks(&(8.0..12.0)), vec![10.0]);
    }
}
