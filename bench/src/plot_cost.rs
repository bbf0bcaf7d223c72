//! Pick cost against the number of providers (`zkbench select --providers 10,100,... --plot
//! FILE`): nanoseconds per pick of `select()`, of a `Selector` and of the `RwLock<Vec<_>>`
//! baseline, one point per provider count, on a logarithmic provider axis.

use std::path::Path;

use plotters::prelude::*;

use crate::plot::{color, log_range, log_ticks, SIZE};
use crate::BoxError;

/// The median round's cost per pick of each side, at each provider count.
#[derive(Debug, Clone)]
pub struct PickCost {
    threads: usize,
    points: Vec<[f64; 4]>,
}

/// The sides, in the order of a point's last three values.
const SIDES: [&str; 3] = ["zkmesh select()", "zkmesh Selector", "RwLock baseline"];

impl PickCost {
    /// No point yet; picks from `threads` threads at once.
    pub fn new(threads: usize) -> PickCost {
        PickCost { threads, points: Vec::new() }
    }

    /// Adds the ns per pick of `select()`, of the `Selector` and of the baseline at `providers`.
    pub fn push(&mut self, providers: usize, select_ns: f64, selector_ns: f64, baseline_ns: f64) {
        self.points.push([providers as f64, select_ns, selector_ns, baseline_ns]);
    }

    /// Draws the figure into an SVG file at `path`.
    pub fn write(&self, path: &Path, server: &str) -> Result<(), BoxError> {
        let root = SVGBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let x = log_range(self.points.iter().map(|p| p[0]));
        let top = self.points.iter().flat_map(|p| p[1..].iter().copied()).fold(1.0f64, f64::max);
        let title = format!("cost per pick, {} thread(s) ({server} server)", self.threads);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x.clone().log_scale().with_key_points(log_ticks(&x)), 0f64..top * 1.15)?;
        chart
            .configure_mesh()
            .x_desc("providers (log scale)")
            .y_desc("ns per pick (median round)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for (i, name) in SIDES.iter().enumerate() {
            let color = color(i);
            let line: Vec<(f64, f64)> = self.points.iter().map(|p| (p[0], p[i + 1])).collect();
            chart.draw_series(line.iter().map(|&xy| Circle::new(xy, 4, color.filled())))?;
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_file_is_written_with_every_side_named() -> Result<(), BoxError> {
        let dir = std::env::temp_dir().join(format!("zkbench-plot-cost-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("select.svg");
        let mut cost = PickCost::new(2);
        cost.push(10, 8.1, 7.4, 42.0);
        cost.push(1000, 17.4, 15.6, 32.3);
        cost.write(&path, "production")?;
        let svg = std::fs::read_to_string(&path)?;
        std::fs::remove_dir_all(&dir)?;
        assert!(svg.starts_with("<svg"));
        for text in
            ["zkmesh select()", "zkmesh Selector", "RwLock baseline", "2 thread(s) (production server)"]
        {
            assert!(svg.contains(text), "{text:?} missing from the plot");
        }
        Ok(())
    }
}
