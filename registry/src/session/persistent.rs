//! Following a directory's children with one persistent recursive watch (ZooKeeper 3.6+).
//!
//! The one-shot loop of `watch.rs` pays a read for every change: the event says only "the
//! children changed". A persistent recursive watch (`addWatch`) stays armed and its
//! `NodeCreated` / `NodeDeleted` events carry the child's path, which is all a follower needs
//! when the child's name is its content (a provider node's name is its URL). So a change costs
//! no request at all; a full read is made only when the watch is armed and after a gap.
//!
//! # Never wrong, never stale: the ordering argument
//!
//! The follower arms by sending `addWatch` and then `getChildren` on the same session; the
//! server handles a session's requests in order, so the read sees every change made before
//! the watch took effect, and every change after it produces an event. ZooKeeper's guarantee
//! that a client sees a watch event before the response of any later read on the same
//! session means: when the read's response reaches the follower, every event of a change
//! the read already shows is in the watcher's queue (zookeeper-client pushes an event into
//! the watcher's queue before it completes a later response). The follower then takes every
//! event queued by then and folds it into the listed names, in order.
//!
//! The queue may by then also hold events newer than the read, and the events older than the
//! read are superseded by it; folding both is exact anyway, because each event states where
//! one name stands ("created", "deleted") rather than toggling it, and events come in
//! ZooKeeper's order. For a name with events in the queue, the last one folded is its latest
//! change (a later change of that name has an event, and it is queued behind); for a name
//! with none, the read is its latest state. So the list published equals ZooKeeper's state as
//! of the newest event taken, and events that arrive afterwards are all newer than the read:
//! they are applied on top, one batch at a time. No event older than the read is ever applied
//! on its own after it, and no intermediate state is published.
//!
//! # Gaps
//!
//! Events can be lost while the connection is down (ZOOKEEPER-4698: a persistent watch
//! re-registered on reconnection does not replay what it missed), and all of them when the
//! session expires. So:
//! - on `SyncConnected` after `Disconnected` (the same session back), the follower arms
//!   again on the same client: `addWatch`, then the read, as above. Re-adding is needed, not
//!   only the read: zookeeper-client 0.11.2 re-sends only the one-shot watches when it
//!   reconnects (its `resend_watches` never reaches the persistent lists, `SetWatches2`), so
//!   the server forgets a persistent watch at every reconnection. Re-adding one the server
//!   still has is harmless. Events queued before the gap were applied when they came.
//! - when the session ended (`Expired`, or the client was dropped: zookeeper-client 0.11
//!   panics in the watcher then, and [`persistent_event`] contains it), the follower waits
//!   for the next generation's client and arms there: watch first, then read.
//! - if more session events are met while folding after a read, the follower publishes what
//!   it folded so far and reads again after the reconnection (one read too many, never one
//!   too few).
//!
//! A server that refuses `addWatch` (`Unimplemented`, before ZooKeeper 3.6) ends the follower
//! with [`Unsupported`]: its caller falls back to the one-shot loop. Only direct children
//! count: deeper paths and data events are ignored.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use zookeeper_client::{
    AddWatchMode, Error as ZkError, EventType, PersistentWatcher, SessionState as ZkState, WatchedEvent,
};

use super::retry::{persistent_event, ready_persistent_event, Ready};
use super::{Backoff, LiveClient, Retry, SessionCore};

/// A change to one direct child, from a persistent watch's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildChange {
    /// The child was created.
    Created(String),
    /// The child was deleted.
    Deleted(String),
}

/// What a persistent children watch hands its sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildrenUpdate {
    /// The whole list: a read made after the watch was armed (an absent directory lists
    /// nothing), with every event received by the read's response folded in.
    Listed(Vec<String>),
    /// Children created or deleted since the last update, in ZooKeeper's order.
    Changed(Vec<ChildChange>),
}

/// The server refused `addWatch` (ZooKeeper before 3.6), now or earlier in the session:
/// follow with one-shot watches.
#[derive(Debug)]
pub(crate) struct Unsupported;

/// Whether `error`, the answer to `addWatch`, means the server does not know the request.
pub(crate) fn refuses_persistent_watches(error: &ZkError) -> bool {
    matches!(error, ZkError::Unimplemented)
}

/// One event of a persistent watch, as the follower sees it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Change(ChildChange),
    /// The connection dropped; the session may live.
    Suspended,
    /// The connection is back, in the same session: events may have been lost meanwhile.
    Reconnected,
    /// The session ended (or the watcher can give no more events): arm on the next one.
    Ended,
    /// Data changes, deeper paths, the directory itself.
    Ignored,
}

/// Why following one armed watch stopped.
enum Gap {
    /// The connection came back in the same session: events may have been lost meanwhile.
    Reconnected,
    /// The session ended.
    Ended,
    /// The session is closed.
    Closed,
}

