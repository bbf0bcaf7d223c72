//! Following every service: one subscription per child of `/services`, kept in step with it, so
//! that the registry's per-service metrics (`zkmesh_providers{service="..."}`, ...) cover every
//! service of a ZooKeeper.
//!
//! Subscriptions register no consumer node (the follower is not a consumer) and have empty
//! protection off (an empty list is recorded as 0 providers, not hidden).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use registry::{NodeEvent, NodeWatch, Registry, SubscribeOptions, Subscription};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The services root of the zkmesh layout.
const SERVICES: &str = registry::DEFAULT_ROOT;

/// How long the subscription of a deleted service is kept to record its last read (no providers:
/// a service node can only be deleted once its `providers` node is gone).
const RETIRE_WITHIN: Duration = Duration::from_secs(5);

/// Follows every service under `/services` until dropped: subscribes to services as they
/// appear and drops the subscriptions of services whose node is deleted.
pub struct ServiceFollower {
    /// The services followed; `None` until `/services` is first read.
    followed: watch::Receiver<Option<Vec<String>>>,
    task: JoinHandle<()>,
}

impl ServiceFollower {
    /// Starts following on `registry`'s session (in the background; see
    /// [`ServiceFollower::wait_for`]).
    pub fn start(registry: Registry) -> Result<Self, String> {
        let services =
            registry.session().watch_children(SERVICES).map_err(|e| format!("watch {SERVICES}: {e}"))?;
        let (tx, followed) = watch::channel(None);
        let task = tokio::spawn(follow(registry, services, tx));
        Ok(ServiceFollower { followed, task })
    }

    /// Waits until `/services` has been read and `pred` holds for the services followed
    /// (sorted), and returns them.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[String]) -> bool,
    ) -> Result<Vec<String>, String> {
        let mut rx = self.followed.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|f| f.as_deref().is_some_and(&mut pred)))
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
}

impl Drop for ServiceFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The follower's loop: applies every read of `/services` until the session closes.
async fn follow(
    registry: Registry,
    mut services: NodeWatch<Vec<String>>,
    followed: watch::Sender<Option<Vec<String>>>,
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
            followed.send_replace(Some(subscriptions.keys().cloned().collect()));
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
}
