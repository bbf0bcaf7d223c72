//! The one atomic file writer of zkmesh's disk fallbacks (the consumer's provider snapshot, the
//! config center's local cache).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `file` with `bytes` so that a reader (or a crash at any point) sees either the old
/// content or the new one, never a mix: the bytes go to a temporary file in the same directory,
/// which is fsynced, renamed over `file`, and the directory is fsynced so that the rename
/// survives a power loss. Missing parent directories are created. A failed write leaves no
/// temporary file behind.
///
/// # Errors
/// The I/O error of the step that failed (the caller adds which file it was).
pub fn write_file_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = temporary_name(dir, file);
    let written = (|| {
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        out.write_all(bytes)?;
        out.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// `.<file name>.<pid>.<n>.tmp` beside `file`: unique within the process and across processes.
fn temporary_name(dir: &Path, file: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let stem = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!(".{stem}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("zkmesh-atomic-{}", std::process::id()));
        let file = dir.join("sub").join("f.txt");
        write_file_atomically(&file, b"first, and longer").expect("first write");
        write_file_atomically(&file, b"second").expect("second write");
        assert_eq!(std::fs::read(&file).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["f.txt"], "no temporary file left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_names_the_cause_and_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("zkmesh-atomic-fail-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("target-is-a-dir")).expect("dir");
        // Renaming a file over a non-empty directory fails.
        std::fs::write(dir.join("target-is-a-dir").join("x"), b"x").expect("x");
        assert!(write_file_atomically(&dir.join("target-is-a-dir"), b"data").is_err());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["target-is-a-dir"], "the temporary file was removed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
