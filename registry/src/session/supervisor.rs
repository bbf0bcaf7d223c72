//! One logical ZooKeeper session that outlives `SessionExpired`.
//!
//! `zookeeper-client` gives one ZooKeeper session per [`Client`], and a client is dead for good
//! once its session expires. [`Session`] owns a *logical* session on top: a supervisor task follows
//! the client's state, reports it as Curator-style [`SessionState`]s, and when the session is lost
//! it opens a new client (with back-off while ZooKeeper is unreachable), re-creates every ephemeral
//! node its owners registered, and only then announces [`SessionState::Reconnected`]. Watch loops
//! ([`crate::NodeWatch`]) and ephemeral keepers ([`crate::EphemeralNode`]) follow the new client by
//! its *generation* number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use zookeeper_client::{
    Acl, Acls, AuthId, Client, CreateMode, CreateOptions, Permission, SessionInfo, SessionState as ZkState,
};

use crate::backoff::Backoff;
use crate::ephemeral::{self, EphemeralSpec};
use crate::error::{Error, Result};

/// Connection state of a logical session, after Curator's `ConnectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// No ZooKeeper session has been established yet.
    Connecting,
    /// The first ZooKeeper session is established.
    Connected,
    /// The connection dropped; the ZooKeeper session may still be alive and its ephemerals with it.
    /// Nothing cached is cleared: data seen so far stays served.
    Suspended,
    /// The ZooKeeper session expired (or could not be resumed): its ephemerals are gone. The
    /// session layer is opening a new one and will re-create them.
    Lost,
    /// Connected again after `Suspended` (same ZooKeeper session) or after `Lost` (a new one, with
    /// every registered ephemeral re-created).
    Reconnected,
    /// Closed by its owner; terminal.
    Closed,
}

impl SessionState {
    /// Whether requests can be served now (`Connected` or `Reconnected`).
    pub fn is_connected(self) -> bool {
        matches!(self, SessionState::Connected | SessionState::Reconnected)
    }
}

/// Who may do what with the nodes zkmesh creates (registrations, parents, config documents,
/// recipe nodes), applied all the way up the paths it creates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeAcl {
    /// `world:anyone` may do everything (ZooKeeper's open ACL). The default.
    #[default]
    Open,
    /// The creator's authenticated identities may do everything, everyone else may only read
    /// (consumers need no credentials; nobody without them can delete or overwrite). Needs
    /// [`SessionBuilder::auth`].
    CreatorAllWorldRead,
    /// These ACL entries exactly.
    Custom(Vec<Acl>),
}

impl NodeAcl {
    fn entries(&self) -> Vec<Acl> {
        match self {
            NodeAcl::Open => vec![Acl::new(Permission::ALL, AuthId::anyone())],
            NodeAcl::CreatorAllWorldRead => vec![
                Acl::new(Permission::ALL, AuthId::new("auth", "")),
                Acl::new(Permission::READ, AuthId::anyone()),
            ],
            NodeAcl::Custom(entries) => entries.clone(),
        }
    }
}

/// A live ZooKeeper client and the generation (1 for the first ZooKeeper session, +1 for each
/// replacement after expiry) it belongs to.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    pub(crate) client: Client,
    pub(crate) generation: u64,
    acls: Arc<[Acl]>,
}

impl Live {
    /// The session's ACL for nodes it creates.
    pub(crate) fn acls(&self) -> Acls<'_> {
        Acls::new(&self.acls)
    }

    /// `mode` with the session's ACL.
    pub(crate) fn create_options(&self, mode: CreateMode) -> CreateOptions<'_> {
        mode.with_acls(self.acls())
    }
}

