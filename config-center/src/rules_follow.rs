//! [`RulesStore::follow`] and [`FollowedService`]: a mirror of one service's rules document
//! (text and version) and of its providers' and consumers' node names, kept current by one
//! persistent recursive watch on the service's node (`registry::TreeWatch`), so that a publish
//! on that service makes one round trip (the write) instead of two (a read, then the write).
//!
//! The mirror follows `registry::TreeWatch`'s resync argument: on every
//! `TreeWatchEvent::Armed` (at first and after every gap) it reads the service in full (the
//! same one multi read a publish makes without it) on the client the event carries, folds in
//! the events still queued, and only then says it is ready; changes of the rules node are
//! read (`get_data`) by the follower's task, never on the publish path; `rules/history/*` is
//! ignored. Until it is ready (before the first read, between a gap and its re-read, or when
//! the server refuses persistent watches) the store publishes as an unfollowed one does.
//!
//! # What a followed publish guarantees
//!
//! The check against the consumers uses the members as last seen through the watch: a
//! registration racing the publish can be missed, as it can be by the read of an unfollowed
//! publish (which is as old as its round trip when the write lands), and a change the watch has
//! not delivered yet (for instance during a disconnection, until the watch is armed again) is
//! not seen either. The compare-and-set on the rules document's version last seen still
//! prevents lost updates: a document changed by another writer makes the write fail with a
//! version conflict, and the store falls back to fresh reads and retries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use registry::{ServiceUrl, TreeWatch, TreeWatchEvent};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client::{Client, Error as ZkError};

use crate::error::{Error, Result};
use crate::rules::{RulesStore, ServiceState};

/// A service a [`RulesStore`] follows (see [`RulesStore::follow`]); dropping it stops
/// following (the watch is removed and the store's publishes read again).
#[derive(Debug)]
pub struct FollowedService {
    service: String,
    mirror: Arc<Mirror>,
    store: RulesStore,
    task: JoinHandle<()>,
}

impl FollowedService {
    /// The followed service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Whether the mirror is ready: read in full since the watch was last armed, so the
    /// store's publishes on the service use it.
    pub fn is_ready(&self) -> bool {
        lock(&self.mirror.state).ready
    }

    /// The providers and consumers as last seen, sorted by URL (`None`: not ready).
    pub fn members(&self) -> Option<(Vec<ServiceUrl>, Vec<ServiceUrl>)> {
        self.mirror.snapshot().map(|state| state.members())
    }

    /// How many times the mirror was read in full (once per arming of the watch: at first and
    /// after every gap, such as a session expiry).
    pub fn resyncs(&self) -> u64 {
        *self.mirror.resyncs.borrow()
    }

    /// Waits until the mirror has been read in full once.
    ///
    /// # Errors
    /// [`Error::Registry`] with `registry::Error::SessionClosed` when following ended first
    /// (the session closed, or the server refuses persistent watches).
    pub async fn ready(&self) -> Result<()> {
        let mut resyncs = self.mirror.resyncs.subscribe();
        let ended = &self.mirror.ended;
        let read = resyncs.wait_for(|n| *n > 0 || ended.load(Ordering::Relaxed)).await.is_ok_and(|n| *n > 0);
        match read {
            true => Ok(()),
            false => Err(Error::Registry(registry::Error::SessionClosed)),
        }
    }
}

impl Drop for FollowedService {
    fn drop(&mut self) {
        self.task.abort();
        let mut followed = lock(&self.store.followed);
        if followed.get(&self.service).is_some_and(|m| Arc::ptr_eq(m, &self.mirror)) {
            followed.remove(&self.service);
        }
    }
}

impl RulesStore {
    /// Follows `service`: until the returned handle is dropped, this store and its clones keep
    /// a mirror of the service's rules document and members, fed by one persistent recursive
    /// watch on `<root>/<service>` (ZooKeeper 3.6+), and [`RulesStore::update`],
    /// [`RulesStore::disable`], [`RulesStore::enable`], [`RulesStore::set_weight`] and
    /// [`RulesStore::put`] on the service check against the members as last seen and write
    /// with compare-and-set on the version last seen: one round trip. A version conflict
    /// falls back to fresh reads, as without following; so does a mirror not ready yet (see
    /// the `rules_follow.rs` module docs for the guarantee). Following a service again
    /// replaces the earlier mirror. For long-lived writers; a one-shot writer should not
    /// follow (the read it saves costs a watch and a read).
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a service name that is not one; [`Error::Registry`] for a
    /// service path ZooKeeper would not take.
    pub async fn follow(&self, service: &str) -> Result<FollowedService> {
        let rules_path = self.path(service)?;
        let service_path = registry::join(self.center.root(), service);
        let watch = TreeWatch::new(self.center.session().core(), &service_path)?;
        let mirror = Arc::new(Mirror::default());
        lock(&self.followed).insert(service.to_owned(), mirror.clone());
        let follower = Follower {
            store: self.clone(),
            service: service.to_owned(),
            paths: Paths::new(&service_path, rules_path),
            mirror: mirror.clone(),
            client: None,
        };
        let task = tokio::spawn(follower.run(watch));
        Ok(FollowedService { service: service.to_owned(), mirror, store: self.clone(), task })
    }

