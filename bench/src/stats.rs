//! Percentiles of latency samples.

use std::time::Duration;

/// Samples in microseconds, sorted on demand.
#[derive(Debug, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e6);
    }

    /// The `q` quantile (0..=1), nearest rank, in microseconds.
    pub fn quantile(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_by(f64::total_cmp);
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }

    /// The samples in microseconds, in the order pushed or sorted (after a quantile).
    pub fn values(&self) -> &[f64] {
        &self.0
    }

    pub fn p50(&mut self) -> f64 {
        self.quantile(0.5)
    }

    pub fn p99(&mut self) -> f64 {
        self.quantile(0.99)
    }
}
