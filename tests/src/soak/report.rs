//! What a run did and found, and how it prints.

use std::fmt;
use std::time::Duration;

use super::resources::Resources;

/// What a soak run did and found; see [`soak()`](super::soak).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SoakReport {
    /// The seed the run's random choices came from.
    pub seed: u64,
    /// The connect string used, with the run's chroot.
    pub connect: String,
    /// How long the churn was asked to last.
    pub requested: Duration,
    /// How long the whole run took (set-up, churn, checks, the final settle).
    pub elapsed: Duration,
    /// Providers registered.
    pub registers: u64,
    /// Providers deregistered explicitly.
    pub deregisters: u64,
    /// Providers dropped without deregistering (deleted in the background).
    pub drops: u64,
    /// Config documents published.
    pub publishes: u64,
    /// Publishes that returned an error (retried before each check).
    pub publish_errors: u64,
    /// Session expiries injected.
    pub expiries: u64,
    /// Expiries that could not be injected.
    pub expiry_failures: u64,
    /// `Lost` transitions seen on the run's sessions.
    pub sessions_lost: u64,
    /// Settle-and-check rounds done (the final one included).
    pub checks: u64,
    /// The longest time everything took to settle before a check passed.
    pub max_settle: Duration,
    /// Times a consumer cache that had providers was seen empty.
    pub empty_samples: u64,
    /// `select()` picks checked against the set current around them.
    pub picks_checked: u64,
    /// Every invariant broken, with what was seen.
    pub violations: Vec<String>,
    /// Resources after the first settle.
    pub start: Resources,
    /// Resources after the last settle, with the starting population of providers.
    pub end: Resources,
}

impl SoakReport {
    /// True when no invariant was broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Open file descriptors at the end minus at the start.
    pub fn fd_growth(&self) -> Option<i64> {
        Some(self.end.fds? as i64 - self.start.fds? as i64)
    }

    /// Alive tokio tasks at the end minus at the start.
    pub fn task_growth(&self) -> Option<i64> {
        Some(self.end.tasks? as i64 - self.start.tasks? as i64)
    }

    /// RSS at the end minus at the start, in KiB.
    pub fn rss_growth_kb(&self) -> Option<i64> {
        Some(self.end.rss_kb? as i64 - self.start.rss_kb? as i64)
    }

    pub(super) fn violation(&mut self, what: String) {
        tracing::error!(violation = %what, "soak invariant broken");
        self.violations.push(what);
    }
}

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

impl fmt::Display for SoakReport {
    /// Several human lines, then one `key=value` line (`soak ... result=ok|failed`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_human(f)?;
        self.write_summary(f)
    }
}

impl SoakReport {
    /// The human lines, each ending with a newline.
    fn write_human(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: {:.1} s (asked {:.1} s), seed {}, against {}",
            self.elapsed.as_secs_f64(),
            self.requested.as_secs_f64(),
            self.seed,
            self.connect
        )?;
        writeln!(
            f,
            "  churn: {} registrations, {} deregistrations, {} drops, {} publishes ({} failed), {} expiries \
             injected ({} failed), {} sessions lost",
            self.registers,
            self.deregisters,
            self.drops,
            self.publishes,
            self.publish_errors,
            self.expiries,
            self.expiry_failures,
            self.sessions_lost
        )?;
        writeln!(
            f,
            "  checks: {}, longest settle {} ms, empty caches seen {}, picks checked {}",
            self.checks,
            self.max_settle.as_millis(),
            self.empty_samples,
            self.picks_checked
        )?;
        writeln!(
            f,
            "  resources: fds {} -> {}, tokio tasks {} -> {}, RSS {} -> {} KiB",
            opt(self.start.fds),
            opt(self.end.fds),
            opt(self.start.tasks),
            opt(self.end.tasks),
            opt(self.start.rss_kb),
            opt(self.end.rss_kb)
        )?;
        if self.violations.is_empty() {
            writeln!(f, "  violations: none")?;
        } else {
            writeln!(f, "  violations ({}):", self.violations.len())?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
        }
        Ok(())
    }

    /// The `key=value` line (`soak ... result=ok|failed`), without a newline.
    fn write_summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "soak seconds={:.1} seed={} registers={} deregisters={} drops={} publishes={} publish_errors={} \
             expiries={} sessions_lost={} checks={} max_settle_ms={} empty_samples={} picks_checked={} violations={} \
             fds_start={} fds_end={} tasks_start={} tasks_end={} rss_kb_start={} rss_kb_end={} result={}",
            self.elapsed.as_secs_f64(),
            self.seed,
            self.registers,
            self.deregisters,
            self.drops,
            self.publishes,
            self.publish_errors,
            self.expiries,
            self.sessions_lost,
            self.checks,
            self.max_settle.as_millis(),
            self.empty_samples,
            self.picks_checked,
            self.violations.len(),
            opt(self.start.fds),
            opt(self.end.fds),
            opt(self.start.tasks),
            opt(self.end.tasks),
            opt(self.start.rss_kb),
            opt(self.end.rss_kb),
            if self.is_clean() { "ok" } else { "failed" }
        )
    }
}
