//! The one retry policy for failed ZooKeeper requests: how an error is classified, and how long
//! to wait before trying again on which client.

use futures::FutureExt;
use zookeeper_client::{Error as ZkError, EventType, OneshotWatcher, PersistentWatcher, WatchedEvent};

use super::{Backoff, LiveClient, SessionCore};
use crate::error::{Error, Result};

/// What a failed ZooKeeper request calls for. Every loop of zkmesh (watch loops, ephemeral
/// keepers, recipes, the config center) decides with this one classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// The ZooKeeper session is gone (`SessionExpired`, or the client was closed because it was
    /// replaced): retry on the next generation's client.
    NextSession,
    /// A passing condition of the connection: connection loss, time-outs, throttling, no host
    /// reachable, a moved session, and the transport errors the client reports as `Custom`
    /// ("connection reset by peer", "no response from connection in ...") for requests in flight
    /// when a connection drops. Back off, then retry once connected.
    AfterReconnect,
    /// The server answered and the answer stands (`NoNode`, `BadVersion`, `NoAuth`, ...): the
    /// same request will fail the same way.
    Never,
}

impl Retry {
    /// The classification of `error`.
    pub fn of(error: &ZkError) -> Retry {
        match error {
            ZkError::SessionExpired | ZkError::ClientClosed => Retry::NextSession,
            ZkError::ConnectionLoss
            | ZkError::Timeout
            | ZkError::NoHosts
            | ZkError::Throttled
            | ZkError::SessionMoved
            | ZkError::Custom(_) => Retry::AfterReconnect,
            _ => Retry::Never,
        }
    }
}

/// Whether a zookeeper-client error is a passing condition of the connection or of the session
/// (anything but [`Retry::Never`]).
pub fn is_transient(error: &ZkError) -> bool {
    Retry::of(error) != Retry::Never
}

impl SessionCore {
    /// After a request on `live` failed with `error`: waits for a client worth trying again with.
    /// [`Retry::NextSession`]: the next generation's client. [`Retry::AfterReconnect`] and
    /// [`Retry::Never`]: a pause of `backoff` (the supervisor may not have seen a disconnection
    /// yet), then a connected client (of this generation or a later one). Callers that must not
    /// retry a [`Retry::Never`] error check [`Retry::of`] first.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] when the session closes while waiting.
    pub async fn retry_after(
        &self,
        live: &LiveClient,
        backoff: &mut Backoff,
        error: &ZkError,
    ) -> Result<LiveClient> {
        match Retry::of(error) {
            Retry::NextSession => self.live_after(live.generation).await,
            Retry::AfterReconnect | Retry::Never => {
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = self.closed() => return Err(Error::SessionClosed),
                }
                self.wait_usable(live.generation).await
            }
        }
    }
}

/// Waits for a one-shot watcher and returns its event type.
///
/// zookeeper-client 0.11 panics in `OneshotWatcher::changed` (an `unwrap` on a cancelled
/// channel) when its session task is dropped without answering the watchers still waiting, as
/// happens at runtime shutdown. That panic would end the task awaiting it, and with it a watch
/// loop or a keeper, silently. It is contained here and reported as [`EventType::Session`],
/// which every caller handles by moving to the next usable session.
pub async fn watch_event(watcher: OneshotWatcher) -> EventType {
    match std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind().await {
        Ok(event) => event.event_type,
        Err(_) => {
            tracing::warn!("a ZooKeeper watcher was dropped unanswered; taking it as a session event");
            EventType::Session
        }
    }
}

/// Waits for the next event of a persistent watcher; `None` once it can give none.
///
/// zookeeper-client 0.11 panics in `PersistentWatcher::changed` (an `unwrap` on an ended
/// channel) when polled after its session ended or its client was dropped. Contained here as
/// in [`watch_event`]: `None` tells the caller to move to the next session, and not to poll
/// this watcher again.
pub(crate) async fn persistent_event(watcher: &mut PersistentWatcher) -> Option<WatchedEvent> {
    match std::panic::AssertUnwindSafe(watcher.changed()).catch_unwind().await {
        Ok(event) => Some(event),
        Err(_) => {
            tracing::warn!("a persistent ZooKeeper watcher ended unanswered; taking it as the session's end");
            None
        }
    }
}

/// What a persistent watcher holds right now.
pub(crate) enum Ready {
    /// An event already received.
    Event(WatchedEvent),
    /// Nothing queued.
    Empty,
    /// The watcher can give no more events (see [`persistent_event`]).
    Dead,
}

/// The next event already queued in `watcher`, without waiting. Cancelling the wait loses
/// nothing: the event stays queued until a poll returns it.
pub(crate) fn ready_persistent_event(watcher: &mut PersistentWatcher) -> Ready {
    match persistent_event(watcher).now_or_never() {
        Some(Some(event)) => Ready::Event(event),
        Some(None) => Ready::Dead,
        None => Ready::Empty,
    }
}
