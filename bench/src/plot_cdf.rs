//! Latency CDFs (`zkbench propagation --plot FILE`): for each panel (adds, deletes), the share
//! of trials at or under each latency, one line per side measured in the run (zkmesh and the
//! floors), on a logarithmic latency axis.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{color, log_range, log_ticks, SIZE};
use crate::BoxError;

/// CDFs of latency samples, side by side in panels.
#[derive(Debug, Clone)]
pub struct Cdfs {
    title: String,
    panels: Vec<Panel>,
}

/// One panel: named series of samples, in microseconds.
#[derive(Debug, Clone)]
struct Panel {
    title: String,
    series: Vec<(String, Vec<f64>)>,
}

impl Cdfs {
    /// No panel yet; `title` heads the figure.
    pub fn new(title: impl Into<String>) -> Cdfs {
        Cdfs { title: title.into(), panels: Vec::new() }
    }

    /// Adds a panel with one CDF per named series of samples (microseconds, any order).
    pub fn panel(mut self, title: &str, series: &[(&str, &[f64])]) -> Cdfs {
        let series = series
            .iter()
            .map(|(name, samples)| {
                let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
                sorted.sort_by(f64::total_cmp);
                ((*name).to_owned(), sorted)
            })
            .collect();
        self.panels.push(Panel { title: title.to_owned(), series });
        self
    }

    /// Draws the panels into an SVG file at `path`.
    pub fn write(&self, path: &Path, server: &str) -> Result<(), BoxError> {
        let root = SVGBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(&format!("{} ({server} server)", self.title), ("sans-serif", 20))?;
        for (area, panel) in root.split_evenly((1, self.panels.len().max(1))).iter().zip(&self.panels) {
            draw_panel(area, panel)?;
        }
        root.present()?;
        Ok(())
    }
}

fn draw_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel) -> Result<(), BoxError> {
    let x = log_range(panel.series.iter().flat_map(|(_, s)| s.iter().copied()));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x.clone().log_scale().with_key_points(log_ticks(&x)), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("latency (µs, log scale)")
        .y_desc("share of trials at or under")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (i, (name, samples)) in panel.series.iter().enumerate() {
        let color = color(i);
        let median = samples.get(samples.len().saturating_sub(1) / 2).copied().unwrap_or(f64::NAN);
        chart
            .draw_series(LineSeries::new(steps(samples), color.stroke_width(2)))?
            .label(format!("{name} (p50 {median:.0} µs)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The empirical CDF of `sorted` as a step line: up by 1/n at each sample.
fn steps(sorted: &[f64]) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let mut points = Vec::with_capacity(sorted.len() * 2);
    for (i, &v) in sorted.iter().enumerate() {
        points.push((v, i as f64 / n));
        points.push((v, (i + 1) as f64 / n));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cdf_climbs_from_zero_to_one_at_the_samples() {
        assert_eq!(steps(&[1.0, 3.0]), vec![(1.0, 0.0), (1.0, 0.5), (3.0, 0.5), (3.0, 1.0)]);
    }

    #[test]
    fn the_plot_file_is_written_with_every_series_and_panel_named() -> Result<(), BoxError> {
        let dir = std::env::temp_dir().join(format!("zkbench-plot-cdf-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("propagation.svg");
        let ours = [310.0, 350.0, 420.0, 900.0];
        let floor = [520.0, 600.0, 610.0, 1500.0];
        Cdfs::new("propagation")
            .panel("register (add)", &[("zkmesh", &ours), ("one-shot floor", &floor)])
            .panel("deregister (delete)", &[("zkmesh", &ours), ("persistent floor", &[])])
            .write(&path, "tuned")?;
        let svg = std::fs::read_to_string(&path)?;
        std::fs::remove_dir_all(&dir)?;
        assert!(svg.starts_with("<svg"), "not an SVG: {}", &svg[..svg.len().min(80)]);
        for text in
            ["zkmesh (p50 350", "one-shot floor", "persistent floor", "register (add)", "tuned server"]
        {
            assert!(svg.contains(text), "{text:?} missing from the plot");
        }
        Ok(())
    }
}
