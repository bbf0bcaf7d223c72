//! Disk snapshots of a service's provider list, for booting a consumer while ZooKeeper is down.
//!
//! One file per environment and service, `<dir>/<environment>/<service>.providers` (the
//! environment is the ZooKeeper ensemble and chroot, [`Environment::dir_name`]), so processes of
//! `/prod` and `/staging` can share a directory without ever reading each other's providers; the
//! file also records [`Environment::key`], and a file written for another environment is refused.
//! Written atomically ([`crate::write_file_atomically`]), so a reader sees the old or the new
//! list, never half of one. The format is text, one provider node name (the percent-encoded URL,
//! which never contains a newline) per line after a small header:
//!
//! ```text
//! # zkmesh provider snapshot v2
//! environment=10.0.0.1:2181,10.0.0.2:2181/prod
//! service=greeter
//! saved_ms=1763769600000
//! http%3A%2F%2F10.0.0.5%3A8080%2Fgreeter%3Fweight%3D100
//! ```
//!
//! When the service has a traffic rules document, the snapshot also holds its last good text
//! and ZooKeeper version (header `v3`, two lines after `saved_ms`; the text percent-encoded so
//! it stays on one line), so a consumer booting from disk applies the rules it last had until
//! ZooKeeper answers:
//!
//! ```text
//! # zkmesh provider snapshot v3
//! environment=10.0.0.1:2181,10.0.0.2:2181/prod
//! service=greeter
//! saved_ms=1763769600000
//! rules_version=4
//! rules=%5B%5Boverride%5D%5D%0Aaddress%20%3D%20%2210.0.0.5%3A8080%22%0Adisabled%20%3D%20true%0A
//! http%3A%2F%2F10.0.0.5%3A8080%2Fgreeter%3Fweight%3D100
//! ```
//!
//! A service without rules is saved as `v2`, and a `v2` file (written before rules were saved)
//! reads as a snapshot without rules.
//!
//! A list that ZooKeeper answered empty is saved empty (empty protection keeps serving the last
//! providers in memory, but the disk records what ZooKeeper said), so a later cold boot does
//! not send traffic to providers that left.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::session::Environment;

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

const HEADER: &str = "# zkmesh provider snapshot v2";
/// The header of a snapshot that also holds the rules document.
const HEADER_RULES: &str = "# zkmesh provider snapshot v3";

/// The traffic rules document a snapshot holds: its text and ZooKeeper version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRules {
    /// The ZooKeeper version of the document (`stat.version`).
    pub version: i32,
    /// The document's TOML text, as read from ZooKeeper.
    pub text: String,
}

/// A snapshot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedProviders {
    /// The provider node names, as they were in ZooKeeper.
    pub nodes: Vec<String>,
    /// When the snapshot was written.
    pub saved_at: SystemTime,
    /// The service's rules document when the snapshot was written (`None`: no rules, or a
    /// snapshot written before rules were saved).
    pub rules: Option<SavedRules>,
}

/// The file holding `service`'s snapshot for `environment` in `dir`.
pub fn snapshot_path(dir: &Path, environment: &Environment, service: &str) -> PathBuf {
    dir.join(environment.dir_name()).join(format!("{service}.providers"))
}

/// Writes `nodes` (and the service's `rules` document, when it has one) as `service`'s
/// snapshot for `environment` in `dir` (created if missing), atomically.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn save_snapshot(
    dir: &Path,
    environment: &Environment,
    service: &str,
    nodes: &[String],
    rules: Option<&SavedRules>,
) -> Result<()> {
    let path = snapshot_path(dir, environment, service);
    let saved_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let header = if rules.is_some() { HEADER_RULES } else { HEADER };
    let mut text =
        format!("{header}\nenvironment={}\nservice={service}\nsaved_ms={saved_ms}\n", environment.key());
    if let Some(rules) = rules {
        let encoded = utf8_percent_encode(&rules.text, NON_ALPHANUMERIC);
        text.push_str(&format!("rules_version={}\nrules={encoded}\n", rules.version));
    }
    for node in nodes {
        text.push_str(node);
        text.push('\n');
    }
    crate::write_file_atomically(&path, text.as_bytes())
        .map_err(|e| Error::io(format!("write snapshot {}", path.display()), e))
}