/// Why following on one client stopped.
enum Stop {
    /// The session is closed.
    Closed,
    /// Arm again, on a client of a generation newer than this.
    NextSession(u64),
    Unsupported(ZkError),
}

/// Follows the direct children of `path` with a persistent recursive watch until the session
/// closes, handing each update to `sink` (see the module docs).
///
/// # Errors
/// [`Unsupported`] when the server refuses `addWatch`, or refused it earlier in this session
/// (said once per session in a log line); nothing has been handed to `sink` by this follower
/// for the generation it was refused in.
pub(crate) async fn follow_children(
    shared: Arc<SessionCore>,
    path: String,
    sink: impl FnMut(ChildrenUpdate) + Send,
) -> Result<(), Unsupported> {
    if shared.persistent_watches_refused.load(Ordering::Relaxed) {
        return Err(Unsupported);
    }
    let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
    let backoff = shared.backoff();
    let mut follower = Follower { shared, path, prefix, sink, backoff };
    let mut after = 0;
    loop {
        let Ok(live) = follower.shared.live_after(after).await else { return Ok(()) };
        match follower.on_client(live).await {
            Stop::Closed => return Ok(()),
            Stop::NextSession(generation) => after = generation,
            Stop::Unsupported(error) => {
                note_refusal(&follower.shared, &error);
                return Err(Unsupported);
            }
        }
    }
}

/// Remembers that the session's server refuses `addWatch`, saying so once per session.
pub(super) fn note_refusal(shared: &SessionCore, error: &ZkError) {
    if !shared.persistent_watches_refused.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            connect = %shared.connect, %error,
            "ZooKeeper refuses persistent watches (addWatch, ZooKeeper 3.6+): following with one-shot \
             watches and a read per change"
        );
    }
}

struct Follower<S> {
    shared: Arc<SessionCore>,
    path: String,
    /// `path` and a slash: what a direct child's path starts with.
    prefix: String,
    sink: S,
    backoff: Backoff,
}

impl<S: FnMut(ChildrenUpdate) + Send> Follower<S> {
    /// Arms on `live` and follows until the session ends; arms again after every
    /// reconnection.
    async fn on_client(&mut self, mut live: LiveClient) -> Stop {
        // The watcher of before a reconnection is dropped only once its successor is armed:
        // dropping the last watcher of a path makes zookeeper-client remove every watch of the
        // connection on that path.
        let mut previous: Option<PersistentWatcher> = None;
        loop {
            let generation = live.generation;
            let (mut watcher, names) = loop {
                match self.arm(&live).await {
                    Ok(armed) => break armed,
                    Err(error) if refuses_persistent_watches(&error) => return Stop::Unsupported(error),
                    Err(error) => match self.retry(&live, &error).await {
                        Some(next) if next.generation == generation => live = next,
                        Some(_) => return Stop::NextSession(generation),
                        None => return Stop::Closed,
                    },
                }
            };
            drop(previous.take());
            self.backoff.reset();
            let carried = self.publish_listing(&mut watcher, names);
            match self.follow(&mut watcher, carried).await {
                Gap::Reconnected => previous = Some(watcher),
                Gap::Ended => return Stop::NextSession(generation),
                Gap::Closed => return Stop::Closed,
            }
        }
    }

    /// Applies the events of `watcher` (starting with `carried`) until a gap.
    async fn follow(&mut self, watcher: &mut PersistentWatcher, mut carried: Option<Seen>) -> Gap {
        loop {
            let seen = match carried.take() {
                Some(seen) => seen,
                None => tokio::select! {
                    event = persistent_event(watcher) => self.classify(event),
                    _ = self.shared.closed() => return Gap::Closed,
                },
            };
            match seen {
                Seen::Change(change) => carried = self.publish_changes(watcher, change),
                Seen::Reconnected => return Gap::Reconnected,
                Seen::Ended => return Gap::Ended,
                Seen::Suspended | Seen::Ignored => {}
            }
        }
    }

    /// Adds the watch, then reads: both requests are sent at once, in this order (each call
    /// sends its request before returning its future), so the read is served after the watch
    /// took effect.
    async fn arm(&self, live: &LiveClient) -> Result<(PersistentWatcher, Vec<String>), ZkError> {
        let watch = live.client.watch(&self.path, AddWatchMode::PersistentRecursive);
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        crate::metrics::watch_read("children");
        let read = live.client.list_children(&self.path);
        let (watcher, names) = tokio::join!(watch, read);
        let watcher = watcher?;
        match names {
            Ok(names) => Ok((watcher, names)),
            Err(ZkError::NoNode) => Ok((watcher, Vec::new())),
            Err(error) => Err(error),
        }
    }

