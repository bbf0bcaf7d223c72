//! Leader election with an observable leader, laid out like Curator's `LeaderLatch`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use zookeeper_client::{Error as ZkError, EventType, OneshotWatcher};

use registry::{LiveClient, Retry, Session, SessionCore};

use crate::contend::{acquire, predecessor, Line};
use crate::error::{Error, Result};
use crate::held::Held;
use crate::name::recipe_dir;
use crate::node::sorted_children;
use crate::retry::{Failed, Patience};

/// Where elections live.
const ROOT: &str = "/election";
/// What its names name, for errors.
const KIND: &str = "election";
/// Curator's `LeaderLatch` node name.
const MARKER: &str = "latch-";

/// Leader election among the processes that name the same election.
///
/// Candidates are EPHEMERAL_SEQUENTIAL nodes `/election/<name>/_c_<uuid>-latch-<seq>` whose
/// data is the candidate's identity (its id or URL; Curator's `LeaderLatch` layout, where the
/// data is the participant id). The lowest leads; every other candidate watches only the one just
/// before it, so the end of a leader wakes only its successor.
///
/// [`LeaderElection::elect`] resolves when this process leads and gives a [`Leadership`].
/// Leadership ends with [`Leadership::resign`] (or by dropping it), and is *lost* when the
/// ZooKeeper session expires or someone deletes the node: [`Leadership::is_leader`] turns false,
/// its [`Leadership::watch`] flips and [`Leadership::lost`] resolves. A lost leadership is not
/// taken back by itself: to run again, call [`LeaderElection::elect`] again (it joins at the end of
/// the line, under the new session). While the session is only `Suspended` the leader still says
/// it leads, although ZooKeeper may expire its session (and elect another) before this process
/// hears of it: work that must never run twice should also pause on
/// [`registry::SessionState::Suspended`].
///
/// Anyone, candidate or not, can follow who leads with [`LeaderObserver`].
///
/// ```no_run
/// # async fn demo(session: registry::Session) -> zkmesh_recipes::Result<()> {
/// use zkmesh_recipes::LeaderElection;
/// let election = LeaderElection::new(&session, "scheduler", b"http://10.0.0.5:8080")?;
/// loop {
///     let leadership = election.elect().await?;
///     tokio::select! {
///         _ = leadership.lost() => continue, // session expired: run again
///         _ = async { /* lead */ } => { leadership.resign().await?; break }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LeaderElection {
    session: Session,
    dir: String,
    identity: Vec<u8>,
}

impl LeaderElection {
    /// The election `name` (a service-name-like path segment), for a candidate known to others
    /// as `identity` (written as its node's data). Nothing is written until [`LeaderElection::elect`].
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn new(session: &Session, name: &str, identity: &[u8]) -> Result<LeaderElection> {
        Ok(LeaderElection {
            session: session.clone(),
            dir: recipe_dir(KIND, ROOT, name)?,
            identity: identity.to_vec(),
        })
    }

    /// The election's directory, `/election/<name>`.
    pub fn path(&self) -> &str {
        &self.dir
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &[u8] {
        &self.identity
    }

    /// Stands as a candidate and waits (through disconnections and session expiry) until this
    /// process leads. Cancel-safe: dropping the future withdraws the candidacy. Each call is a
    /// new candidacy; call it again after a [`Leadership`] was lost or resigned to run again.
    ///
    /// # Errors
    /// [`Error::SessionClosed`]; a ZooKeeper error that waiting cannot cure (such as `NoAuth`).
    pub async fn elect(&self) -> Result<Leadership> {
        let line = Line {
            dir: &self.dir,
            marker: MARKER,
            markers: &[MARKER],
            blocker: predecessor,
            what: "leadership",
        };
        match acquire(&self.session, line, &self.identity, Patience::Forever).await? {
            Some(held) => Ok(Leadership { held }),
            None => Err(Error::SessionClosed),
        }
    }

    /// Follows the leader of this election; see [`LeaderObserver::new`].
    ///
    /// # Errors
    /// As [`LeaderObserver::new`].
    pub async fn observe(&self) -> Result<LeaderObserver> {
        LeaderObserver::start(&self.session, self.dir.clone()).await
    }
}

/// This process leads; see [`LeaderElection`].
///
/// Dropping it resigns in the background; [`Leadership::resign`] resigns and says whether that
/// worked.
#[derive(Debug)]
pub struct Leadership {
    held: Held,
}

impl Leadership {
    /// The candidate node, e.g. `/election/scheduler/_c_<uuid>-latch-0000000003`.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// The fencing token of this leadership: greater than the token of every earlier leader of
    /// this election. It is the zxid of the candidate node's creation; see
    /// [`LockGuard::fencing_token`](crate::LockGuard::fencing_token) for why it increases and
    /// for "the holder that paused": a leader that stalls past its session timeout and then
    /// writes must be refused by storage that saw a newer leader's higher token.
    pub fn fencing_token(&self) -> u64 {
        self.held.token()
    }

