//! Who a watcher is: the instance name of its status node, the labels and zone a canary selects
//! by.
//!
//! The name defaults to `$ZKMESH_INSTANCE`, else `<hostname>-<pid>` (characters outside
//! `[A-Za-z0-9._-]` replaced by `_`). A canary by percentage hashes the name: give a process a
//! name that survives its restarts (a pod name, `web-3`) for the same selection after a restart.
//! Two watches of one document in one process under one name get `.2`, `.3`, ... appended to
//! the later ones' names, so that each keeps its own status node.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};

/// The longest label key, label value or zone accepted, in bytes.
pub const MAX_LABEL_LEN: usize = 255;

/// A watcher's identity: name, labels, zone; set on the [`crate::ConfigCenterBuilder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) zone: Option<String>,
}

impl Instance {
    /// The default identity: the default name, no labels, no zone.
    pub(crate) fn from_environment() -> Instance {
        Instance { name: default_name(), labels: BTreeMap::new(), zone: None }
    }

    /// Checks the name, labels and zone.
    pub(crate) fn check(&self) -> Result<()> {
        check_name(&self.name)?;
        for (key, value) in &self.labels {
            check_label("label", key)?;
            if value.len() > MAX_LABEL_LEN || value.contains('\0') {
                return Err(invalid(
                    "label",
                    value,
                    format!("a value is 0 to {MAX_LABEL_LEN} bytes, no NUL"),
                ));
            }
        }
        if let Some(zone) = &self.zone {
            check_label("zone", zone)?;
        }
        Ok(())
    }
}

fn invalid(what: &'static str, value: &str, reason: String) -> Error {
    Error::InvalidInstance { what, value: value.to_owned(), reason }
}

/// An instance name: a ZooKeeper node name of `[A-Za-z0-9._-]`, 1 to 255 characters.
pub(crate) fn check_name(name: &str) -> Result<()> {
    crate::name::validate_name("name", name).map_err(|e| match e {
        Error::InvalidName { reason, .. } => invalid("instance", name, reason),
        other => other,
    })
}

/// A label key or a zone: 1 to 255 bytes of `[A-Za-z0-9._/-]`.
fn check_label(what: &'static str, text: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    if text.is_empty() || text.len() > MAX_LABEL_LEN || !text.chars().all(allowed) {
        return Err(invalid(what, text, format!("1 to {MAX_LABEL_LEN} characters of [A-Za-z0-9._/-]")));
    }
    Ok(())
}

/// The process's default instance name ([`registry::default_instance`]: `$ZKMESH_INSTANCE`, else
/// `<hostname>-<pid>`), the same as its health nodes'.
fn default_name() -> String {
    registry::default_instance().to_owned()
}

pub(crate) use registry::hostname;

/// A status node path this process holds until the claim is dropped.
pub(crate) use registry::NodeClaim as Claim;

/// Claims `<dir>/<name>` in `environment` (ZooKeeper hosts and chroot) for one watch of this
/// process, or `<dir>/<name>.2`, `.3`, ... when another watch of this process holds it.
pub(crate) fn claim(environment: &str, dir: &str, name: &str) -> Arc<Claim> {
    Arc::new(Claim::take(environment, dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_node_names_and_claims_are_unique_in_a_process() {
        assert!(check_name(&default_name()).is_ok(), "{}", default_name());
        let a = claim("zk/a", "/config/t/claims/status", "w");
        let b = claim("zk/a", "/config/t/claims/status", "w");
        let elsewhere = claim("zk/b", "/config/t/claims/status", "w");
        assert_eq!((a.name(), b.name(), elsewhere.name()), ("w", "w.2", "w"));
        drop(a);
        assert_eq!(claim("zk/a", "/config/t/claims/status", "w").name(), "w", "free again");
    }

    #[test]
    fn bad_identities_are_refused() {
        let mut me = Instance { name: "web-1".into(), labels: BTreeMap::new(), zone: Some("az1".into()) };
        assert!(me.check().is_ok());
        me.name = "a/b".into();
        assert!(matches!(me.check(), Err(Error::InvalidInstance { what: "instance", .. })));
        me.name = "ok".into();
        me.labels.insert("bad key".into(), "v".into());
        assert!(matches!(me.check(), Err(Error::InvalidInstance { what: "label", .. })));
        me.labels.clear();
        me.zone = Some(String::new());
        assert!(matches!(me.check(), Err(Error::InvalidInstance { what: "zone", .. })));
    }
}
