//! The crate's one error type.

use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong in `local_zk`.
///
/// Variants are named by cause and carry the context a user needs to act on them. The type is
/// `Clone` (sources are shared through `Arc`) so that one start-up failure can be handed to every
/// caller of [`shared_local_zookeeper`](crate::shared_local_zookeeper).
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Java, ZooKeeper's jars or `keytool` are missing.
    #[error("local ZooKeeper: {reason}")]
    NotInstalled {
        /// What is missing, where it was looked for, and what to install.
        reason: String,
    },
    /// A setting or argument ZooKeeper (or this crate) would refuse: session time-outs out of
    /// order, an ensemble of 8 members, no member `i`, a command that is not a four-letter word.
    #[error("local ZooKeeper: {reason}")]
    InvalidArgument {
        /// What was given and why it was refused.
        reason: String,
    },
    /// A server did not start: its JVM exited before it was ready, was not ready (or an
    /// ensemble formed no quorum) within the start-up timeout, or the TLS material could not be
    /// made.
    #[error("local ZooKeeper: {reason}")]
    Start {
        /// What happened, with the tail of the server's log where there is one.
        reason: String,
    },
    /// A server's JVM could not be signalled (stopped or killed).
    #[error("local ZooKeeper: {reason}")]
    Signal {
        /// The signal, the process and the operating system's answer.
        reason: String,
    },
    /// A session could not be expired ([`expire_session`](crate::expire_session)).
    #[error("local ZooKeeper: cannot expire session {session_id:#x}: {reason}")]
    Expire {
        /// The session.
        session_id: i64,
        /// What the last server tried answered.
        reason: String,
    },
    /// Waiting for something took longer than allowed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// Connecting a plain client to ZooKeeper failed ([`raw_client`](crate::raw_client)).
    #[error("cannot connect to ZooKeeper at {connect}: {source}")]
    Connect {
        /// The connect string.
        connect: String,
        /// What the client answered.
        #[source]
        source: zookeeper_client::Error,
    },
    /// A ZooKeeper operation on `path` failed.
    #[error("ZooKeeper {op} {path}: {source}")]
    Zookeeper {
        /// The operation (`create`).
        op: &'static str,
        /// The path it was applied to.
        path: String,
        /// What ZooKeeper (or the client) answered.
        #[source]
        source: zookeeper_client::Error,
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

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn not_installed(reason: impl Into<String>) -> Self {
        Error::NotInstalled { reason: reason.into() }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidArgument { reason: reason.into() }
    }

    pub(crate) fn start(reason: impl Into<String>) -> Self {
        Error::Start { reason: reason.into() }
    }

    pub(crate) fn signal(reason: impl Into<String>) -> Self {
        Error::Signal { reason: reason.into() }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source: Arc::new(source) }
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync + Clone + 'static>() {}
    is::<Error>();
}
