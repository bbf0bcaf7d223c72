//! Disk snapshots of a service's provider list, for booting a consumer while ZooKeeper is down.
//!
//! One file per service, `<dir>/<service>.providers`, written atomically (a temporary file in
//! the same directory, flushed to disk, then renamed over the old one), so a reader sees the old
//! or the new list, never half of one. The format is text, one provider node name (the
//! percent-encoded URL, which never contains a newline) per line after a small header:
//!
//! ```text
//! # zkmesh provider snapshot v1
//! service=greeter
//! saved_ms=1763769600000
//! http%3A%2F%2F10.0.0.5%3A8080%2Fgreeter%3Fweight%3D100
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

const HEADER: &str = "# zkmesh provider snapshot v1";

/// A snapshot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedProviders {
    /// The provider node names, as they were in ZooKeeper.
    pub nodes: Vec<String>,
    /// When the snapshot was written.
    pub saved_at: SystemTime,
}

/// The file holding `service`'s snapshot in `dir`.
pub fn snapshot_path(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.providers"))
}

/// Writes `nodes` as `service`'s snapshot in `dir` (created if missing), atomically.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn save_snapshot(dir: &Path, service: &str, nodes: &[String]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("create snapshot dir {}", dir.display()), e))?;
    let path = snapshot_path(dir, service);
    let saved_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut text = format!("{HEADER}\nservice={service}\nsaved_ms={saved_ms}\n");
    for node in nodes {
        text.push_str(node);
        text.push('\n');
    }
    crate::write_file_atomically(&path, text.as_bytes())
        .map_err(|e| Error::io(format!("write snapshot {}", path.display()), e))
}

/// Reads `service`'s snapshot from `dir`: `Ok(None)` when there is none.
///
/// # Errors
/// [`Error::CorruptSnapshot`] when the file is not a snapshot of `service` in this format;
/// [`Error::Io`] when it cannot be read.
pub fn load_snapshot(dir: &Path, service: &str) -> Result<Option<SavedProviders>> {
    let path = snapshot_path(dir, service);
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("read snapshot {}", path.display()), e)),
    };
    let corrupt =
        |reason: &str| Error::CorruptSnapshot { path: path.display().to_string(), reason: reason.into() };
    let text = String::from_utf8(text).map_err(|_| corrupt("not UTF-8"))?;
    if !text.ends_with('\n') {
        return Err(corrupt("truncated (no final newline)"));
    }
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(corrupt("missing header line"));
    }
    if lines.next() != Some(&format!("service={service}")) {
        return Err(corrupt("not a snapshot of this service"));
    }
    let saved_ms: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("saved_ms="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("missing saved_ms line"))?;
    let mut nodes = Vec::new();
    for line in lines {
        if line.is_empty() || line.contains('/') || line.chars().any(char::is_whitespace) {
            return Err(corrupt("a line is not a provider node name"));
        }
        nodes.push(line.to_owned());
    }
    Ok(Some(SavedProviders { nodes, saved_at: UNIX_EPOCH + Duration::from_millis(saved_ms) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load_snapshot(dir.path(), "svc").expect("load"), None);
        let nodes = vec!["http%3A%2F%2Fa%3A1%2Fsvc".to_owned(), "http%3A%2F%2Fb%3A1%2Fsvc".to_owned()];
        save_snapshot(dir.path(), "svc", &nodes).expect("save");
        let loaded = load_snapshot(dir.path(), "svc").expect("load").expect("present");
        assert_eq!(loaded.nodes, nodes);
        assert!(loaded.saved_at <= SystemTime::now());
        save_snapshot(dir.path(), "svc", &nodes[..1]).expect("save again");
        assert_eq!(load_snapshot(dir.path(), "svc").expect("load").expect("present").nodes, nodes[..1]);
        save_snapshot(dir.path(), "svc", &[]).expect("save empty");
        assert!(load_snapshot(dir.path(), "svc").expect("load").expect("present").nodes.is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = snapshot_path(dir.path(), "svc");
        let cases: [&[u8]; 6] = [
            b"garbage\n",
            b"# zkmesh provider snapshot v1\nservice=other\nsaved_ms=1\n",
            b"# zkmesh provider snapshot v1\nservice=svc\nsaved_ms=x\n",
            b"# zkmesh provider snapshot v1\nservice=svc\nsaved_ms=1\nhttp%3A%2F%2Fa",
            b"# zkmesh provider snapshot v1\nservice=svc\nsaved_ms=1\na b\n",
            b"\xff\xfe\n",
        ];
        for bytes in cases {
            std::fs::write(&path, bytes).expect("write");
            let err = load_snapshot(dir.path(), "svc").expect_err("corrupt");
            assert!(matches!(err, Error::CorruptSnapshot { .. }), "{err:?}");
        }
    }
}
