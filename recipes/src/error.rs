//! The crate's one error type.

use std::time::Duration;

/// Everything that can go wrong in a recipe.
///
/// Variants are named by cause and carry the context a user needs to act on them. The type is
/// `Clone`, `Send` and `Sync`. Errors of the session layer keep their meaning: a closed session
/// is [`Error::SessionClosed`], a failed ZooKeeper request [`Error::Zookeeper`] (or
/// [`Error::NotAuthorized`]) with its operation and path, whichever layer saw it.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A recipe name outside `[A-Za-z0-9._-]{1,255}` (or `.` / `..`).
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// What was named: `"lock"`, `"read/write lock"`, `"election"`, `"queue"`,
        /// `"barrier"` or `"id sequence"`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// An argument out of its range (a barrier of 0 participants), or in conflict with what is
    /// already in ZooKeeper (a barrier created for another size).
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// What was given (and where).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A node holds data a recipe cannot read (a shared count that is not a 4-byte integer).
    #[error("{path} holds data that is not {expected}: {found}")]
    InvalidData {
        /// The node.
        path: String,
        /// What the recipe expects there.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A ZooKeeper operation on `path` failed.
    #[error("ZooKeeper {op} {path}: {source}")]
    Zookeeper {
        /// The operation (`create`, `get_children`, ...).
        op: &'static str,
        /// The path it was applied to.
        path: String,
        /// What ZooKeeper (or the client) answered.
        #[source]
        source: zookeeper_client::Error,
    },
    /// ZooKeeper refused the operation for lack of permission (`NoAuth`): the node's ACL does
    /// not grant it to this session's credentials.
    #[error("not authorized to {op} {path} (the node's ACL does not allow this session)")]
    NotAuthorized {
        /// The operation.
        op: &'static str,
        /// The path.
        path: String,
    },
    /// The session was closed by its owner; nothing more can be done with it.
    #[error("the ZooKeeper session is closed")]
    SessionClosed,
    /// Waiting for something took longer than allowed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// Any other failure of the session layer.
    #[error(transparent)]
    Session(registry::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error for ZooKeeper operation `op` on `path` failing with `source` (`NoAuth` becomes
    /// [`Error::NotAuthorized`]).
    pub(crate) fn zk(op: &'static str, path: impl Into<String>, source: zookeeper_client::Error) -> Self {
        match source {
            zookeeper_client::Error::NoAuth => Error::NotAuthorized { op, path: path.into() },
            source => Error::Zookeeper { op, path: path.into(), source },
        }
    }

    /// The ZooKeeper error behind this one, if any.
    pub fn zookeeper_error(&self) -> Option<&zookeeper_client::Error> {
        match self {
            Error::Zookeeper { source, .. } => Some(source),
            Error::NotAuthorized { .. } => Some(&zookeeper_client::Error::NoAuth),
            Error::Session(e) => e.zookeeper_error(),
            _ => None,
        }
    }

    /// Whether trying the same thing again later may succeed (connection loss, time-outs, an
    /// expired session that the session layer is replacing).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Zookeeper { source, .. } => registry::is_transient(source),
            Error::Session(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<registry::Error> for Error {
    fn from(e: registry::Error) -> Self {
        match e {
            registry::Error::SessionClosed => Error::SessionClosed,
            registry::Error::Zookeeper { op, path, source } => Error::Zookeeper { op, path, source },
            registry::Error::NotAuthorized { op, path, .. } => Error::NotAuthorized { op, path },
            registry::Error::Timeout { what, after } => Error::Timeout { what, after },
            other => Error::Session(other),
        }
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync + Clone + 'static>() {}
    is::<Error>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_errors_keep_their_meaning() {
        let from = |e: registry::Error| Error::from(e);
        assert!(matches!(from(registry::Error::SessionClosed), Error::SessionClosed));
        let lost = registry::Error::from_zookeeper(
            "get_children",
            "/locks/x",
            zookeeper_client::Error::ConnectionLoss,
        );
        let lost = from(lost);
        assert!(matches!(&lost, Error::Zookeeper { op: "get_children", path, .. } if path == "/locks/x"));
        assert!(lost.is_retryable());
        let refused =
            from(registry::Error::from_zookeeper("create", "/locks/x", zookeeper_client::Error::NoAuth));
        assert!(matches!(refused, Error::NotAuthorized { op: "create", .. }));
        assert!(!refused.is_retryable());
    }
}