    /// The mirror of `service` when it is followed.
    pub(crate) fn mirror(&self, service: &str) -> Option<Arc<Mirror>> {
        lock(&self.followed).get(service).cloned()
    }
}

/// A followed service's mirror.
#[derive(Debug)]
pub(crate) struct Mirror {
    state: Mutex<MirrorState>,
    /// Full reads so far.
    resyncs: watch::Sender<u64>,
    /// Following ended (the session closed, or persistent watches refused).
    ended: AtomicBool,
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror { state: Mutex::default(), resyncs: watch::Sender::new(0), ended: AtomicBool::new(false) }
    }
}

#[derive(Debug, Default)]
struct MirrorState {
    ready: bool,
    document: Option<(String, i32)>,
    providers: Members,
    consumers: Members,
}

/// One kind of members: each node name decoded once, when it is seen, and the sorted list of
/// those that decode, made at the first snapshot after a change and shared until the next, so
/// that a snapshot (one per publish) decodes and sorts nothing while the members stay put.
#[derive(Debug, Default)]
struct Members {
    /// Node name -> its URL (`None`: the name does not decode; left out, as by a read).
    names: BTreeMap<String, Option<ServiceUrl>>,
    /// The URLs sorted, while no member changed since they were.
    sorted: Option<Arc<Vec<ServiceUrl>>>,
}

impl Members {
    /// The members named `names`, decoded.
    fn of(names: Vec<String>) -> Self {
        let decoded = |name: String| {
            let url = ServiceUrl::from_node_name(&name).ok();
            (name, url)
        };
        Members { names: names.into_iter().map(decoded).collect(), sorted: None }
    }

    fn insert(&mut self, name: &str) {
        if !self.names.contains_key(name) {
            self.names.insert(name.to_owned(), ServiceUrl::from_node_name(name).ok());
            self.sorted = None;
        }
    }

    fn remove(&mut self, name: &str) {
        if self.names.remove(name).is_some() {
            self.sorted = None;
        }
    }

    fn clear(&mut self) {
        self.names.clear();
        self.sorted = None;
    }

    /// The URLs that decode, sorted.
    fn sorted(&mut self) -> Arc<Vec<ServiceUrl>> {
        self.sorted
            .get_or_insert_with(|| {
                let mut urls: Vec<ServiceUrl> = self.names.values().flatten().cloned().collect();
                urls.sort();
                Arc::new(urls)
            })
            .clone()
    }
}

impl Mirror {
    /// The service as last seen, members decoded (`None`: not ready).
    pub(crate) fn snapshot(&self) -> Option<ServiceState> {
        let mut state = lock(&self.state);
        if !state.ready {
            return None;
        }
        let (providers, consumers) = (state.providers.sorted(), state.consumers.sorted());
        Some(ServiceState::new(state.document.clone(), providers, consumers))
    }

    /// This process published `text` as `version`: what the next publish compares with.
    pub(crate) fn published(&self, text: &str, version: i32) {
        let mut state = lock(&self.state);
        if state.document.as_ref().is_none_or(|(_, v)| *v < version) {
            state.document = Some((text.to_owned(), version));
        }
    }

    /// The rules document as read by the follower at some point after a change of it.
    fn read_document(&self, document: Option<(String, i32)>) {
        let mut state = lock(&self.state);
        match (&document, &state.document) {
            (Some((_, read)), Some((_, known))) if read < known => {} // published since
            _ => state.document = document,
        }
    }
}

/// The paths a follower tells apart.
struct Paths {
    rules: String,
    providers: String,
    consumers: String,
}

impl Paths {
    fn new(service_path: &str, rules: String) -> Self {
        let providers = registry::join(service_path, "providers");
        let consumers = registry::join(service_path, "consumers");
        Paths { rules, providers, consumers }
    }

    /// What the node at `path` is to the mirror.
    fn node<'a>(&self, path: &'a str) -> Node<'a> {
        if path == self.rules {
            return Node::Rules;
        }
        for (dir, consumers) in [(&self.providers, false), (&self.consumers, true)] {
            if path == dir.as_str() {
                return Node::Members(consumers);
            }
            if let Some(name) = path.strip_prefix(dir.as_str()).and_then(|rest| rest.strip_prefix('/')) {
                if !name.contains('/') {
                    return Node::Member(consumers, name);
                }
            }
        }
        Node::Other
    }
}

/// A node below the followed service, for the mirror (`true`: of the consumers).
enum Node<'a> {
    Rules,
    Members(bool),
    Member(bool, &'a str),
    Other,
}

