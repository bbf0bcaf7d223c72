//! Request shares against weight shares (`zkbench weighted --plot FILE`): one point per
//! provider and balancer at (its share of the weights, its share of the requests), and the
//! diagonal where the two are equal.

use std::path::Path;

use plotters::prelude::*;

use crate::plot::{color, SIZE};
use crate::BoxError;

/// Each balancer's share of the requests per provider, against the providers' weights.
#[derive(Debug, Clone)]
pub struct Shares {
    title: String,
    weight_pct: Vec<f64>,
    series: Vec<(String, Vec<f64>)>,
}

impl Shares {
    /// No balancer yet; the providers' `weights`, in order; `title` heads the figure.
    pub fn new(title: impl Into<String>, weights: &[u32]) -> Shares {
        let total: f64 = weights.iter().map(|&w| f64::from(w)).sum::<f64>().max(1.0);
        let weight_pct = weights.iter().map(|&w| f64::from(w) * 100.0 / total).collect();
        Shares { title: title.into(), weight_pct, series: Vec::new() }
    }

    /// Adds a balancer's share of the requests per provider (percent, in the weights' order).
    pub fn push(&mut self, balancer: &str, shares_pct: Vec<f64>) {
        self.series.push((balancer.to_owned(), shares_pct));
    }

    /// Draws the figure into an SVG file at `path`.
    pub fn write(&self, path: &Path, server: &str) -> Result<(), BoxError> {
        let root = SVGBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let all = self.weight_pct.iter().chain(self.series.iter().flat_map(|(_, s)| s.iter()));
        let top = (all.copied().filter(|v| v.is_finite()).fold(1.0f64, f64::max) * 1.15).min(100.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{} ({server} server)", self.title), ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..top, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("share of the weights (%)")
            .y_desc("share of the requests (%)")
            .draw()?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (top, top)], BLACK.mix(0.5).stroke_width(1)))?
            .label("requests follow weights")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
        for (i, (name, shares)) in self.series.iter().enumerate() {
            let color = color(i);
            // The first balancer filled and small, the others hollow and larger, so that a
            // point on top of another stays visible.
            let (size, style) =
                if i == 0 { (5, color.filled()) } else { (5 + 3 * i as i32, color.stroke_width(2)) };
            let points = self.weight_pct.iter().copied().zip(shares.iter().copied());
            chart
                .draw_series(points.map(move |xy| Circle::new(xy, size, style)))?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 10, y), size, style));
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
    fn weight_shares_are_percent_of_the_total() {
        let shares = Shares::new("t", &[100, 100, 50]);
        assert_eq!(shares.weight_pct, vec![40.0, 40.0, 20.0]);
    }

    #[test]
    fn the_plot_file_is_written_with_every_balancer_named() -> Result<(), BoxError> {
        let dir = std::env::temp_dir().join(format!("zkbench-plot-shares-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("weighted.svg");
        let mut shares = Shares::new("request shares, weights 100,100,50", &[100, 100, 50]);
        shares.push("zkmesh Balancer", vec![40.1, 39.9, 20.0]);
        shares.push("tower p2c", vec![33.2, 32.8, 33.9]);
        shares.write(&path, "tuned")?;
        let svg = std::fs::read_to_string(&path)?;
        std::fs::remove_dir_all(&dir)?;
        assert!(svg.starts_with("<svg"));
        for text in ["zkmesh Balancer", "tower p2c", "requests follow weights", "weights 100,100,50"] {
            assert!(svg.contains(text), "{text:?} missing from the plot");
        }
        Ok(())
    }
}