    /// Whether this process still leads (false once lost or resigned).
    pub fn is_leader(&self) -> bool {
        self.held.is_held()
    }

    /// A watch of [`Leadership::is_leader`]: true while leading, flips to false when lost.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.held.watch()
    }

    /// Resolves once leadership is lost (at once if it already is): the cancellation signal for
    /// the leader's work.
    pub async fn lost(&self) {
        self.held.lost().await
    }

    /// Gives leadership up: deletes the candidate node (the next candidate takes over), waiting
    /// up to 10 s for a connection if ZooKeeper is unreachable.
    ///
    /// # Errors
    /// The ZooKeeper error (or [`Error::Timeout`]) if the node could not be deleted; it then
    /// still goes when the ZooKeeper session ends.
    pub async fn resign(self) -> Result<()> {
        self.held.release().await
    }
}

/// The current leader of an election, as [`LeaderObserver`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leader {
    /// The leader's identity (its candidate node's data).
    pub identity: Vec<u8>,
    /// The leader's candidate node.
    pub path: String,
    /// The ZooKeeper session that owns the node.
    pub session_id: i64,
}

/// Follows who leads an election, whether or not this process is a candidate.
///
/// The observer watches only the leader's node (one watch, woken only when the leader changes),
/// and reads the new leader when it goes. [`LeaderObserver::leader`] is the last leader read
/// (`None`: nobody stands); [`LeaderObserver::changed`] waits for another, and the observer is a
/// [`Stream`](futures::Stream) of them (the current one first). A slow reader sees the latest
/// leader, not every short-lived one in between. The leader seen last stays while ZooKeeper is
/// unreachable; after session expiry the observer reads again on the new session.
#[derive(Debug)]
pub struct LeaderObserver {
    rx: watch::Receiver<Option<Leader>>,
    stream: WatchStream<Option<Leader>>,
    task: tokio::task::JoinHandle<()>,
    /// Keeps the session open while anyone observes (like `Subscription` and `Config` do).
    _session: Session,
}

impl LeaderObserver {
    /// Follows the leader of election `name` on `session`. Reads the current leader before it
    /// returns.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; a ZooKeeper error from the first read (connection loss
    /// when ZooKeeper is unreachable now: [`Error::is_retryable`]); [`Error::SessionClosed`].
    pub async fn new(session: &Session, name: &str) -> Result<LeaderObserver> {
        Self::start(session, recipe_dir(KIND, ROOT, name)?).await
    }

    async fn start(session: &Session, dir: String) -> Result<LeaderObserver> {
        let shared = session.core();
        let live = shared.live_now()?;
        let (leader, watcher) = read_leader(&live, &dir).await?;
        let (tx, rx) = watch::channel(leader);
        let stream = WatchStream::new(rx.clone());
        let task = tokio::spawn(follow(shared, dir, live, watcher, tx));
        Ok(LeaderObserver { rx, stream, task, _session: session.clone() })
    }

    /// The leader read last (`None`: no candidate).
    pub fn leader(&self) -> Option<Leader> {
        self.rx.borrow().clone()
    }