/// The task keeping a mirror current.
struct Follower {
    store: RulesStore,
    service: String,
    paths: Paths,
    mirror: Arc<Mirror>,
    /// The client the watch is armed on.
    client: Option<Client>,
}

impl Follower {
    async fn run(mut self, mut watch: TreeWatch) {
        loop {
            let event = match watch.next().await {
                Ok(event) => event,
                Err(e) => {
                    if TreeWatch::is_refusal(&e) {
                        tracing::info!(service = %self.service, "rules: persistent watches refused; not following");
                    }
                    lock(&self.mirror.state).ready = false;
                    self.mirror.ended.store(true, Ordering::Relaxed);
                    self.mirror.resyncs.send_modify(|_| {});
                    return;
                }
            };
            let done = match event {
                TreeWatchEvent::Armed(live) => {
                    lock(&self.mirror.state).ready = false;
                    self.client = Some(live.client);
                    self.resync(&mut watch).await
                }
                TreeWatchEvent::Created(path) | TreeWatchEvent::DataChanged(path) => {
                    self.apply(&path, true).await
                }
                TreeWatchEvent::Deleted(path) => self.apply(&path, false).await,
                _ => Ok(()),
            };
            if done.is_err() {
                // It cannot know what it missed: not ready until read again.
                lock(&self.mirror.state).ready = false;
                watch.resync();
            }
        }
    }

    /// Reads the service in full, folds in the queued events, and says the mirror is ready.
    async fn resync(&mut self, watch: &mut TreeWatch) -> std::result::Result<(), ()> {
        let client = self.client.clone().ok_or(())?;
        let read = self.store.read_names(&client, &self.service, true).await.map_err(|_| ())?;
        {
            let mut state = lock(&self.mirror.state);
            state.document = read.document;
            state.providers = Members::of(read.providers);
            state.consumers = Members::of(read.consumers);
        }
        while let Some(event) = watch.try_next() {
            match event {
                TreeWatchEvent::Created(path) | TreeWatchEvent::DataChanged(path) => {
                    self.apply(&path, true).await?
                }
                TreeWatchEvent::Deleted(path) => self.apply(&path, false).await?,
                _ => {}
            }
        }
        lock(&self.mirror.state).ready = true;
        self.mirror.resyncs.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Applies one event (`present`: created or changed; else deleted).
    async fn apply(&mut self, path: &str, present: bool) -> std::result::Result<(), ()> {
        match self.paths.node(path) {
            Node::Rules if present => {
                let document = self.read_rules().await?;
                self.mirror.read_document(document);
            }
            Node::Rules => self.mirror.read_document(None),
            Node::Members(consumers) if !present => members(&mut lock(&self.mirror.state), consumers).clear(),
            Node::Member(consumers, name) => {
                let mut state = lock(&self.mirror.state);
                let names = members(&mut state, consumers);
                if present {
                    names.insert(name);
                } else {
                    names.remove(name);
                }
            }
            Node::Members(_) | Node::Other => {}
        }
        Ok(())
    }

    /// The rules document now (`None`: there is none).
    async fn read_rules(&self) -> std::result::Result<Option<(String, i32)>, ()> {
        let client = self.client.as_ref().ok_or(())?;
        match client.get_data(&self.paths.rules).await {
            Ok((data, stat)) => {
                let document =
                    crate::document::decode(&self.paths.rules, Some(stat.version), data).map_err(|_| ())?;
                Ok(Some((document.text, stat.version)))
            }
            Err(ZkError::NoNode) => Ok(None),
            Err(_) => Err(()),
        }
    }
}

fn members(state: &mut MirrorState, consumers: bool) -> &mut Members {
    match consumers {
        true => &mut state.consumers,
        false => &mut state.providers,
    }
}

/// Locks `mutex`, through a poisoning (the mirror's state stays consistent between statements).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_decoded_once_and_sorted_again_only_after_a_change() {
        let b = "http%3A%2F%2F10.0.0.2%3A80%2Fshop";
        let a = "http%3A%2F%2F10.0.0.1%3A80%2Fshop";
        let mut members = Members::of(vec![b.to_owned(), "not a url".to_owned()]);
        let first = members.sorted();
        assert_eq!(first.len(), 1, "a name that does not decode is left out");
        assert!(Arc::ptr_eq(&first, &members.sorted()), "unchanged: the same list");
        members.insert(a);
        let second = members.sorted();
        let hosts: Vec<&str> = second.iter().map(ServiceUrl::host).collect();
        assert_eq!(hosts, ["10.0.0.1", "10.0.0.2"], "sorted by URL");
        members.insert(a);
        assert!(Arc::ptr_eq(&second, &members.sorted()), "a name seen already changes nothing");
        members.remove(b);
        assert_eq!(members.sorted().len(), 1);
        members.clear();
        assert!(members.sorted().is_empty());
    }
}
