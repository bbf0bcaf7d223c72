//! Following one Curator service, `<root>/<name>`: its children are instance ids, and each
//! instance is in its node's data, so a new instance costs one read (inherent to Curator's
//! layout; Curator's own `ServiceCache` pays it too).
//!
//! A one-shot child watch and a listing in one request (push-then-pull, as `session/watch.rs`
//! does), then one `getData` per id not seen before, all in flight at once, each setting a
//! data watch: an instance that changes (Curator's `updateService`, Spring Cloud Zookeeper's
//! status) is read again on its own. Ids seen before are not read again on a listing. Changes
//! that arrive while the reads are in flight fire the watch set by the listing and are folded
//! into the next listing, so a burst of registrations costs one listing per round trip, not
//! one per instance. When the session ends, the next one lists and reads every instance again
//! (what changed meanwhile is unknown); a failed read keeps the last list and retries.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::{join_all, BoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use zookeeper_client::{Client, Error as ZkError, EventType, OneshotWatcher};

use super::CuratorInstance;
use crate::error::Result;
use crate::session::{join, watch_event, Retry, SessionCore};
use crate::url::ServiceUrl;

/// One instance as read: its id and its provider URL, or why it is refused.
pub(crate) type Instance = (Arc<str>, Result<ServiceUrl>);

/// The data watches of the instances read, each ending with its id and event.
type DataWatches = FuturesUnordered<BoxFuture<'static, (Arc<str>, EventType)>>;

/// What a follower knows of one service.
struct Follower {
    path: String,
    service: String,
    known: HashMap<Arc<str>, Result<ServiceUrl>>,
    data: DataWatches,
}

/// What ended the wait after a listing.
enum Next {
    /// List again (the children changed, or a read failed).
    List,
    /// The session ended: list and read everything on the next one.
    Session,
}

/// Follows the instances of `service` under `path` until the session closes, handing each
/// complete list to `sink`.
pub(crate) async fn follow_instances(
    core: Arc<SessionCore>,
    path: String,
    service: String,
    mut sink: impl FnMut(Vec<Instance>) + Send,
) {
    let mut me = Follower { path, service, known: HashMap::new(), data: FuturesUnordered::new() };
    let mut backoff = core.backoff();
    let Ok(mut live) = core.live_after(0).await else { return };
    loop {
        core.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let children = match me.read_all(&live.client).await {
            Ok(watcher) => {
                backoff.reset();
                sink(me.instances());
                watcher
            }
            Err(error) => {
                if Retry::of(&error) == Retry::Never {
                    tracing::warn!(path = %me.path, %error, "reading Curator instances failed; retrying");
                }
                match core.retry_after(&live, &mut backoff, &error).await {
                    Ok(next) => live = next,
                    Err(_) => return,
                }
                continue;
            }
        };
        let next = tokio::select! {
            next = me.wait(&live.client, children, &mut sink) => next,
            _ = core.closed() => return,
        };
        if let Next::Session = next {
            match core.live_after(live.generation).await {
                Ok(next) => live = next,
                Err(_) => return,
            }
            me.forget();
        }
    }
}

impl Follower {
    /// Every instance known, for the sink.
    fn instances(&self) -> Vec<Instance> {
        self.known.iter().map(|(id, url)| (id.clone(), url.clone())).collect()
    }

    /// Forgets every instance read on an older session (they are all read again).
    fn forget(&mut self) {
        self.known.clear();
        self.data = FuturesUnordered::new();
    }

    /// Lists the service with a watch and reads the ids not known yet, concurrently; an
    /// absent directory lists nothing (watched for its creation).
    async fn read_all(&mut self, client: &Client) -> std::result::Result<OneshotWatcher, ZkError> {
        let (names, watcher) = match client.get_and_watch_children(&self.path).await {
            Ok((names, _, watcher)) => (names, watcher),
            Err(ZkError::NoNode) => match client.check_and_watch_stat(&self.path).await? {
                (None, watcher) => {
                    self.known.clear();
                    return Ok(watcher);
                }
                (Some(_), _) => return Err(ZkError::NoNode), // created meanwhile: list again
            },
            Err(e) => return Err(e),
        };
        let fresh: Vec<Arc<str>> = names
            .iter()
            .filter(|n| !self.known.contains_key(n.as_str()))
            .map(|n| n.as_str().into())
            .collect();
        let reads = join_all(fresh.iter().map(|id| read(client, &self.path, &self.service, id))).await;
        let mut next = HashMap::with_capacity(names.len());
        for (id, read) in fresh.into_iter().zip(reads) {
            match read {
                Ok((url, watch)) => {
                    self.data.push(watch);
                    next.insert(id, url);
                }
                Err(ZkError::NoNode) => {} // gone since the listing; its event is queued
                Err(e) => return Err(e),
            }
        }
        for name in &names {
            if let Some((id, url)) = self.known.remove_entry(name.as_str()) {
                next.insert(id, url);
            }
        }
        self.known = next;
        Ok(watcher)
    }

    /// Waits for the listing's watch, reading again each instance whose data changes meanwhile.
    async fn wait(
        &mut self,
        client: &Client,
        children: OneshotWatcher,
        sink: &mut (impl FnMut(Vec<Instance>) + Send),
    ) -> Next {
        let mut children = std::pin::pin!(watch_event(children));
        loop {
            let (id, event) = tokio::select! {
                event = &mut children => {
                    return if event == EventType::Session { Next::Session } else { Next::List };
                }
                Some(changed) = self.data.next(), if !self.data.is_empty() => changed,
            };
            if event != EventType::NodeDataChanged || !self.known.contains_key(&id) {
                continue; // deleted (the listing's watch says so), or from an older session
            }
            match read(client, &self.path, &self.service, &id).await {
                Ok((url, watch)) => {
                    self.data.push(watch);
                    self.known.insert(id, url);
                    sink(self.instances());
                }
                Err(ZkError::NoNode) => {}
                Err(_) => {
                    self.known.remove(&id); // read again with the next listing
                    return Next::List;
                }
            }
        }
    }
}

/// Reads instance `id` of `service` under `path` and sets a watch on its data, returned as a
/// future of its event.
async fn read(
    client: &Client,
    path: &str,
    service: &str,
    id: &Arc<str>,
) -> std::result::Result<(Result<ServiceUrl>, BoxFuture<'static, (Arc<str>, EventType)>), ZkError> {
    let node = join(path, id);
    let (data, _, watcher) = client.get_and_watch_data(&node).await?;
    let id = id.clone();
    let watch: BoxFuture<'static, _> = Box::pin(async move { (id, watch_event(watcher).await) });
    let url = CuratorInstance::from_json(&node, &data).and_then(|i| i.to_url(&node, service));
    if let Err(error) = &url {
        tracing::warn!(%node, %error, "skipping a Curator instance");
    }
    Ok((url, watch))
}