    /// Waits until the leader differs from the one last returned by this method (or, the
    /// first time, from the one when the observer was made), and returns it.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] once the session is closed.
    pub async fn changed(&mut self) -> Result<Option<Leader>> {
        self.rx.changed().await.map_err(|_| Error::SessionClosed)?;
        Ok(self.rx.borrow_and_update().clone())
    }

    /// Waits until `pred` holds for the current leader, and returns it.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`; [`Error::SessionClosed`].
    pub async fn wait_for(
        &mut self,
        timeout: std::time::Duration,
        mut pred: impl FnMut(Option<&Leader>) -> bool,
    ) -> Result<Option<Leader>> {
        match tokio::time::timeout(timeout, self.rx.wait_for(|l| pred(l.as_ref()))).await {
            Ok(Ok(leader)) => Ok(leader.clone()),
            Ok(Err(_)) => Err(Error::SessionClosed),
            Err(_) => Err(Error::Timeout { what: "a leader to match".into(), after: timeout }),
        }
    }
}

impl futures::Stream for LeaderObserver {
    type Item = Option<Leader>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl Drop for LeaderObserver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the current leader and watches what makes it change: the leader's node, or (when
/// nobody stands) the directory's children, or (when there is no directory) its creation.
async fn read_leader(
    live: &LiveClient,
    dir: &str,
) -> std::result::Result<(Option<Leader>, OneshotWatcher), Failed> {
    loop {
        let children = match live.client.get_children(dir).await {
            Ok((children, _)) => children,
            Err(ZkError::NoNode) => match live.client.check_and_watch_stat(dir).await {
                Ok((None, watcher)) => return Ok((None, watcher)),
                Ok((Some(_), _)) => continue,
                Err(e) => return Err(Failed::new("check_and_watch_stat", dir, e)),
            },
            Err(e) => return Err(Failed::new("get_children", dir, e)),
        };
        let Some(first) = sorted_children(children, &[MARKER]).into_iter().next() else {
            // Nobody stands: watch for the first candidate (the only time the parent is watched).
            match live.client.get_and_watch_children(dir).await {
                Ok((children, _, watcher)) => {
                    if sorted_children(children, &[MARKER]).is_empty() {
                        return Ok((None, watcher));
                    }
                    continue;
                }
                Err(ZkError::NoNode) => continue,
                Err(e) => return Err(Failed::new("get_and_watch_children", dir, e)),
            }
        };
        let path = registry::join(dir, &first.name);
        match live.client.get_and_watch_data(&path).await {
            Ok((identity, stat, watcher)) => {
                return Ok((Some(Leader { identity, path, session_id: stat.ephemeral_owner }), watcher))
            }
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(Failed::new("get_and_watch_data", path, e)),
        }
    }
}

/// The observer's loop: wait for the watch, read again, publish.
async fn follow(
    shared: Arc<SessionCore>,
    dir: String,
    mut live: LiveClient,
    mut watcher: OneshotWatcher,
    tx: watch::Sender<Option<Leader>>,
) {
    let mut backoff = shared.backoff();
    loop {
        let event = tokio::select! {
            event = registry::watch_event(watcher) => event,
            _ = shared.closed() => return,
            _ = tx.closed() => return,
        };
        if event == EventType::Session {
            match shared.live_after(live.generation).await {
                Ok(next) => live = next,
                Err(_) => return,
            }
        }
        watcher = loop {
            match read_leader(&live, &dir).await {
                Ok((leader, watcher)) => {
                    backoff.reset();
                    tx.send_if_modified(|current| {
                        let differs = *current != leader;
                        if differs {
                            tracing::debug!(%dir, leader = ?leader.as_ref().map(|l| &l.path), "leader changed");
                            *current = leader;
                        }
                        differs
                    });
                    break watcher;
                }
                Err(Failed { path, error, .. }) => {
                    if Retry::of(&error) != Retry::NextSession {
                        tracing::debug!(%path, %error, "cannot read the leader yet");
                    }
                    match shared.retry_after(&live, &mut backoff, &error).await {
                        Ok(next) => live = next,
                        Err(_) => return,
                    }
                }
            }
        };
    }
}
