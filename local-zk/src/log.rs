//! A server's log file (the JVM's stdout and stderr): its tail for error messages, whether the
//! latest run failed to bind a port, and the markers between runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The log file in a server's directory.
pub(crate) const LOG_FILE: &str = "zookeeper.log";
/// How many lines of the log an error message quotes.
pub(crate) const LOG_TAIL_LINES: usize = 20;

/// `; last lines of LOG:` and the log's tail, or "" when the log is empty or unreadable.
pub(crate) fn tail_suffix(path: &Path) -> String {
    let tail = log_tail(path, LOG_TAIL_LINES);
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last lines of {}:\n{tail}", path.display())
    }
}

/// The last `n` lines of a file (of its last 64 KiB), or "" if it cannot be read.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let Ok(text) = read_end(path, 64 * 1024) else { return String::new() };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read_end(path: &Path, max: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether the latest run in the log failed to bind a port.
pub(crate) fn log_mentions_port_conflict(path: &Path) -> bool {
    let text = read_end(path, 256 * 1024).unwrap_or_default();
    let latest = text.rsplit("----- local-zk:").next().unwrap_or_default();
    latest.contains("Address already in use") || latest.contains("BindException")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs;

    use super::*;

    #[test]
    fn log_tail_and_port_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("zookeeper.log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, format!("java.net.BindException: Address already in use\n{text}")).unwrap();
        let tail = log_tail(&log, 20);
        assert_eq!(tail.lines().count(), 20);
        assert!(tail.starts_with("line 11") && tail.ends_with("line 30"), "{tail}");
        assert!(log_mentions_port_conflict(&log));
        // Only the latest run counts.
        fs::write(&log, "Address already in use\n----- local-zk: restart -----\nfine\n").unwrap();
        assert!(!log_mentions_port_conflict(&log));
        assert_eq!(log_tail(&dir.path().join("missing"), 20), "");
    }
}