/// Reads `service`'s snapshot for `environment` from `dir`: `Ok(None)` when there is none.
///
/// # Errors
/// [`Error::CorruptSnapshot`] when the file is not a snapshot of `service` for `environment` in
/// this format (one written for another ensemble or chroot is refused, naming both);
/// [`Error::Io`] when it cannot be read.
pub fn load_snapshot(dir: &Path, environment: &Environment, service: &str) -> Result<Option<SavedProviders>> {
    let path = snapshot_path(dir, environment, service);
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
    let with_rules = match lines.next() {
        Some(HEADER) => false,
        Some(HEADER_RULES) => true,
        _ => return Err(corrupt("missing header line")),
    };
    let expected = environment.key();
    match lines.next().and_then(|l| l.strip_prefix("environment=")) {
        Some(found) if found == expected => {}
        Some(found) => {
            return Err(corrupt(&format!("written for ZooKeeper environment {found}, not {expected}")));
        }
        None => return Err(corrupt("missing environment line")),
    }
    if lines.next() != Some(&format!("service={service}")) {
        return Err(corrupt("not a snapshot of this service"));
    }
    let saved_ms: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("saved_ms="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("missing saved_ms line"))?;
    let rules = if with_rules { Some(read_rules(&mut lines).map_err(&corrupt)?) } else { None };
    let mut nodes = Vec::new();
    for line in lines {
        if line.is_empty() || line.contains('/') || line.chars().any(char::is_whitespace) {
            return Err(corrupt("a line is not a provider node name"));
        }
        nodes.push(line.to_owned());
    }
    Ok(Some(SavedProviders { nodes, saved_at: UNIX_EPOCH + Duration::from_millis(saved_ms), rules }))
}

