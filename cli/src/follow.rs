//! Following every service: one subscription per child of `/services`, kept in step with it, so
//! that the registry's per-service metrics (`zkmesh_providers{service="..."}`, ...) cover every
//! service of a ZooKeeper.
//!
//! On ZooKeeper 3.6+ one persistent recursive watch on `/services` feeds every subscription
//! (`follow_tree.rs`); on a server that refuses it, `/services` is watched with one-shot
//! watches and each subscription watches its own providers.
//!
//! Subscriptions register no consumer node (the follower is not a consumer) and have empty
//! protection off (an empty list is recorded as 0 providers, not hidden).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use registry::{NodeEvent, NodeWatch, Registry, SubscribeOptions, Subscription};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::follow_tree::{Ended, TreeFollower};

/// The services root of the zkmesh layout.
pub const SERVICES: &str = registry::DEFAULT_ROOT;

/// The services followed, with the providers each subscription holds (as of the last change
/// the follower applied).
pub type Followed = BTreeMap<String, usize>;

/// How long the subscription of a deleted service is kept to record its last read (no providers:
/// a service node can only be deleted once its `providers` node is gone).
const RETIRE_WITHIN: Duration = Duration::from_secs(5);

/// Follows every service under `/services` until dropped: subscribes to services as they
/// appear and drops the subscriptions of services whose node is deleted.
pub struct ServiceFollower {
    /// The services followed; `None` until `/services` is first read.
    followed: watch::Receiver<Option<Followed>>,
    /// Children lists the persistent follower read (what its tests count).
    #[cfg_attr(not(test), allow(dead_code))]
    reads: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl ServiceFollower {
    /// Starts following on `registry`'s session (in the background; see
    /// [`ServiceFollower::wait_for`]).
    pub fn start(registry: Registry) -> Result<Self, String> {
        let (tx, followed) = watch::channel(None);
        let reads = Arc::new(AtomicU64::new(0));
        let mut tree = TreeFollower::new(registry.clone(), tx.clone(), reads.clone());
        let task = tokio::spawn(async move {
            if let Ended::Refused = tree.run().await {
                drop(tree);
                match registry.session().watch_children(SERVICES) {
                    Ok(services) => follow(registry, services, tx).await,
                    Err(e) => eprintln!("zkmesh dev: cannot watch {SERVICES}: {e}"),
                }
            }
        });
        Ok(ServiceFollower { followed, reads, task })
    }

    /// Waits until `/services` has been read and `pred` holds for the services followed
    /// (sorted), and returns them.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[String]) -> bool,
    ) -> Result<Vec<String>, String> {
        let names = |f: &Followed| f.keys().cloned().collect::<Vec<_>>();
        let followed = self.wait_for_providers(timeout, |f| pred(&names(f))).await?;
        Ok(names(&followed))
    }

