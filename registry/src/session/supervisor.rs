//! [`SessionCore`], the state a logical session's tasks share, and the supervisor task that
//! opens ZooKeeper sessions, reports their states and replaces an expired one.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use zookeeper_client::{Acl, Client, SessionState as ZkState};

use super::ephemeral::{self, EphemeralSpec};
use super::{Backoff, LiveClient, SessionBuilder, SessionState};
use crate::error::{Error, Result};

// === impl SessionCore ===

/// The state every task of a logical session shares: the live client of the current generation,
/// the state, the ephemerals to re-create. Obtained from [`Session::core`](super::Session::core);
/// holding it does **not** keep the session open (the last [`Session`](super::Session) clone
/// closes it), so background tasks hold this rather than a `Session`.
pub struct SessionCore {
    pub(crate) connect: String,
    pub(crate) environment: super::Environment,
    pub(crate) hosts: String,
    pub(crate) chroot: Option<String>,
    pub(crate) options: SessionBuilder,
    pub(crate) state: watch::Sender<SessionState>,
    pub(crate) events: broadcast::Sender<SessionState>,
    pub(crate) live: watch::Sender<Option<LiveClient>>,
    pub(crate) closed: watch::Sender<bool>,
    pub(crate) ephemerals: Mutex<HashMap<u64, Arc<EphemeralSpec>>>,
    pub(crate) next_ephemeral: AtomicU64,
    pub(crate) past_sessions: Mutex<Vec<i64>>,
    pub(crate) last_error: Mutex<Option<zookeeper_client::Error>>,
    pub(crate) reads: AtomicU64,
    /// Set once a server refused `addWatch` (before ZooKeeper 3.6): the session's followers
    /// then use one-shot watches without asking again (a 3.5 server also drops the
    /// connection of a request it does not know).
    pub(crate) persistent_watches_refused: std::sync::atomic::AtomicBool,
    pub(crate) acls: Arc<[Acl]>,
    /// Paces the ephemeral keepers' watches (see `ephemeral::WATCHES_IN_FLIGHT`).
    pub(crate) watch_permits: tokio::sync::Semaphore,
}

