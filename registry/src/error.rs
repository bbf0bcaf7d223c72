//! The crate's one error type.

use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong in `registry`.
///
/// Variants are named by cause and carry the context a user needs to act on them. The type is
/// `Clone` (sources are shared through `Arc`) so that one failure can fan out to many watchers.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A service name outside `[A-Za-z0-9._-]{1,255}`.
    #[error("invalid service name {name:?}: {reason}")]
    InvalidServiceName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A provider or consumer URL that does not parse or breaks the URL contract.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL (or node name) as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// An argument out of its range (a barrier of 0 participants, say), or in conflict with
    /// what is already in ZooKeeper (a barrier created for another size).
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// What was given (and where).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A traffic rules document that does not parse or validate; `line` and `column` (1-based,
    /// columns in characters) point at the offending text when known.
    #[error("invalid {document}{}: {reason}", show_position(.line, .column))]
    InvalidRules {
        /// Which document: its ZooKeeper path and version, or `rules document` for text.
        document: String,
        /// The line of the error.
        line: Option<usize>,
        /// The column of the error.
        column: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A ZooKeeper path that is not absolute, has empty segments or ends in `/`.
    #[error("invalid ZooKeeper path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A ZooKeeper operation on `path` failed.
    #[error("ZooKeeper {op} {path}: {source}")]
    Zookeeper {
        /// The operation (`create`, `get_data`, ...).
        op: &'static str,
        /// The path it was applied to.
        path: String,
        /// What ZooKeeper (or the client) answered.
        #[source]
        source: zookeeper_client::Error,
    },
    /// ZooKeeper refused the operation for lack of permission (`NoAuth`): the ACL that governs
    /// it (for a create or delete, the parent's; otherwise the node's own) does not grant it to
    /// this session's identity.
    #[error(
        "not authorized to {op} {path} as {identity} (the ACL there does not grant it to this identity)"
    )]
    NotAuthorized {
        /// The operation.
        op: &'static str,
        /// The path whose operation was refused (for a create, the node being created).
        path: String,
        /// Who asked, without secrets: `digest:team`, `sasl:alice`, `TLS client certificate`,
        /// `anonymous (no credentials)`, or `this session's credentials` where unknown.
        identity: String,
    },
    /// ZooKeeper refused an ACL (`InvalidACL`) naming identities of a scheme this server has no
    /// authentication provider for: a `sasl` identity needs SASL enabled on the server
    /// (`SASLAuthenticationProvider`), an `x509` one TLS client authentication.
    #[error(
        "ZooKeeper refused the ACL of {path}: it accepts no {} identity here (a sasl identity needs \
         SASL enabled on the server, an x509 one TLS client authentication)",
        .identities.join(", ")
    )]
    UnsupportedIdentity {
        /// The node whose ACL was refused.
        path: String,
        /// The identities of the ACL whose scheme depends on the server's configuration
        /// (`sasl:bob`, `x509:CN=...`), by name.
        identities: Vec<String>,
    },
    /// Connecting to ZooKeeper failed.
    #[error("cannot connect to ZooKeeper at {connect}: {reason}")]
    Connect {
        /// The connect string.
        connect: String,
        /// Why, as far as it is known: "connection refused at 127.0.0.1:2181", "no session
        /// within 15s".
        reason: String,
        /// What the client answered.
        #[source]
        source: zookeeper_client::Error,
    },
    /// The chroot of the connect string does not exist (it was deleted, or never created) and
    /// this session may not create it (`SessionBuilder::create_chroot(false)`).
    #[error(
        "the chroot {chroot} of {connect} does not exist (deleted?); create it, or let the session create it"
    )]
    MissingChroot {
        /// The chroot path.
        chroot: String,
        /// The connect string.
        connect: String,
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
    /// A request found no provider to go to: none is registered, none passes the
    /// subscription's filter, or the service of every one failed. (Ejection never causes it: it
    /// always leaves a provider in the set.)
    #[error("no provider of {service}: {reason}")]
    NoProvider {
        /// The service.
        service: String,
        /// Why there is none.
        reason: String,
    },
    /// A disk snapshot that cannot be read back (truncated, edited, another format).
    #[error("corrupt snapshot {path}: {reason}")]
    CorruptSnapshot {
        /// The snapshot file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (with the file name).
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// The identity of an [`Error::NotAuthorized`] raised where the session is not known (a layer
/// above may replace it with the identities it knows).
pub const UNKNOWN_IDENTITY: &str = "this session's credentials";

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error for ZooKeeper operation `op` on `path` failing with `source`
    /// (`NoAuth` becomes [`Error::NotAuthorized`]).
    pub fn from_zookeeper(
        op: &'static str,
        path: impl Into<String>,
        source: zookeeper_client::Error,
    ) -> Self {
        Self::zk(op, path, source)
    }

    pub(crate) fn zk(op: &'static str, path: impl Into<String>, source: zookeeper_client::Error) -> Self {
        match source {
            zookeeper_client::Error::NoAuth => {
                Error::NotAuthorized { op, path: path.into(), identity: UNKNOWN_IDENTITY.to_owned() }
            }
            source => Error::Zookeeper { op, path: path.into(), source },
        }
    }

    /// This error with `identity` in a [`Error::NotAuthorized`] that does not name one yet.
    pub(crate) fn with_identity(self, who: impl FnOnce() -> String) -> Self {
        match self {
            Error::NotAuthorized { op, path, identity } if identity == UNKNOWN_IDENTITY => {
                Error::NotAuthorized { op, path, identity: who() }
            }
            other => other,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source: Arc::new(source) }
    }

    /// The ZooKeeper error behind this one, if any.
    pub fn zookeeper_error(&self) -> Option<&zookeeper_client::Error> {
        match self {
            Error::Zookeeper { source, .. } | Error::Connect { source, .. } => Some(source),
            Error::NotAuthorized { .. } => Some(&zookeeper_client::Error::NoAuth),
            _ => None,
        }
    }

    /// Whether trying the same thing again later may succeed (connection loss, time-outs,
    /// an expired session that the session layer is replacing).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Io { .. } => true,
            Error::Zookeeper { source, .. } | Error::Connect { source, .. } => {
                crate::session::is_transient(source)
            }
            _ => false,
        }
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync + Clone + 'static>() {}
    is::<Error>();
}

/// ` at line L, column C` when known.
fn show_position(line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}
