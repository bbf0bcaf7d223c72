//! [`Session`], the user's handle on a logical session, and [`LiveClient`], the ZooKeeper client
//! of one generation.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use zookeeper_client::{Acl, Acls, Client, CreateMode, CreateOptions, SessionInfo};

use super::{SessionBuilder, SessionCore, SessionState};
use crate::error::{Error, Result};

/// A live ZooKeeper client and the generation (1 for the first ZooKeeper session, +1 for each
/// replacement after expiry) it belongs to. Do not keep it past a failed request: after
/// `SessionExpired` it is dead, and [`SessionCore::retry_after`] gives the next one.
#[derive(Clone, Debug)]
pub struct LiveClient {
    /// The client (chrooted like the session).
    pub client: Client,
    /// Its generation.
    pub generation: u64,
    pub(crate) acls: Arc<[Acl]>,
    /// The session it belongs to (weak: the session holds its live client).
    pub(crate) core: std::sync::Weak<SessionCore>,
}

impl LiveClient {
    /// The session's ACL for nodes it creates.
    pub fn acls(&self) -> Acls<'_> {
        Acls::new(&self.acls)
    }

    /// `mode` with the session's ACL.
    pub fn create_options(&self, mode: CreateMode) -> CreateOptions<'_> {
        mode.with_acls(self.acls())
    }

    /// `mkdir -p` on this client: creates `path` and its missing ancestors as persistent nodes
    /// with empty data and the session's ACL. Racing creators are tolerated. A deleted chroot is
    /// created again as [`Session::ensure_path`] does.
    ///
    /// # Errors
    /// [`Error::InvalidPath`]; [`Error::MissingChroot`]; [`Error::Zookeeper`] or
    /// [`Error::NotAuthorized`] naming the node whose create failed (connection loss included:
    /// retry with [`SessionCore::retry_after`]).
    pub async fn ensure_path(&self, path: &str) -> Result<()> {
        super::validate_path(path)?;
        match self.core.upgrade() {
            Some(core) => core.ensure_path_on(&self.client, path).await,
            None => Err(Error::SessionClosed),
        }
    }
}

/// One logical ZooKeeper session that survives disconnections and session expiry.
///
/// Cheap to clone; every clone is the same session. The session closes when the last clone (and
/// the last handle created from it, such as an [`crate::EphemeralNode`]) is dropped, or on
/// [`Session::close`].
///
/// ```no_run
/// # async fn demo() -> zkmesh_registry::Result<()> {
/// use zkmesh_registry::{Session, SessionState};
/// let session = Session::builder().session_timeout(std::time::Duration::from_secs(6))
///     .connect("127.0.0.1:2181/prod").await?;
/// let node = session.create_ephemeral("/services/greeter/providers/x", b"").await?;
/// let mut states = session.events();
/// while let Ok(state) = states.recv().await {
///     if state == SessionState::Reconnected { println!("back, {} still registered", node.path()); }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) shared: Arc<SessionCore>,
    pub(crate) _owner: Arc<OwnerGuard>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connect", &self.shared.connect)
            .field("state", &self.state())
            .field("generation", &self.generation())
            .finish()
    }
}

/// Closes the session when the last user-facing handle goes away (internal tasks hold only
/// [`SessionCore`], so they do not keep a session alive).
pub(crate) struct OwnerGuard(pub(crate) Arc<SessionCore>);

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        self.0.closed.send_replace(true);
    }
}

impl Session {
    /// A builder with the defaults.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// Connects with the default settings; see [`SessionBuilder::connect`].
    ///
    /// # Errors
    /// As [`SessionBuilder::connect`].
    pub async fn connect(connect: &str) -> Result<Session> {
        Self::builder().connect(connect).await
    }

    /// The state this session's background tasks share, for code built on the session (recipes,
    /// your own loops): the live client, the next generation, the retry policy. Holding it does
    /// not keep the session open.
    pub fn core(&self) -> Arc<SessionCore> {
        self.shared.clone()
    }

    /// The ZooKeeper ensemble and chroot of this session, which keys its disk files.
    pub fn environment(&self) -> &super::Environment {
        &self.shared.environment
    }

    /// The connect string this session was opened with.
    pub fn connect_string(&self) -> &str {
        &self.shared.connect
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        *self.shared.state.borrow()
    }

    /// A watch of the current state (latest value only; see [`Session::events`] for every transition).
    pub fn state_watch(&self) -> watch::Receiver<SessionState> {
        self.shared.state.subscribe()
    }

    /// Every state transition from now on, in order (a receiver that falls more than 64 behind
    /// gets `Lagged`).
    pub fn events(&self) -> broadcast::Receiver<SessionState> {
        self.shared.events.subscribe()
    }