/// Builder for [`Session`]. Its `Debug` never shows credentials.
#[derive(Clone)]
pub struct SessionBuilder {
    session_timeout: Duration,
    connect_timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    auth: Vec<(String, Vec<u8>)>,
    create_chroot: bool,
    detached: bool,
    acl: NodeAcl,
    #[cfg(feature = "tls")]
    tls: Option<zookeeper_client::TlsOptions>,
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
        let shared = Arc::new(Shared {
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
            watch_permits: tokio::sync::Semaphore::new(crate::ephemeral::WATCHES_IN_FLIGHT),
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
            crate::path::validate_path(chroot)
                .map_err(|_| invalid("the chroot after the hosts is not a valid absolute path"))?;
            let chroot = (chroot != "/").then(|| chroot.to_owned());
            Ok((connect[..i].to_owned(), chroot))
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
/// # async fn demo() -> registry::Result<()> {
/// use registry::{Session, SessionState};
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
    pub(crate) shared: Arc<Shared>,
    _owner: Arc<OwnerGuard>,
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
/// [`Shared`], so they do not keep a session alive).
struct OwnerGuard(Arc<Shared>);

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
        crate::path::validate_path(path)?;
        let live = self.shared.live_now()?;
        crate::path::ensure_path(&live.client, path, live.acls()).await
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
        crate::path::validate_path(path)?;
        if path == "/" {
            return Err(Error::InvalidPath { path: path.into(), reason: "cannot create the root".into() });
        }
        ephemeral::create(self.clone(), path, data).await
    }

    /// Closes the session: ephemerals go with it, watch loops end, the state becomes `Closed`.
    pub async fn close(&self) {
        self.shared.closed.send_replace(true);
        let mut states = self.state_watch();
        let _ = tokio::time::timeout(Duration::from_secs(5), states.wait_for(|s| *s == SessionState::Closed))
            .await;
    }
}

// === impl Shared ===

/// The state every task of a logical session shares.
pub(crate) struct Shared {
    pub(crate) connect: String,
    hosts: String,
    chroot: Option<String>,
    options: SessionBuilder,
    state: watch::Sender<SessionState>,
    events: broadcast::Sender<SessionState>,
    live: watch::Sender<Option<Live>>,
    closed: watch::Sender<bool>,
    pub(crate) ephemerals: Mutex<HashMap<u64, Arc<EphemeralSpec>>>,
    pub(crate) next_ephemeral: AtomicU64,
    past_sessions: Mutex<Vec<i64>>,
    last_error: Mutex<Option<zookeeper_client::Error>>,
    pub(crate) reads: AtomicU64,
    acls: Arc<[Acl]>,
    /// Paces the ephemeral keepers' `exists` watches (see `ephemeral::WATCHES_IN_FLIGHT`).
    pub(crate) watch_permits: tokio::sync::Semaphore,
}

/// Locks a mutex, recovering from poisoning (every critical section here leaves the data valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn last_error(&self) -> Option<zookeeper_client::Error> {
        lock(&self.last_error).clone()
    }

    fn set_state(&self, state: SessionState) {
        let changed = self.state.send_if_modified(|s| {
            if *s == state || *s == SessionState::Closed {
                false
            } else {
                *s = state;
                true
            }
        });
        if changed {
            tracing::info!(connect = %self.connect, ?state, "zookeeper session state");
            let generation = self.live.borrow().as_ref().map(|l| l.generation).unwrap_or(0);
            crate::metrics::session_state(&self.connect, state, generation);
            let _ = self.events.send(state);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves when the session is closed.
    pub(crate) async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// The live client now, or an error saying why there is none.
    pub(crate) fn live_now(&self) -> Result<Live> {
        if self.is_closed() {
            return Err(Error::SessionClosed);
        }
        self.live.borrow().clone().ok_or_else(|| Error::Zookeeper {
            op: "connect",
            path: self.connect.clone(),
            source: zookeeper_client::Error::ConnectionLoss,
        })
    }

    /// Waits for a live client of a generation newer than `after` (0: any).
    pub(crate) async fn live_after(&self, after: u64) -> Result<Live> {
        let mut rx = self.live.subscribe();
        let mut closed = self.closed.subscribe();
        tokio::select! {
            live = rx.wait_for(|l| matches!(l, Some(l) if l.generation > after)) => {
                match live { Ok(l) => l.clone().ok_or(Error::SessionClosed), Err(_) => Err(Error::SessionClosed) }
            }
            _ = closed.wait_for(|c| *c) => Err(Error::SessionClosed),
        }
    }

    /// Waits until the connection is up again (after `ConnectionLoss`) or the generation moved
    /// past `generation`.
    pub(crate) async fn wait_usable(&self, generation: u64) -> Result<Live> {
        let mut states = self.state.subscribe();
        let mut live = self.live.subscribe();
        let mut closed = self.closed.subscribe();
        tokio::select! {
            _ = states.wait_for(|s| s.is_connected()) => {}
            _ = live.wait_for(|l| matches!(l, Some(l) if l.generation > generation)) => {}
            _ = closed.wait_for(|c| *c) => return Err(Error::SessionClosed),
        }
        self.live_after(0).await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.options.backoff_min, self.options.backoff_max)
    }

    pub(crate) fn new_backoff(&self) -> Backoff {
        self.backoff()
    }

    /// The ACL entries for created nodes.
    pub(crate) fn acl_entries(&self) -> &[Acl] {
        &self.acls
    }

    /// Whether `owner` is one of the earlier ZooKeeper sessions of this logical session.
    pub(crate) fn was_ours(&self, owner: i64) -> bool {
        lock(&self.past_sessions).contains(&owner)
    }

    async fn open_client(&self) -> std::result::Result<Client, zookeeper_client::Error> {
        let mut connector =
            Client::connector().with_session_timeout(self.options.session_timeout).with_fail_eagerly();
        for (scheme, credentials) in &self.options.auth {
            connector = connector.with_auth(scheme, credentials);
        }
        if self.options.detached {
            connector = connector.with_detached();
        }
        #[cfg(feature = "tls")]
        let client = match &self.options.tls {
            Some(tls) => connector.with_tls(tls.clone()).secure_connect(&self.hosts).await?,
            None => connector.connect(&self.hosts).await?,
        };
        #[cfg(not(feature = "tls"))]
        let client = connector.connect(&self.hosts).await?;
        match &self.chroot {
            None => Ok(client),
            Some(root) => {
                if self.options.create_chroot {
                    match crate::path::ensure_path(&client, root, Acls::new(&self.acls)).await {
                        Ok(()) => {}
                        Err(e) => {
                            return Err(e
                                .zookeeper_error()
                                .cloned()
                                .unwrap_or(zookeeper_client::Error::NoNode))
                        }
                    }
                }
                client
                    .chroot(root.as_str())
                    .map_err(|_| zookeeper_client::Error::BadArguments(&"invalid chroot"))
            }
        }
    }
}