    /// Waits, by the session's one retry policy, for a client to try again with; `None` once
    /// the session is closed.
    async fn retry(&mut self, live: &LiveClient, error: &ZkError) -> Option<LiveClient> {
        if Retry::of(error) == Retry::Never {
            tracing::warn!(path = %self.path, %error, "persistent watch: request failed; retrying");
        }
        self.shared.retry_after(live, &mut self.backoff, error).await.ok()
    }

    /// Hands `names`, with every event queued by now folded in, to the sink. Returns the
    /// session event that stopped the folding, if any (to be handled next).
    fn publish_listing(&mut self, watcher: &mut PersistentWatcher, names: Vec<String>) -> Option<Seen> {
        let mut queued = Vec::new();
        let carried = self.take_queued(watcher, &mut queued);
        (self.sink)(ChildrenUpdate::Listed(fold(names, queued)));
        carried
    }

    /// Hands `first` and every change queued behind it to the sink as one batch (a burst
    /// costs one update).
    fn publish_changes(&mut self, watcher: &mut PersistentWatcher, first: ChildChange) -> Option<Seen> {
        let mut batch = vec![first];
        let carried = self.take_queued(watcher, &mut batch);
        crate::metrics::watch_event("children");
        (self.sink)(ChildrenUpdate::Changed(batch));
        carried
    }

    /// Moves the changes queued in `watcher` into `into`, up to the first session event
    /// (returned) or the end of the queue.
    fn take_queued(&self, watcher: &mut PersistentWatcher, into: &mut Vec<ChildChange>) -> Option<Seen> {
        loop {
            let seen = match ready_persistent_event(watcher) {
                Ready::Empty => return None,
                Ready::Event(event) => self.classify(Some(event)),
                Ready::Dead => Seen::Ended,
            };
            match seen {
                Seen::Change(change) => into.push(change),
                Seen::Ignored => {}
                session => return Some(session),
            }
        }
    }

    /// What `event` (`None`: the watcher is dead) means for the follower.
    fn classify(&self, event: Option<WatchedEvent>) -> Seen {
        let Some(event) = event else { return Seen::Ended };
        let child = |path: String| match path.strip_prefix(&self.prefix) {
            Some(name) if !name.is_empty() && !name.contains('/') => Some(name.to_owned()),
            _ => None,
        };
        match event.event_type {
            EventType::Session => match event.session_state {
                ZkState::Disconnected => Seen::Suspended,
                ZkState::SyncConnected | ZkState::ConnectedReadOnly => Seen::Reconnected,
                ZkState::Expired | ZkState::AuthFailed | ZkState::Closed => Seen::Ended,
            },
            EventType::NodeCreated => {
                child(event.path).map_or(Seen::Ignored, |n| Seen::Change(ChildChange::Created(n)))
            }
            EventType::NodeDeleted => {
                child(event.path).map_or(Seen::Ignored, |n| Seen::Change(ChildChange::Deleted(n)))
            }
            EventType::NodeDataChanged | EventType::NodeChildrenChanged => Seen::Ignored,
        }
    }
}

/// `names` after `changes`, in order (see the module docs for why folding events older than
/// the read is exact).
fn fold(names: Vec<String>, changes: Vec<ChildChange>) -> Vec<String> {
    if changes.is_empty() {
        return names;
    }
    let mut set: HashSet<String> = names.into_iter().collect();
    for change in changes {
        match change {
            ChildChange::Created(name) => set.insert(name),
            ChildChange::Deleted(name) => set.remove(&name),
        };
    }
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    use ChildChange::{Created, Deleted};

    #[test]
    fn events_older_than_the_read_fold_into_it_without_changing_what_it_shows() {
        // The read shows a (created before it) and not b (created and deleted before it);
        // the queue holds those events, then c created after the read.
        let queued = vec![Created("a".into()), Created("b".into()), Deleted("b".into()), Created("c".into())];
        assert_eq!(sorted(fold(names(&["a"]), queued)), ["a", "c"]);
    }

    #[test]
    fn the_latest_event_of_a_name_wins_whatever_the_read_says() {
        // x deleted after the read, then created again: present.
        let queued = vec![Deleted("x".into()), Created("x".into()), Deleted("y".into())];
        assert_eq!(sorted(fold(names(&["x", "y", "z"]), queued)), ["x", "z"]);
    }

    #[test]
    fn an_addwatch_refused_as_unimplemented_selects_the_fallback_and_nothing_else_does() {
        assert!(refuses_persistent_watches(&ZkError::Unimplemented));
        for error in [
            ZkError::ConnectionLoss,
            ZkError::SessionExpired,
            ZkError::NoAuth,
            ZkError::ClientClosed,
            ZkError::Timeout,
        ] {
            assert!(!refuses_persistent_watches(&error), "{error:?} is retried, not a refusal");
        }
    }
}
