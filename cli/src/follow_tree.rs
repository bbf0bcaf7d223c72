//! Following every service with one persistent recursive watch on `/services` (ZooKeeper 3.6+):
//! the services are its direct children, and each service's provider names (the depth below
//! `providers`) are fed to a subscription that has no watch of its own
//! ([`Registry::subscribe_fed`]). A provider created or deleted costs no read; `/services` and
//! every `providers` list are read only when the watch is armed, at start and after every gap,
//! with the events queued by the reads' answers folded in before anything is applied
//! ([`TreeWatch`] explains why that is exact).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use registry::{ProviderFeed, Registry, SubscribeOptions, Subscription, TreeWatch, TreeWatchEvent};
use tokio::sync::watch;
use zookeeper_client::{Client, Error as ZkError};

use crate::follow::{Followed, SERVICES};

/// How following with the persistent watch ended.
pub enum Ended {
    /// The session closed.
    Closed,
    /// The server refuses persistent watches: follow with one watch per service.
    Refused,
}

/// Where a path under `/services` points.
enum Node<'a> {
    Service(&'a str),
    Providers(&'a str),
    Provider(&'a str, &'a str),
    Other,
}

fn node_of(path: &str) -> Node<'_> {
    let Some(rest) = path.strip_prefix(SERVICES).and_then(|r| r.strip_prefix('/')) else {
        return Node::Other;
    };
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(service), None, None) => Node::Service(service),
        (Some(service), Some("providers"), None) => Node::Providers(service),
        (Some(service), Some("providers"), Some(name)) if !name.contains('/') => {
            Node::Provider(service, name)
        }
        _ => Node::Other,
    }
}

/// The services followed, each with its fed subscription.
pub struct TreeFollower {
    registry: Registry,
    options: SubscribeOptions,
    services: BTreeMap<String, (Subscription, ProviderFeed)>,
    /// Services that could not be followed (reported once), until their node goes away.
    refused: BTreeSet<String>,
    followed: watch::Sender<Option<Followed>>,
    /// Children lists read (`/services` and `providers`).
    reads: Arc<AtomicU64>,
}

impl TreeFollower {
    /// A follower publishing the services it follows to `followed`.
    pub fn new(registry: Registry, followed: watch::Sender<Option<Followed>>, reads: Arc<AtomicU64>) -> Self {
        let options = SubscribeOptions::default().register_consumer(false).empty_protection(false);
        let (services, refused) = (BTreeMap::new(), BTreeSet::new());
        TreeFollower { registry, options, services, refused, followed, reads }
    }

    /// Follows until the session closes or the server refuses persistent watches.
    pub async fn run(&mut self) -> Ended {
        let mut watch = match TreeWatch::new(self.registry.session().core(), SERVICES) {
            Ok(watch) => watch,
            Err(_) => return Ended::Closed,
        };
        loop {
            match watch.next().await {
                Ok(TreeWatchEvent::Armed(live)) => {
                    // A failed read: arm again (after the session's back-off) and read again.
                    if self.resync(&mut watch, &live.client).await.is_err() {
                        watch.resync();
                    }
                }
                Ok(TreeWatchEvent::Created(path)) => self.apply(&path, true).await,
                Ok(TreeWatchEvent::Deleted(path)) => self.apply(&path, false).await,
                Ok(_) => continue,
                Err(e) if TreeWatch::is_refusal(&e) => return Ended::Refused,
                Err(_) => return Ended::Closed,
            }
            self.publish();
        }
    }

    /// Applies one created or deleted node.
    async fn apply(&mut self, path: &str, created: bool) {
        match node_of(path) {
            Node::Service(service) if created => self.follow(service, Vec::new()).await,
            Node::Service(service) => self.drop_service(service),
            Node::Providers(service) if !created => {
                if let Some((_, feed)) = self.services.get(service) {
                    feed.listed(Vec::new());
                }
            }
            Node::Provider(service, name) => {
                if let Some((_, feed)) = self.services.get(service) {
                    feed.changed([(name.to_owned(), created)]);
                }
            }
            Node::Providers(_) | Node::Other => {}
        }
    }

    /// Reads `/services` and every `providers` list (all requests in flight at once), folds
    /// in the events queued by the answers, and makes the subscriptions follow that.
    async fn resync(&mut self, watch: &mut TreeWatch, client: &Client) -> Result<(), ZkError> {
        let services = self.list(client, SERVICES).await?;
        let reads: Vec<_> = services
            .iter()
            .map(|s| {
                self.reads.fetch_add(1, Ordering::Relaxed);
                client.list_children(&format!("{SERVICES}/{s}/providers"))
            })
            .collect();
        let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (service, read) in services.into_iter().zip(reads) {
            let names = match read.await {
                Ok(names) => names,
                Err(ZkError::NoNode) => Vec::new(),
                Err(e) => return Err(e),
            };
            listed.insert(service, names.into_iter().collect());
        }
        // Each event says where its node stands: applied in order, they are exact.
        while let Some(event) = watch.try_next() {
            let (path, created) = match &event {
                TreeWatchEvent::Created(path) => (path, true),
                TreeWatchEvent::Deleted(path) => (path, false),
                _ => continue,
            };
            match node_of(path) {
                Node::Service(s) if created => drop(listed.entry(s.to_owned()).or_default()),
                Node::Service(s) => drop(listed.remove(s)),
                Node::Providers(s) if !created => listed.entry(s.to_owned()).or_default().clear(),
                Node::Provider(s, name) => {
                    let names = listed.entry(s.to_owned()).or_default();
                    if created {
                        names.insert(name.to_owned())
                    } else {
                        names.remove(name)
                    };
                }
                Node::Providers(_) | Node::Other => {}
            }
        }
        let gone: Vec<String> = self.services.keys().filter(|s| !listed.contains_key(*s)).cloned().collect();
        for service in gone {
            self.drop_service(&service);
        }
        self.refused.retain(|s| listed.contains_key(s));
        for (service, names) in listed {
            self.follow(&service, names.into_iter().collect()).await;
        }
        Ok(())
    }

    async fn list(&self, client: &Client, path: &str) -> Result<Vec<String>, ZkError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        match client.list_children(path).await {
            Ok(names) => Ok(names),
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Hands `names` to the subscription of `service`, subscribing first if needed.
    async fn follow(&mut self, service: &str, names: Vec<String>) {
        if let Some((_, feed)) = self.services.get(service) {
            feed.listed(names);
            return;
        }
        if self.refused.contains(service) {
            return;
        }
        match self.registry.subscribe_fed(service, self.options.clone()).await {
            Ok((subscription, feed)) => {
                feed.listed(names);
                self.services.insert(service.to_owned(), (subscription, feed));
            }
            Err(e) => {
                eprintln!("zkmesh dev: not following service {service:?}: {e}");
                self.refused.insert(service.to_owned());
            }
        }
    }

    /// Stops following `service`, recording it empty first (a service node can only be
    /// deleted once its providers are gone).
    fn drop_service(&mut self, service: &str) {
        if let Some((_, feed)) = self.services.remove(service) {
            feed.listed(Vec::new());
        }
        self.refused.remove(service);
    }

    /// Publishes the services followed and how many providers each subscription holds.
    fn publish(&self) {
        let followed = self.services.iter().map(|(s, (sub, _))| (s.clone(), sub.current().len())).collect();
        self.followed.send_replace(Some(followed));
    }
}
