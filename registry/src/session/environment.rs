//! [`Environment`]: which ZooKeeper ensemble and chroot a connect string names, so that files a
//! process keeps on disk for one environment (provider snapshots, config caches) are never read
//! by a process of another (`/prod` and `/staging` sharing a cache directory, say).

use crate::error::{Error, Result};

/// The ZooKeeper ensemble (its hosts, in any order) and chroot of a connect string.
///
/// Two connect strings name the same environment when they list the same hosts (order and
/// duplicates aside) and the same chroot. Disk files are kept under
/// [`dir_name`](Environment::dir_name) and carry [`key`](Environment::key), so that a file
/// written for another environment is refused even when it is copied into the wrong folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Environment {
    hosts: Vec<String>,
    chroot: String,
}

impl Environment {
    /// The environment of `connect` (`host:port[,host:port…][/chroot]`).
    ///
    /// # Errors
    /// As [`Session::connect`](super::Session::connect) for a malformed connect string.
    pub fn of(connect: &str) -> Result<Environment> {
        let (hosts, chroot) = split_connect_string(connect)?;
        let mut hosts: Vec<String> =
            hosts.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
        hosts.sort();
        hosts.dedup();
        Ok(Environment { hosts, chroot: chroot.unwrap_or_else(|| "/".into()) })
    }

    /// The chroot (`/` when there is none).
    pub fn chroot(&self) -> &str {
        &self.chroot
    }

    /// The canonical text of the environment: the sorted hosts, then the chroot
    /// (`127.0.0.1:2181,127.0.0.2:2181/prod`). Written into every disk file.
    pub fn key(&self) -> String {
        let chroot = if self.chroot == "/" { "" } else { self.chroot.as_str() };
        format!("{}{chroot}", self.hosts.join(","))
    }

    /// A directory name for this environment's files: the chroot's characters that are safe in a
    /// file name, then a 64-bit FNV-1a digest of [`key`](Environment::key) in hex
    /// (`prod-1f3a…`, `root-…` without a chroot).
    pub fn dir_name(&self) -> String {
        let readable: String = self
            .chroot
            .trim_start_matches('/')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .take(64)
            .collect();
        let readable = if readable.is_empty() { "root".to_owned() } else { readable };
        format!("{readable}-{:016x}", fnv1a(self.key().as_bytes()))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `hosts` and the chroot (`None` for none or `/`) of a connect string.
pub(crate) fn split_connect_string(connect: &str) -> Result<(String, Option<String>)> {
    let invalid = |reason: &str| Error::InvalidPath { path: connect.to_owned(), reason: reason.to_owned() };
    if connect.trim().is_empty() {
        return Err(invalid("empty connect string"));
    }
    if let Some((scheme, _)) = connect.split_once("://") {
        return Err(invalid(&format!(
            "a connect string takes no scheme ({scheme}://): write HOST:PORT[,HOST:PORT...][/chroot]"
        )));
    }
    match connect.find('/') {
        None => Ok((connect.to_owned(), None)),
        Some(i) => {
            let chroot = &connect[i..];
            super::validate_path(chroot)
                .map_err(|_| invalid("the chroot after the hosts is not a valid absolute path"))?;
            let chroot = (chroot != "/").then(|| chroot.to_owned());
            Ok((connect[..i].to_owned(), chroot))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_chroot() {
        assert_eq!(split_connect_string("a:1,b:2").ok(), Some(("a:1,b:2".into(), None)));
        assert_eq!(split_connect_string("a:1/x/y").ok(), Some(("a:1".into(), Some("/x/y".into()))));
        assert_eq!(split_connect_string("a:1/").ok(), Some(("a:1".into(), None)));
        assert!(split_connect_string("a:1/x/").is_err());
        assert!(split_connect_string(" ").is_err());
    }

    #[test]
    fn a_scheme_is_refused_with_the_form_to_use() {
        let err = split_connect_string("zk://127.0.0.1:2181").expect_err("scheme");
        let text = err.to_string();
        assert!(text.contains("takes no scheme (zk://)") && text.contains("HOST:PORT"), "{text}");
    }

    #[test]
    fn same_hosts_in_any_order_are_one_environment_and_chroots_differ() {
        let a = Environment::of("10.0.0.2:2181,10.0.0.1:2181/prod").expect("a");
        let b = Environment::of("10.0.0.1:2181,10.0.0.2:2181,10.0.0.1:2181/prod").expect("b");
        let staging = Environment::of("10.0.0.1:2181,10.0.0.2:2181/staging").expect("staging");
        let other = Environment::of("10.0.0.3:2181/prod").expect("other");
        assert_eq!(a, b);
        assert_eq!(a.key(), "10.0.0.1:2181,10.0.0.2:2181/prod");
        assert_eq!(a.dir_name(), b.dir_name());
        assert!(a.dir_name().starts_with("prod-"), "{}", a.dir_name());
        assert_ne!(a.dir_name(), staging.dir_name());
        assert_ne!(a.dir_name(), other.dir_name());
        assert!(Environment::of("127.0.0.1:2181").expect("root").dir_name().starts_with("root-"));
        assert_eq!(Environment::of("h:1/").expect("slash").key(), "h:1");
    }
}