    /// Waits until the session is connected.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`, [`Error::SessionClosed`] if it was closed.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let mut states = self.state_watch();
        let waited = tokio::time::timeout(
            timeout,
            states.wait_for(|s| s.is_connected() || *s == SessionState::Closed),
        )
        .await;
        match waited {
            Ok(Ok(s)) if s.is_connected() => Ok(()),
            Ok(_) => Err(Error::SessionClosed),
            Err(_) => Err(Error::Timeout { what: "a connected ZooKeeper session".into(), after: timeout }),
        }
    }

    /// How many ZooKeeper sessions this logical session has had (0 before the first, then +1
    /// for each replacement after expiry).
    pub fn generation(&self) -> u64 {
        self.shared.live.borrow().as_ref().map(|l| l.generation).unwrap_or(0)
    }

    /// The current ZooKeeper client, when a ZooKeeper session is live (for raw operations; it is
    /// replaced after expiry, so do not keep it).
    pub fn client(&self) -> Option<Client> {
        self.shared.live.borrow().as_ref().map(|l| l.client.clone())
    }

    /// The id of the current ZooKeeper session.
    pub fn session_id(&self) -> Option<i64> {
        self.shared.live.borrow().as_ref().map(|l| l.client.session_id().0)
    }

    /// Id and password of the current ZooKeeper session (what a test needs to expire it).
    pub fn session_info(&self) -> Option<SessionInfo> {
        self.shared.live.borrow().as_ref().map(|l| l.client.session().clone())
    }

    /// The ACL entries of nodes this session creates (see [`SessionBuilder::acl`]).
    pub fn acl(&self) -> &[Acl] {
        &self.shared.acls
    }

    /// The ACL for a node to create under `parent`: the parent's own when an
    /// [`AccessPolicy`](crate::AccessPolicy) governs it (it does not let anyone create), so that
    /// every writer of a namespace may update every document in it; else this session's ACL.
    ///
    /// # Errors
    /// [`Error::Zookeeper`] (connection loss included), [`Error::SessionClosed`].
    pub async fn acl_below(&self, parent: &str) -> Result<Vec<Acl>> {
        let live = self.shared.live_now()?;
        match live.client.get_acl(parent).await {
            Ok((acl, _)) if !acl.is_empty() && !super::lets_anyone_create(&acl) => Ok(acl),
            Ok(_) | Err(zookeeper_client::Error::NoNode) => Ok(self.shared.acls.to_vec()),
            Err(e) => Err(Error::zk("get_acl", parent, e)),
        }
    }

    /// The identities this session authenticates as, named without secrets (`digest:team`,
    /// `sasl:alice`, `x509:CN=...`), as the server knows them when it can be asked (ZooKeeper
    /// 3.7+), else as configured; `anonymous (no credentials)` without any.
    pub async fn identity(&self) -> String {
        let known = match self.client() {
            Some(client) => client.list_auth_users().await.ok(),
            None => None,
        };
        super::describe_identity(known.as_deref(), &self.shared.options)
    }

    /// The last error met while opening a ZooKeeper session, if the latest attempt failed.
    pub fn last_connect_error(&self) -> Option<zookeeper_client::Error> {
        self.shared.last_error()
    }

    /// Reads (`get_*` requests) issued by this session's watch loops so far.
    pub fn reads_issued(&self) -> u64 {
        self.shared.reads.load(Ordering::Relaxed)
    }

    /// `mkdir -p`: creates `path` and its missing ancestors as persistent nodes.
    ///
    /// # Errors
    /// [`Error::InvalidPath`], or [`Error::Zookeeper`] (connection loss included; retry or wait
    /// for [`SessionState::Reconnected`]).
    pub async fn ensure_path(&self, path: &str) -> Result<()> {
        crate::session::validate_path(path)?;
        let live = self.shared.live_now()?;
        self.shared.ensure_path_on(&live.client, path).await
    }

    /// Creates an ephemeral node that this session keeps alive: re-created after session
    /// expiry, re-created when someone deletes it, retried with back-off while ZooKeeper is
    /// unreachable. Missing parents are created. The node is deleted by
    /// [`crate::EphemeralNode::delete`] and (best effort) when the handle is dropped.
    ///
    /// Returns once the node exists, or once the first attempt failed with a retryable error
    /// (the node is then pending and [`crate::EphemeralNode::status`] tells).
    ///
    /// # Errors
    /// [`Error::InvalidPath`]; a non-retryable ZooKeeper error on the first attempt (such as
    /// `NoAuth`); [`Error::SessionClosed`].
    pub async fn create_ephemeral(&self, path: &str, data: &[u8]) -> Result<crate::EphemeralNode> {
        crate::session::validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidPath { path: path.into(), reason: "cannot create the root".into() });
        }
        super::ephemeral::create(self.clone(), path, data).await
    }

    /// Closes the session: ephemerals go with it, watch loops end, the state becomes `Closed`.
    pub async fn close(&self) {
        self.shared.closed.send_replace(true);
        let mut states = self.state_watch();
        let _ = tokio::time::timeout(Duration::from_secs(5), states.wait_for(|s| *s == SessionState::Closed))
            .await;
    }
}
