//! The process's file descriptors, tokio tasks and RSS at one moment.

/// File descriptors, tokio tasks and resident memory of this process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resources {
    /// Open file descriptors (entries of `/proc/self/fd`), when readable.
    pub fds: Option<usize>,
    /// Tasks alive on the current tokio runtime, when called within one.
    pub tasks: Option<usize>,
    /// Resident set size in KiB (`VmRSS` of `/proc/self/status`), when readable.
    pub rss_kb: Option<u64>,
}

impl Resources {
    /// Measures now.
    pub fn now() -> Resources {
        let fds = std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count());
        let tasks = tokio::runtime::Handle::try_current().ok().map(|h| h.metrics().num_alive_tasks());
        let rss_kb = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
        Resources { fds, tasks, rss_kb }
    }
}
