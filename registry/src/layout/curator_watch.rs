//! Following one Curator service, `<root>/<name>`: its children are instance ids, and each
//! instance is in its node's data, so a new instance costs one read (inherent to Curator's
//! layout; Curator's own `ServiceCache` pays it too).
//!
//! A one-shot child watch and a listing in one request (push-then-pull, as `session/watch.rs`
//! does), then one `getData` per id not seen before, all in flight at once; ids seen before
//! are not read again (an instance's data is written once, when it registers; an
//! `updateService` is not followed). Changes that arrive while the reads are in flight fire
//! the watch set by the listing and are folded into the next listing, so a burst of
//! registrations costs one listing per round trip, not one per instance. After a session ends
//! the loop lists again on the next session; a read failure keeps the last list and retries.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::join_all;
use zookeeper_client::{Client, Error as ZkError, EventType};

use super::CuratorInstance;
use crate::error::Result;
use crate::session::{join, watch_event, SessionCore};
use crate::url::ServiceUrl;

/// One instance as read: its id and its provider URL, or why it is refused.
pub(crate) type Instance = (Arc<str>, Result<ServiceUrl>);

/// Follows the instances of `service` under `path` until the session closes, handing each
/// complete list to `sink`.
pub(crate) async fn follow_instances(
    core: Arc<SessionCore>,
    path: String,
    service: String,
    mut sink: impl FnMut(Vec<Instance>) + Send,
) {
    let mut known: HashMap<Arc<str>, Result<ServiceUrl>> = HashMap::new();
    let mut backoff = core.backoff();
    let Ok(mut live) = core.live_after(0).await else { return };
    loop {
        core.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let watcher = match read_all(&live.client, &path, &service, &mut known).await {
            Ok(watcher) => {
                backoff.reset();
                sink(known.iter().map(|(id, url)| (id.clone(), url.clone())).collect());
                watcher
            }
            Err(error) => {
                if crate::session::Retry::of(&error) == crate::session::Retry::Never {
                    tracing::warn!(%path, %error, "reading Curator instances failed; retrying");
                }
                match core.retry_after(&live, &mut backoff, &error).await {
                    Ok(next) => live = next,
                    Err(_) => return,
                }
                continue;
            }
        };
        let event = tokio::select! {
            event = watch_event(watcher) => event,
            _ = core.closed() => return,
        };
        if event == EventType::Session {
            match core.live_after(live.generation).await {
                Ok(next) => live = next,
                Err(_) => return,
            }
        }
    }
}

/// Lists `path` with a watch, reads the ids not in `known` concurrently and makes `known` the
/// listing; an absent directory lists nothing (watched for its creation).
async fn read_all(
    client: &Client,
    path: &str,
    service: &str,
    known: &mut HashMap<Arc<str>, Result<ServiceUrl>>,
) -> std::result::Result<zookeeper_client::OneshotWatcher, ZkError> {
    let (names, watcher) = match client.get_and_watch_children(path).await {
        Ok((names, _, watcher)) => (names, watcher),
        Err(ZkError::NoNode) => match client.check_and_watch_stat(path).await? {
            (None, watcher) => {
                known.clear();
                return Ok(watcher);
            }
            (Some(_), _) => return Err(ZkError::NoNode), // created meanwhile: list again
        },
        Err(e) => return Err(e),
    };
    let fresh: Vec<&String> = names.iter().filter(|n| !known.contains_key(n.as_str())).collect();
    let reads = join_all(fresh.iter().map(|name| {
        let node = join(path, name);
        async move {
            let read = client.get_data(&node).await;
            (node, read)
        }
    }))
    .await;
    let mut next: HashMap<Arc<str>, Result<ServiceUrl>> = HashMap::with_capacity(names.len());
    for (name, (node, read)) in fresh.into_iter().zip(reads) {
        let decoded = match read {
            Ok((data, _)) => CuratorInstance::from_json(&node, &data).and_then(|i| i.to_url(&node, service)),
            Err(ZkError::NoNode) => continue, // gone since the listing; its event is queued
            Err(e) => return Err(e),
        };
        if let Err(error) = &decoded {
            tracing::warn!(%node, %error, "skipping a Curator instance");
        }
        next.insert(name.as_str().into(), decoded);
    }
    for name in &names {
        if let Some((id, url)) = known.remove_entry(name.as_str()) {
            next.insert(id, url);
        }
    }
    *known = next;
    Ok(watcher)
}
