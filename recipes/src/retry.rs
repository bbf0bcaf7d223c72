//! The recipes' one retry loop: attempts on a live client until one finishes, across
//! disconnections and session expiry, within the caller's patience.
//!
//! A recipe states what one attempt does ([`Attempts::attempt`]): it makes its requests on
//! [`Attempt::live`] and comes to a [`Step`] (done, look again at once, out of time), or stops
//! at a [`Setback`]: a failed request, classified by [`registry::Retry`] and waited out with
//! [`SessionCore::retry_after`] (the session layer's policy), or a final error. [`retry`] runs
//! the attempts.

use std::future::Future;

use tokio::time::Instant;
use zookeeper_client::{Error as ZkError, EventType, OneshotWatcher};

use registry::{Backoff, LiveClient, Retry, SessionCore};

use crate::error::{Error, Result};

/// How long a caller waits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// Not at all: take what is there now (a connection problem is an error).
    Never,
    /// Until the deadline.
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Patience {
    fn deadline(self) -> Option<Instant> {
        match self {
            Patience::Never => Some(Instant::now()),
            Patience::Until(deadline) => Some(deadline),
            Patience::Forever => None,
        }
    }
}

/// A failed request: the operation, its path and the client's error.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) op: &'static str,
    pub(crate) path: String,
    pub(crate) error: ZkError,
}

impl Failed {
    pub(crate) fn new(op: &'static str, path: impl Into<String>, error: ZkError) -> Failed {
        Failed { op, path: path.into(), error }
    }
}

impl From<Failed> for Error {
    fn from(f: Failed) -> Error {
        Error::zk(f.op, f.path, f.error)
    }
}

/// What ends an attempt short of a [`Step`].
#[derive(Debug)]
pub(crate) enum Setback {
    /// A request failed: try again once the error is waited out (if it can be).
    Failed(Failed),
    /// An error no waiting cures.
    Final(Error),
}

impl From<Failed> for Setback {
    fn from(f: Failed) -> Setback {
        Setback::Failed(f)
    }
}

impl From<Error> for Setback {
    fn from(e: Error) -> Setback {
        Setback::Final(e)
    }
}

impl From<registry::Error> for Setback {
    fn from(e: registry::Error) -> Setback {
        Setback::Final(e.into())
    }
}

/// What an attempt came to.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Finished.
    Done(T),
    /// Something changed (a watch fired, a node went): look again now.
    Again,
    /// The caller's patience ran out.
    OutOfTime,
}

/// The outcome of one attempt.
pub(crate) type Attempted<T> = std::result::Result<Step<T>, Setback>;

/// `Err(Setback::Failed(..))`: request `op` on `path` failed with `error`.
pub(crate) fn failed<T>(op: &'static str, path: impl Into<String>, error: ZkError) -> Attempted<T> {
    Err(Setback::Failed(Failed::new(op, path, error)))
}

/// Something a recipe tries until it is done: its state, and what one attempt does.
pub(crate) trait Attempts {
    /// What the last attempt gives.
    type Output;

    /// One attempt, with requests on `at.live`.
    fn attempt(&mut self, at: &mut Attempt<'_>) -> impl Future<Output = Attempted<Self::Output>> + Send;
}

/// What an attempt works with.
pub(crate) struct Attempt<'a> {
    shared: &'a SessionCore,
    /// The client to make requests on (it moves to a new generation after session expiry).
    pub(crate) live: LiveClient,
    backoff: Backoff,
    patience: Patience,
    deadline: Option<Instant>,
}

impl Attempt<'_> {
    /// Whether the caller waits at all (not [`Patience::Never`]).
    pub(crate) fn can_wait(&self) -> bool {
        !matches!(self.patience, Patience::Never)
    }

    /// Waits until `watcher` fires ([`Step::Again`]) or the patience runs out
    /// ([`Step::OutOfTime`]). After a session event the client moves to the next generation.
    pub(crate) async fn wait<T>(&mut self, watcher: OneshotWatcher) -> Attempted<T> {
        self.backoff.reset();
        if await_change(self.shared, &mut self.live, watcher, self.deadline).await? {
            Ok(Step::Again)
        } else {
            Ok(Step::OutOfTime)
        }
    }
}

/// Runs `attempts` until one is done, on a live client of `shared`, within `patience`. `Ok(None)`:
/// the patience ran out. A failed request is retried after [`SessionCore::retry_after`] unless
/// ZooKeeper's answer stands ([`Retry::Never`]); with [`Patience::Never`] it is an error.
///
/// # Errors
/// A failed request that waiting cannot cure (with its operation and path), an attempt's final
/// error, [`Error::SessionClosed`].
pub(crate) async fn retry<A: Attempts>(
    shared: &SessionCore,
    patience: Patience,
    attempts: &mut A,
) -> Result<Option<A::Output>> {
    let deadline = patience.deadline();
    let live = match patience {
        Patience::Never => shared.live_now()?,
        _ => match live_by(shared, deadline).await? {
            Some(live) => live,
            None => return Ok(None),
        },
    };
    let mut at = Attempt { shared, live, backoff: shared.backoff(), patience, deadline };
    loop {
        let Failed { op, path, error } = match attempts.attempt(&mut at).await {
            Ok(Step::Done(done)) => return Ok(Some(done)),
            Ok(Step::Again) => continue,
            Ok(Step::OutOfTime) => return Ok(None),
            Err(Setback::Final(e)) => return Err(e),
            Err(Setback::Failed(failed)) => failed,
        };
        if Retry::of(&error) == Retry::Never {
            return Err(Error::zk(op, path, error));
        }
        match until(deadline, shared.retry_after(&at.live, &mut at.backoff, &error)).await {
            Some(next) => at.live = next?,
            None if !at.can_wait() => return Err(Error::zk(op, path, error)),
            None => return Ok(None),
        }
    }
}

/// Waits until `watcher` fires, `deadline` passes (`Ok(false)`) or the session closes. After a
/// session event (the ZooKeeper session ended) `live` moves on to the next generation, so the
/// caller's next look is on the new session.
async fn await_change(
    shared: &SessionCore,
    live: &mut LiveClient,
    watcher: OneshotWatcher,
    deadline: Option<Instant>,
) -> Result<bool> {
    let event = tokio::select! {
        event = until(deadline, registry::watch_event(watcher)) => event,
        _ = shared.closed() => return Err(Error::SessionClosed),
    };
    match event {
        None => Ok(false),
        Some(EventType::Session) => match until(deadline, shared.live_after(live.generation)).await {
            None => Ok(false),
            Some(next) => {
                *live = next?;
                Ok(true)
            }
        },
        Some(_) => Ok(true),
    }
}

/// Waits for `f`, but not past `deadline` (`None`: no deadline).
async fn until<F: Future>(deadline: Option<Instant>, f: F) -> Option<F::Output> {
    match deadline {
        None => Some(f.await),
        Some(d) => tokio::time::timeout_at(d, f).await.ok(),
    }
}

/// A live client, waiting (up to `deadline`) for one while ZooKeeper is unreachable.
/// `Ok(None)`: the deadline passed.
async fn live_by(shared: &SessionCore, deadline: Option<Instant>) -> Result<Option<LiveClient>> {
    match shared.live_now() {
        Ok(live) => Ok(Some(live)),
        Err(registry::Error::SessionClosed) => Err(Error::SessionClosed),
        Err(_) => Ok(until(deadline, shared.wait_usable(0)).await.transpose()?),
    }
}
