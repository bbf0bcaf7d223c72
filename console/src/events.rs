//! `GET /api/events`: server-sent events from the console's own ZooKeeper watches.
//!
//! One persistent recursive watch (`addWatch`, ZooKeeper 3.6+) per root the console shows:
//! the services root, the config root and the recipes' roots (and `--recipes` paths). Each
//! event's path names what changed, so nothing is read and nothing is polled: `services`
//! (a service came or went, or its counts changed), `service` `{"name"}` (its providers,
//! consumers or rules), `config` `{"namespace","name"}` (`name` null: the namespace's list),
//! `recipes`; and `resync` (events may have been lost: after a reconnection, or a page too
//! slow to keep up): refetch everything. The page refetches what an event names.
//!
//! After any session event the watches are armed again once the session is connected
//! (zookeeper-client 0.11.2 does not re-send persistent watches on reconnection, and an
//! expired session loses them), the old ones dropped only after the new ones are armed,
//! and a `resync` follows. A server that refuses `addWatch` gets a warning in the log and
//! no events. A keep-alive comment goes out every [`KEEP_ALIVE`].

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::{header, Response, StatusCode};
use registry::{Session, SessionState};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use zookeeper_client::{
    AddWatchMode, Client, EventType, PersistentWatcher, SessionState as ZkState, WatchedEvent,
};

use crate::console::State;
use crate::reply::Body;

/// How often an idle event stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events kept for a slow page before it gets `resync` instead.
const BACKLOG: usize = 1024;

/// One event for the pages: its name and its data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// `services`, `service`, `config`, `recipes` or `resync`.
    pub name: &'static str,
    /// Its data (`{}` when none).
    pub data: Value,
}

/// The channel the watches feed and the streams read.
pub(crate) fn channel() -> broadcast::Sender<Event> {
    broadcast::channel(BACKLOG).0
}

/// What the watches cover: the roots, and how a path under each maps to events.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    /// The services root.
    pub services: String,
    /// The config root.
    pub config: String,
    /// The recipes' roots and `--recipes` paths.
    pub recipes: Vec<String>,
}

impl Roots {
    fn all(&self) -> Vec<String> {
        let mut all = vec![self.services.clone(), self.config.clone()];
        all.extend(self.recipes.iter().cloned());
        all
    }

    /// The events a change at `path` makes.
    pub(crate) fn events_of(&self, path: &str) -> Vec<Event> {
        let event = |name, data| Event { name, data };
        if let Some(rest) = below(path, &self.services) {
            let mut parts = rest.split('/');
            let service = parts.next().unwrap_or_default();
            return match parts.next() {
                None => vec![event("services", json!({}))],
                Some(_) => vec![event("service", json!({ "name": service })), event("services", json!({}))],
            };
        }
        if let Some(rest) = below(path, &self.config) {
            let mut parts = rest.split('/');
            let namespace = parts.next().unwrap_or_default();
            return vec![event("config", json!({ "namespace": namespace, "name": parts.next() }))];
        }
        if self.recipes.iter().any(|root| path == root || below(path, root).is_some()) {
            return vec![event("recipes", json!({}))];
        }
        Vec::new()
    }
}

/// What follows `root/` in `path`, if `path` is below `root`.
fn below<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let rest = if root == "/" { path.strip_prefix('/') } else { path.strip_prefix(root)?.strip_prefix('/') };
    rest.filter(|r| !r.is_empty())
}

/// Feeds `tx` from persistent watches on `roots` until the session closes.
/// `live` is true while the watches are armed.
pub(crate) async fn watch(
    session: Session,
    roots: Roots,
    tx: broadcast::Sender<Event>,
    live: Arc<AtomicBool>,
) {
    let mut previous: Option<(JoinSet<()>, mpsc::Receiver<WatchedEvent>)> = None;
    let mut after = None;
    loop {
        let Some((client, generation)) = connected(&session, after).await else { return };
        let (pumps, rx) = match arm(&client, &roots).await {
            Ok(Some(armed)) => armed,
            Ok(None) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(()) => return,
        };
        // The old watchers go only now: dropping the last watcher of a path would remove the
        // connection's watches on it, the new ones included.
        drop(previous.take());
        live.store(true, Ordering::Relaxed);
        let _ = tx.send(Event { name: "resync", data: json!({}) });
        let (ended, rx) = forward(rx, &roots, &tx).await;
        live.store(false, Ordering::Relaxed);
        after = ended.then_some(generation);
        previous = Some((pumps, rx));
    }
}