    /// Waits until `/services` has been read and `pred` holds for the services followed and
    /// their providers, and returns them.
    pub async fn wait_for_providers(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Followed) -> bool,
    ) -> Result<Followed, String> {
        let mut rx = self.followed.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|f| f.as_ref().is_some_and(&mut pred)))
            .await
            .map(|read| read.map(|followed| followed.clone().unwrap_or_default()));
        match waited {
            Ok(Ok(followed)) => Ok(followed),
            Ok(Err(_)) => Err("following the services stopped (the session closed)".into()),
            Err(_) => Err(format!(
                "the services followed did not reach the expected state within {timeout:?} (now {:?})",
                self.followed.borrow()
            )),
        }
    }

    /// Children lists read by the persistent follower so far (at start and after gaps only).
    #[cfg(test)]
    pub fn reads_issued(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ServiceFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The one-shot follower's loop: applies every read of `/services` until the session closes.
async fn follow(
    registry: Registry,
    mut services: NodeWatch<Vec<String>>,
    followed: watch::Sender<Option<Followed>>,
) {
    let options = SubscribeOptions::default().register_consumer(false).empty_protection(false);
    let mut subscriptions: BTreeMap<String, Subscription> = BTreeMap::new();
    // Services that could not be followed (reported once), until their node goes away.
    let mut refused: BTreeSet<String> = BTreeSet::new();
    // Subscriptions of deleted services, recording their last read; aborted with this task.
    let mut retiring = JoinSet::new();
    let mut event = services.get();
    loop {
        while retiring.try_join_next().is_some() {}
        let names: Option<BTreeSet<String>> = match event {
            NodeEvent::Present { value, .. } => Some(value.into_iter().collect()),
            NodeEvent::Absent => Some(BTreeSet::new()),
            // Not read yet: nothing is known to be gone.
            _ => None,
        };
        if let Some(names) = names {
            let gone: Vec<String> = subscriptions.keys().filter(|s| !names.contains(*s)).cloned().collect();
            for service in gone {
                if let Some(subscription) = subscriptions.remove(&service) {
                    retiring.spawn(async move {
                        let _ = subscription.wait_for(RETIRE_WITHIN, |set| set.is_empty()).await;
                    });
                }
            }
            refused.retain(|s| names.contains(s));
            for service in names {
                if subscriptions.contains_key(&service) || refused.contains(&service) {
                    continue;
                }
                match registry.subscribe_with(&service, options.clone()).await {
                    Ok(subscription) => {
                        subscriptions.insert(service, subscription);
                    }
                    Err(e) => {
                        eprintln!("zkmesh dev: not following service {service:?}: {e}");
                        refused.insert(service);
                    }
                }
            }
            let counts = subscriptions.iter().map(|(s, sub)| (s.clone(), sub.current().len())).collect();
            followed.send_replace(Some(counts));
        }
        event = match services.changed().await {
            Ok(event) => event,
            Err(_) => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use local_zk::LocalZooKeeper;
    use registry::ServiceUrl;

    const WAIT: Duration = Duration::from_secs(20);

    /// Services are followed as they appear and dropped when their node is deleted; a name that
    /// is not a valid service is skipped, not fatal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn follows_services_as_they_come_and_go() {
        let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
        let connect = zk.connect_string();
        let registry =
            Registry::builder().register_consumers(false).connect(&connect).await.expect("connect");
        let follower = ServiceFollower::start(registry.clone()).expect("follow");
        follower.wait_for(WAIT, <[String]>::is_empty).await.expect("no services yet");

        let url = ServiceUrl::parse("http://10.0.0.1:1/alpha").expect("url");
        let registration = registry.register(&url).await.expect("register");
        follower.wait_for(WAIT, |f| f == ["alpha"]).await.expect("alpha followed");

        let other = registry.session().client().expect("client");
        let mode = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
        other.create("/services/beta", b"", &mode).await.expect("create beta");
        other.create("/services/not a service!", b"", &mode).await.expect("create bad");
        follower.wait_for(WAIT, |f| f == ["alpha", "beta"]).await.expect("beta followed, bad skipped");

        registration.deregister().await.expect("deregister");
        other.delete("/services/alpha/providers", None).await.expect("delete providers");
        other.delete("/services/alpha", None).await.expect("delete alpha");
        follower.wait_for(WAIT, |f| f == ["beta"]).await.expect("alpha dropped");
        // The follower registered no consumer node.
        assert!(other.check_stat("/services/beta/consumers").await.expect("stat").is_none());
    }

    /// One persistent watch feeds every subscription: providers registered and deregistered
    /// in several services are seen with no children list read; after a session expiry, with
    /// churn while the session was gone, one full read and the counts equal ZooKeeper's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_watch_feeds_every_service_with_no_read_per_change_and_resyncs_after_expiry() {
        let zk = LocalZooKeeper::start().await.expect("ZooKeeper");
        let connect = zk.connect_string();
        let connect_registry = || async {
            Registry::builder().register_consumers(false).connect(&connect).await.expect("connect")
        };
        let (registry, providers) = (connect_registry().await, connect_registry().await);
        let register = |service: &str, i: u8| {
            let url = ServiceUrl::parse(&format!("http://10.0.0.{i}:1/{service}")).expect("url");
            let providers = providers.clone();
            async move { providers.register(&url).await.expect("register") }
        };
        let mut alpha =
            vec![register("alpha", 1).await, register("alpha", 2).await, register("alpha", 3).await];
        let mut beta = vec![register("beta", 1).await, register("beta", 2).await];
        let expect = |pairs: &[(&str, usize)]| -> Followed {
            pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
        };

        let follower = ServiceFollower::start(registry.clone()).expect("follow");
        let want = expect(&[("alpha", 3), ("beta", 2)]);
        follower.wait_for_providers(WAIT, |f| *f == want).await.expect("first read");
        let reads = follower.reads_issued();
        assert_eq!(reads, 3, "/services and the two providers lists");

        let gamma = register("gamma", 1).await;
        alpha.pop().expect("one").deregister().await.expect("deregister");
        let want = expect(&[("alpha", 2), ("beta", 2), ("gamma", 1)]);
        follower.wait_for_providers(WAIT, |f| *f == want).await.expect("changes seen");
        assert_eq!(follower.reads_issued(), reads, "no read per change");

        let mut states = registry.session().events();
        let info = registry.session().session_info().expect("live");
        local_zk::expire_session(&connect, &info).await.expect("expire");
        for registration in beta.drain(..) {
            registration.deregister().await.expect("deregister");
        }
        let delta = register("delta", 7).await;
        loop {
            let state = tokio::time::timeout(WAIT, states.recv()).await.expect("a state").expect("states");
            if state == registry::SessionState::Reconnected {
                break;
            }
        }
        let want = expect(&[("alpha", 2), ("beta", 0), ("delta", 1), ("gamma", 1)]);
        follower.wait_for_providers(WAIT, |f| *f == want).await.expect("ZooKeeper's truth after the expiry");
        assert!(follower.reads_issued() > reads, "a full read after the gap");
        drop((gamma, delta, alpha));
    }
}
