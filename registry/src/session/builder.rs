//! [`SessionBuilder`]: how a logical session connects.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use zookeeper_client::Acl;

use super::handle::OwnerGuard;
use super::supervisor::supervise;
use super::{NodeAcl, Session, SessionCore, SessionState};
use crate::error::{Error, Result};

/// Builder for [`Session`]. Its `Debug` never shows credentials.
#[derive(Clone)]
pub struct SessionBuilder {
    pub(crate) session_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) auth: Vec<(String, Vec<u8>)>,
    pub(crate) create_chroot: bool,
    pub(crate) detached: bool,
    pub(crate) acl: NodeAcl,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<zookeeper_client::TlsOptions>,
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let schemes: Vec<&str> = self.auth.iter().map(|(scheme, _)| scheme.as_str()).collect();
        f.debug_struct("SessionBuilder")
            .field("session_timeout", &self.session_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("auth_schemes", &schemes)
            .field("acl", &self.acl)
            .field("detached", &self.detached)
            .field("tls", &self.uses_tls())
            .finish_non_exhaustive()
    }
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            session_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            auth: Vec::new(),
            create_chroot: true,
            detached: false,
            acl: NodeAcl::Open,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl SessionBuilder {
    /// Session timeout asked of ZooKeeper (which clamps it to its own min/max). Default: 10 s.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long [`SessionBuilder::connect`] waits for the first session. Default: 15 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Shortest and longest delay between attempts to open a new session while ZooKeeper is
    /// unreachable. Default: 50 ms doubling up to 2 s.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// Adds authentication (for example `("digest", b"user:password")`), sent on every session
    /// this logical session opens. Default: none.
    pub fn auth(mut self, scheme: &str, credentials: &[u8]) -> Self {
        self.auth.push((scheme.to_owned(), credentials.to_vec()));
        self
    }

    /// Whether a chroot in the connect string (`host:port/prefix`) is created when missing.
    /// Default: true.
    pub fn create_chroot(mut self, create: bool) -> Self {
        self.create_chroot = create;
        self
    }

    /// Connects over TLS with these options (CA certificates, optional client identity); every
    /// server of the connect string must then be a TLS port (ZooKeeper's `secureClientPort`).
    /// Default: plain TCP. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, options: zookeeper_client::TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The ACL of every node this session creates (registrations and their parents, config
    /// documents, recipe nodes, the chroot). Default: [`NodeAcl::Open`].
    pub fn acl(mut self, acl: NodeAcl) -> Self {
        self.acl = acl;
        self
    }

    /// Whether closing (or dropping) the session leaves the ZooKeeper session to expire on the
    /// server's timeout instead of closing it, as a crashed process would: its ephemerals stay
    /// until then. For crash drills and demos. Default: false (close, ephemerals go at once).
    pub fn detached(mut self, detached: bool) -> Self {
        self.detached = detached;
        self
    }

    /// Connects to `connect` (`host:port[,host:port…][/chroot]`) and waits for the first session.
    ///
    /// # Errors
    /// [`Error::Connect`] when no session could be opened within the connect timeout (the last
    /// client error is the source), [`Error::InvalidPath`] for a malformed chroot.
    pub async fn connect(self, connect: &str) -> Result<Session> {
        let timeout = self.connect_timeout;
        let tls = self.uses_tls();
        let session = self.connect_lazy(connect)?;
        let mut states = session.shared.state.subscribe();
        let waited = tokio::time::timeout(timeout, states.wait_for(|s| s.is_connected())).await;
        match waited {
            Ok(Ok(_)) => Ok(session),
            _ => {
                let source = session.shared.last_error().unwrap_or(zookeeper_client::Error::Timeout);
                session.close().await;
                if tls {
                    tracing::warn!(
                        %connect,
                        "TLS connection failed: check that these are TLS ports (secureClientPort) and the CA; \
                         RUST_LOG=zookeeper_client=debug shows the handshake error"
                    );
                }
                Err(Error::Connect { connect: connect.to_owned(), source })
            }
        }
    }

    /// Returns at once with a session in state [`SessionState::Connecting`] that keeps trying to
    /// connect in the background (for booting from a disk snapshot while ZooKeeper is down).
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a malformed chroot.
    pub fn connect_lazy(self, connect: &str) -> Result<Session> {
        let (hosts, chroot) = split_connect_string(connect)?;
        let (state, _) = watch::channel(SessionState::Connecting);
        let (live, _) = watch::channel(None);
        let (events, _) = broadcast::channel(64);
        let (closed, _) = watch::channel(false);
        let acls: Arc<[Acl]> = self.acl.entries().into();
        let shared = Arc::new(SessionCore {
            connect: connect.to_owned(),
            hosts,
            chroot,
            options: self,
            state,
            events,
            live,
            closed,
            ephemerals: Mutex::new(HashMap::new()),
            next_ephemeral: AtomicU64::new(1),
            past_sessions: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            reads: AtomicU64::new(0),
            acls,
            watch_permits: tokio::sync::Semaphore::new(crate::session::WATCHES_IN_FLIGHT),
        });
        tokio::spawn(supervise(shared.clone()));
        Ok(Session { shared: shared.clone(), _owner: Arc::new(OwnerGuard(shared)) })
    }
}

fn split_connect_string(connect: &str) -> Result<(String, Option<String>)> {
    let invalid = |reason: &str| Error::InvalidPath { path: connect.to_owned(), reason: reason.to_owned() };
    if connect.trim().is_empty() {
        return Err(invalid("empty connect string"));
    }
    match connect.find('/') {
        None => Ok((connect.to_owned(), None)),
        Some(i) => {
            let chroot = &connect[i..];
            crate::session::validate_path(chroot)
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
}