/// The supervisor: opens ZooKeeper sessions, reports states, replays ephemerals after expiry.
async fn supervise(shared: Arc<Shared>) {
    let mut backoff = shared.backoff();
    let mut generation = 0u64;
    loop {
        // Open a ZooKeeper session, retrying while ZooKeeper is unreachable.
        let client = loop {
            if shared.is_closed() {
                finish(&shared);
                return;
            }
            let opened = tokio::select! {
                opened = shared.open_client() => opened,
                _ = shared.closed() => {
                    finish(&shared);
                    return;
                }
            };
            match opened {
                Ok(client) => break client,
                Err(e) => {
                    tracing::debug!(connect = %shared.connect, error = %e, "cannot open a zookeeper session yet");
                    *lock(&shared.last_error) = Some(e);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = shared.closed() => {}
                    }
                }
            }
        };
        backoff.reset();
        *lock(&shared.last_error) = None;
        generation += 1;
        let session_id = client.session_id();
        tracing::info!(connect = %shared.connect, session = %session_id, generation, "zookeeper session opened");
        ephemeral::replay(&shared, &client, generation).await;
        shared.live.send_replace(Some(Live {
            client: client.clone(),
            generation,
            acls: shared.acls.clone(),
        }));
        shared.set_state(if generation == 1 { SessionState::Connected } else { SessionState::Reconnected });

        // Follow it until it ends.
        let mut states = client.state_watcher();
        let ended = loop {
            tokio::select! {
                state = states.changed() => match state {
                    ZkState::Disconnected => shared.set_state(SessionState::Suspended),
                    ZkState::SyncConnected | ZkState::ConnectedReadOnly => shared.set_state(SessionState::Reconnected),
                    ZkState::Expired | ZkState::AuthFailed | ZkState::Closed => break state,
                },
                _ = shared.closed() => {
                    finish(&shared);
                    return;
                }
            }
        };
        tracing::warn!(connect = %shared.connect, session = %session_id, state = ?ended, "zookeeper session lost");
        lock(&shared.past_sessions).push(session_id.0);
        shared.live.send_replace(None);
        ephemeral::mark_lost(&shared);
        shared.set_state(SessionState::Lost);
    }
}

fn finish(shared: &Shared) {
    shared.live.send_replace(None);
    shared.set_state(SessionState::Closed);
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