/// Locks a mutex, recovering from poisoning (every critical section here leaves the data valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionCore {
    pub(crate) fn last_error(&self) -> Option<zookeeper_client::Error> {
        lock(&self.last_error).clone()
    }

    pub(crate) fn set_state(&self, state: SessionState) {
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

    /// Whether the session was closed by its owner.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves when the session is closed.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// The live client now, or an error saying why there is none.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; [`Error::Zookeeper`] with `ConnectionLoss` while no ZooKeeper
    /// session is open.
    pub fn live_now(&self) -> Result<LiveClient> {
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
    ///
    /// # Errors
    /// [`Error::SessionClosed`].
    pub async fn live_after(&self, after: u64) -> Result<LiveClient> {
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
    /// past `generation`, and returns the live client then.
    ///
    /// # Errors
    /// [`Error::SessionClosed`].
    pub async fn wait_usable(&self, generation: u64) -> Result<LiveClient> {
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

    /// A fresh back-off with the session's retry bounds ([`SessionBuilder::retry_backoff`]).
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.options.backoff_min, self.options.backoff_max)
    }

    /// The ACL entries of nodes this session creates.
    pub fn acl_entries(&self) -> &[Acl] {
        &self.acls
    }

    /// Whether `owner` (a node's `ephemeralOwner`) is one of the earlier, dead ZooKeeper sessions
    /// of this logical session.
    pub fn was_ours(&self, owner: i64) -> bool {
        lock(&self.past_sessions).contains(&owner)
    }

    /// `mkdir -p` of `path` on `client` (a client of this session, chrooted like it). When the
    /// session's chroot itself is gone (someone deleted `/prod` while the session lives), it is
    /// created again through the same ZooKeeper session, if this session may create its chroot
    /// ([`SessionBuilder::create_chroot`]); otherwise the error names the chroot.
    ///
    /// # Errors
    /// [`Error::MissingChroot`]; the ZooKeeper error of a create.
    pub(crate) async fn ensure_path_on(&self, client: &Client, path: &str) -> Result<()> {
        let result = self.ensure_path_inner(client, path).await;
        match result {
            Err(e @ Error::NotAuthorized { .. }) => Err(self.name_identity(client, e).await),
            other => other,
        }
    }

    async fn ensure_path_inner(&self, client: &Client, path: &str) -> Result<()> {
        let shared = self.options.acl.shared_entries();
        let first = super::ensure_path(client, path, &shared).await;
        let Some(root) = self.chroot.as_deref() else { return first };
        match first {
            Err(Error::Zookeeper { source: zookeeper_client::Error::NoNode, path: failed, .. })
                if super::parent(&failed) == Some("/") =>
            {
                let missing =
                    || Error::MissingChroot { chroot: root.to_owned(), connect: self.connect.clone() };
                if !self.options.create_chroot {
                    return Err(missing());
                }
                let unrooted = client.clone().chroot("/").map_err(|_| missing())?;
                super::ensure_path(&unrooted, root, &shared).await?;
                tracing::warn!(connect = %self.connect, chroot = %root, "the chroot was deleted; created it again");
                super::ensure_path(client, path, &shared).await
            }
            other => other,
        }
    }

    /// `err` naming the identity ZooKeeper knows `client` by, if it is a
    /// [`Error::NotAuthorized`] that names none yet.
    pub(crate) async fn name_identity(&self, client: &Client, err: Error) -> Error {
        if !matches!(err, Error::NotAuthorized { .. }) {
            return err;
        }
        let known = client.list_auth_users().await.ok();
        err.with_identity(|| super::describe_identity(known.as_deref(), &self.options))
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
        #[cfg(feature = "gssapi")]
        if let Some(host) = &self.options.gssapi {
            let mut gssapi = zookeeper_client::SaslOptions::gssapi();
            if let Some(host) = host {
                gssapi = gssapi.with_hostname(host.clone());
            }
            connector = connector.with_sasl(gssapi);
        }
        #[cfg(feature = "sasl")]
        if let Some((user, password)) = &self.options.sasl {
            connector = connector
                .with_sasl(zookeeper_client::SaslOptions::digest_md5(user.clone(), password.clone()));
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
                    match crate::session::ensure_path(&client, root, &self.options.acl.shared_entries()).await
                    {
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
pub(crate) async fn supervise(shared: Arc<SessionCore>) {
    let mut backoff = shared.backoff();
    let mut generation = 0u64;
    loop {
        let Some(client) = open_until_done(&shared, &mut backoff).await else {
            finish(&shared);
            return;
        };
        backoff.reset();
        *lock(&shared.last_error) = None;
        generation += 1;
        let session_id = client.session_id();
        tracing::info!(connect = %shared.connect, session = %session_id, generation, "zookeeper session opened");
        ephemeral::replay(&shared, &client, generation).await;
        shared.live.send_replace(Some(LiveClient {
            client: client.clone(),
            generation,
            acls: shared.acls.clone(),
            core: Arc::downgrade(&shared),
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

/// Opens a ZooKeeper session, retrying with back-off while ZooKeeper is unreachable (each
/// failure is kept as the session's last connect error). `None`: the session was closed.
async fn open_until_done(shared: &SessionCore, backoff: &mut Backoff) -> Option<Client> {
    loop {
        if shared.is_closed() {
            return None;
        }
        let opened = tokio::select! {
            opened = shared.open_client() => opened,
            _ = shared.closed() => return None,
        };
        match opened {
            Ok(client) => return Some(client),
            Err(e) => {
                tracing::debug!(connect = %shared.connect, error = %e, "cannot open a zookeeper session yet");
                *lock(&shared.last_error) = Some(e);
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = shared.closed() => {}
                }
            }
        }
    }
}

fn finish(shared: &SessionCore) {
    shared.live.send_replace(None);
    shared.set_state(SessionState::Closed);
}