/// Arms a persistent recursive watch on every root on `client`, each pumped into the
/// channel returned: `None` when none could be armed now, `Err` when the server refuses them.
async fn arm(
    client: &Client,
    roots: &Roots,
) -> Result<Option<(JoinSet<()>, mpsc::Receiver<WatchedEvent>)>, ()> {
    let (pumped, rx) = mpsc::channel(BACKLOG);
    let mut pumps = JoinSet::new();
    for root in roots.all() {
        match client.watch(&root, AddWatchMode::PersistentRecursive).await {
            Ok(watcher) => {
                pumps.spawn(pump(watcher, pumped.clone()));
            }
            Err(zookeeper_client::Error::Unimplemented) => {
                tracing::warn!(
                    "ZooKeeper refuses persistent watches (3.6+): the console sends no live events"
                );
                return Err(());
            }
            Err(e) => tracing::debug!(%root, error = %e, "console: addWatch failed; arming again"),
        }
    }
    Ok((!pumps.is_empty()).then_some((pumps, rx)))
}

/// Turns the watches' events into the pages' until a gap: `(false, _)` when the connection
/// came back in the same session (arm again on the same client), `(true, _)` when the session
/// ended (arm on the next one). Events lost while disconnected are covered by the `resync`
/// that follows the next arming.
async fn forward(
    mut rx: mpsc::Receiver<WatchedEvent>,
    roots: &Roots,
    tx: &broadcast::Sender<Event>,
) -> (bool, mpsc::Receiver<WatchedEvent>) {
    while let Some(event) = rx.recv().await {
        if event.event_type == EventType::Session {
            match event.session_state {
                ZkState::Disconnected => continue,
                ZkState::SyncConnected => return (false, rx),
                _ => return (true, rx),
            }
        }
        for event in roots.events_of(&event.path) {
            let _ = tx.send(event);
        }
    }
    (true, rx)
}

/// The live client, and its generation, once the session is connected on a generation newer
/// than `after` (any, with `None`); `None` once the session is closed.
async fn connected(session: &Session, after: Option<u64>) -> Option<(Client, u64)> {
    let mut states = session.state_watch();
    loop {
        let state = *states.borrow_and_update();
        match state {
            SessionState::Closed => return None,
            SessionState::Connected | SessionState::Reconnected => {
                let generation = session.generation();
                match session.client() {
                    Some(client) if after.is_none_or(|g| generation > g) => {
                        return Some((client, generation))
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if states.changed().await.is_err() {
            return None;
        }
    }
}

/// Forwards `watcher`'s events (a dropped client makes zookeeper-client 0.11.2 panic in
/// `changed`: that ends this task only, and the watch loop arms again).
async fn pump(mut watcher: PersistentWatcher, tx: mpsc::Sender<WatchedEvent>) {
    loop {
        let event = watcher.changed().await;
        let terminal = event.event_type == EventType::Session && event.session_state.is_terminated();
        if tx.send(event).await.is_err() || terminal {
            return;
        }
    }
}

/// The event stream of one page.
pub(crate) fn stream(state: &Arc<State>) -> Response<Body> {
    let rx = state.events.subscribe();
    let keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + state.keep_alive, state.keep_alive);
    let first = Some(Bytes::from_static(b"retry: 2000\n: connected\n\n"));
    let frames = stream::unfold((rx, keep_alive, first), |(mut rx, mut keep_alive, first)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, Infallible>(Frame::data(first)), (rx, keep_alive, None)));
        }
        let bytes = tokio::select! {
            received = rx.recv() => match received {
                Ok(event) => batch(&mut rx, event),
                Err(broadcast::error::RecvError::Lagged(_)) => format_event(&Event { name: "resync", data: json!({}) }),
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = keep_alive.tick() => ": keep-alive\n\n".to_owned(),
        };
        Some((Ok(Frame::data(Bytes::from(bytes))), (rx, keep_alive, None)))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// `first` and every event already queued behind it, each once, as SSE text.
fn batch(rx: &mut broadcast::Receiver<Event>, first: Event) -> String {
    let mut events = vec![first];
    while let Ok(next) = rx.try_recv() {
        if !events.contains(&next) {
            events.push(next);
        }
    }
    events.iter().map(format_event).collect()
}

fn format_event(event: &Event) -> String {
    format!("event: {}\ndata: {}\n\n", event.name, event.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_events_the_page_refetches_on() {
        let roots =
            Roots { services: "/services".into(), config: "/config".into(), recipes: vec!["/locks".into()] };
        let names = |path| roots.events_of(path).iter().map(|e| (e.name, e.data.clone())).collect::<Vec<_>>();
        assert_eq!(names("/services/shop"), [("services", json!({}))]);
        assert_eq!(names("/services/shop/providers/x")[0], ("service", json!({ "name": "shop" })));
        assert_eq!(
            names("/config/app/db/status/i1"),
            [("config", json!({ "namespace": "app", "name": "db" }))]
        );
        assert_eq!(names("/config/app"), [("config", json!({ "namespace": "app", "name": null }))]);
        assert_eq!(names("/locks/a/_c_x-lock-0000000001"), [("recipes", json!({}))]);
        assert!(names("/servicesX/a").is_empty() && names("/services").is_empty());
    }
}