/// The `rules_version=` and `rules=` lines of a `v3` snapshot.
fn read_rules<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
) -> std::result::Result<SavedRules, &'static str> {
    let version = lines
        .next()
        .and_then(|l| l.strip_prefix("rules_version="))
        .and_then(|v| v.parse().ok())
        .ok_or("missing rules_version line")?;
    let encoded = lines.next().and_then(|l| l.strip_prefix("rules=")).ok_or("missing rules line")?;
    let text = percent_decode_str(encoded).decode_utf8().map_err(|_| "the rules line is not UTF-8")?;
    Ok(SavedRules { version, text: text.into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> Environment {
        Environment::of("10.0.0.1:2181,10.0.0.2:2181/prod").expect("environment")
    }

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = prod();
        assert_eq!(load_snapshot(dir.path(), &env, "svc").expect("load"), None);
        let nodes = vec!["http%3A%2F%2Fa%3A1%2Fsvc".to_owned(), "http%3A%2F%2Fb%3A1%2Fsvc".to_owned()];
        save_snapshot(dir.path(), &env, "svc", &nodes, None).expect("save");
        let loaded = load_snapshot(dir.path(), &env, "svc").expect("load").expect("present");
        assert_eq!(loaded.nodes, nodes);
        assert!(loaded.saved_at <= SystemTime::now());
        save_snapshot(dir.path(), &env, "svc", &nodes[..1], None).expect("save again");
        assert_eq!(load_snapshot(dir.path(), &env, "svc").expect("load").expect("present").nodes, nodes[..1]);
        save_snapshot(dir.path(), &env, "svc", &[], None).expect("save empty");
        assert!(load_snapshot(dir.path(), &env, "svc").expect("load").expect("present").nodes.is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(env.dir_name()))
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn rules_round_trip_and_a_v2_file_has_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = prod();
        let nodes = vec!["http%3A%2F%2Fa%3A1%2Fsvc".to_owned()];
        let text = "# why: a%b\n[[override]]\naddress = \"a:1\"\ndisabled = true\n\t\r\n".to_owned();
        let rules = SavedRules { version: 7, text };
        save_snapshot(dir.path(), &env, "svc", &nodes, Some(&rules)).expect("save");
        let raw = std::fs::read_to_string(snapshot_path(dir.path(), &env, "svc")).expect("read");
        assert!(raw.starts_with(HEADER_RULES), "{raw}");
        let loaded = load_snapshot(dir.path(), &env, "svc").expect("load").expect("present");
        assert_eq!((loaded.nodes, loaded.rules), (nodes.clone(), Some(rules)));
        // A file written before rules were saved (v2) reads as a snapshot without rules.
        save_snapshot(dir.path(), &env, "svc", &nodes, None).expect("save without rules");
        let raw = std::fs::read_to_string(snapshot_path(dir.path(), &env, "svc")).expect("read");
        assert!(raw.starts_with(HEADER), "{raw}");
        let loaded = load_snapshot(dir.path(), &env, "svc").expect("load").expect("present");
        assert_eq!((loaded.nodes, loaded.rules), (nodes, None));
    }

    #[test]
    fn environments_sharing_a_directory_never_read_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (prod, staging) = (prod(), Environment::of("10.0.0.1:2181,10.0.0.2:2181/staging").expect("env"));
        save_snapshot(dir.path(), &prod, "svc", &["http%3A%2F%2Fprod%3A1%2Fsvc".to_owned()], None)
            .expect("save");
        assert_eq!(
            load_snapshot(dir.path(), &staging, "svc").expect("load"),
            None,
            "staging has no snapshot"
        );
        // A prod file copied where staging's would be is refused, naming both environments.
        std::fs::create_dir_all(dir.path().join(staging.dir_name())).expect("dir");
        std::fs::copy(snapshot_path(dir.path(), &prod, "svc"), snapshot_path(dir.path(), &staging, "svc"))
            .expect("copy");
        let err = load_snapshot(dir.path(), &staging, "svc").expect_err("foreign file");
        let text = err.to_string();
        assert!(text.contains("/prod, not") && text.contains("/staging"), "{text}");
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = prod();
        let path = snapshot_path(dir.path(), &env, "svc");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        let ok_env = format!("environment={}\n", env.key());
        let cases: Vec<Vec<u8>> = vec![
            b"garbage\n".to_vec(),
            b"# zkmesh provider snapshot v1\nservice=svc\nsaved_ms=1\n".to_vec(),
            format!("{HEADER}\nservice=svc\nsaved_ms=1\n").into_bytes(),
            format!("{HEADER}\n{ok_env}service=other\nsaved_ms=1\n").into_bytes(),
            format!("{HEADER}\n{ok_env}service=svc\nsaved_ms=x\n").into_bytes(),
            format!("{HEADER}\n{ok_env}service=svc\nsaved_ms=1\nhttp%3A%2F%2Fa").into_bytes(),
            format!("{HEADER}\n{ok_env}service=svc\nsaved_ms=1\na b\n").into_bytes(),
            b"\xff\xfe\n".to_vec(),
            format!("{HEADER_RULES}\n{ok_env}service=svc\nsaved_ms=1\na\n").into_bytes(),
            format!("{HEADER_RULES}\n{ok_env}service=svc\nsaved_ms=1\nrules_version=1\na\n").into_bytes(),
            format!("{HEADER_RULES}\n{ok_env}service=svc\nsaved_ms=1\nrules_version=1\nrules=%FF\n")
                .into_bytes(),
        ];
        for bytes in cases {
            std::fs::write(&path, &bytes).expect("write");
            let err = load_snapshot(dir.path(), &env, "svc").expect_err("corrupt");
            assert!(matches!(err, Error::CorruptSnapshot { .. }), "{err:?}");
        }
    }
}
