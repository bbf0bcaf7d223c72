//! A subscription's persistent watch across gaps, while providers keep registering and
//! leaving: after a reconnection in the same session (a proxy pause) and after an injected
//! session expiry, the consumer's cache ends equal to ZooKeeper's truth, and the watch armed
//! again keeps following changes from its events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use registry::{Registration, Registry, ServiceUrl, SessionState, Subscription};
use tests::support::{
    addresses, chroot_path, eventually, providers_in_zookeeper, raw, shared_zk, within, WAIT,
};
use tests::{Proxy, Rng};

/// Long enough that the server keeps the session through a pause the client notices
/// (zookeeper-client gives up a silent connection after 40% of it) on a busy machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(8);

async fn registry(connect: &str) -> Registry {
    Registry::builder()
        .session_timeout(SESSION_TIMEOUT)
        .register_consumers(false)
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

fn url(host: u64) -> ServiceUrl {
    ServiceUrl::parse(&format!("http://10.7.0.{host}:80/svc")).unwrap_or_else(|e| panic!("{host}: {e}"))
}

/// Providers registering and leaving at random (hosts 1..=12) from one session until stopped.
struct Churn {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, HashMap<u64, Registration>)>,
}

impl Churn {
    fn start(registry: Registry, seed: u64) -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let (mut changes, mut held) = (0, HashMap::new());
            while !stopped.load(Ordering::Relaxed) {
                let host = rng.between(1, 12);
                match held.remove(&host) {
                    Some(registration) => {
                        let registration: Registration = registration;
                        registration.deregister().await.expect("deregister");
                    }
                    None => {
                        held.insert(host, registry.register(&url(host)).await.expect("register"));
                    }
                }
                changes += 1;
                tokio::time::sleep(Duration::from_millis(rng.between(2, 20))).await;
            }
            (changes, held)
        });
        Churn { stop, task }
    }

    /// Stops, returning how many changes were made and the registrations still held.
    async fn finish(self) -> (usize, HashMap<u64, Registration>) {
        self.stop.store(true, Ordering::Relaxed);
        within("the churn stops", self.task).await.expect("churn task")
    }
}

/// Waits until `sub`'s cache lists exactly the addresses ZooKeeper has.
async fn converges(sub: &Subscription, direct: &str) {
    let check = raw(direct).await;
    eventually(WAIT, "the cache equals ZooKeeper's truth", || async {
        let truth: Vec<String> = match providers_in_zookeeper(&check, "svc").await {
            Ok(truth) => truth.into_keys().collect(),
            Err(_) => return false,
        };
        addresses(&sub.current()) == truth
    })
    .await;
}

/// After a resync: a new provider and its departure are seen from events alone.
async fn still_follows(sub: &Subscription, provider: &Registry, session: &registry::Session) {
    let reads = session.reads_issued();
    let late = provider.register(&url(99)).await.expect("register late");
    sub.wait_for(WAIT, |s| s.get(late.url()).is_some()).await.expect("a change after the gap is seen");
    late.deregister().await.expect("deregister late");
    sub.wait_for(WAIT, |s| s.get(&url(99)).is_none()).await.expect("and its departure");
    assert_eq!(session.reads_issued(), reads, "from the re-armed watch's events, with no read");
}

#[tokio::test]
async fn a_reconnection_in_the_same_session_resyncs_while_providers_churn() {
    let zk = shared_zk();
    let root = chroot_path("persistent-pause");
    let proxy = Proxy::to(zk).await.expect("start the proxy");
    let direct = format!("{zk}{root}");
    let consumer = registry(&format!("{}{root}", proxy.connect_string())).await;
    let (anchor, churner) = (registry(&direct).await, registry(&direct).await);
    let _anchor = anchor.register(&url(100)).await.expect("register the anchor");
    let sub = consumer.subscribe("svc").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("the anchor seen");
    let session_id = consumer.session().session_id();
    let reads = consumer.session().reads_issued();

    let churn = Churn::start(churner, 23);
    proxy.pause();
    let mut states = consumer.session().state_watch();
    within("the consumer notices the silence", states.wait_for(|s| *s == SessionState::Suspended))
        .await
        .expect("state");
    proxy.pass();
    within("the consumer is back", states.wait_for(|s| s.is_connected())).await.expect("state");
    // Changes keep coming while the watch is armed again and the list read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (changes, _held) = churn.finish().await;
    assert!(changes > 10, "{changes} changes");

    converges(&sub, &direct).await;
    still_follows(&sub, &anchor, consumer.session()).await;
    assert_eq!(consumer.session().session_id(), session_id, "the same ZooKeeper session throughout");
    assert!(consumer.session().reads_issued() > reads, "a resync read after the gap");
}

#[tokio::test]
async fn an_expiry_resyncs_on_the_new_session_while_providers_churn() {
    let direct = format!("{}{}", shared_zk(), chroot_path("persistent-expiry"));
    let consumer = registry(&direct).await;
    let (anchor, churner) = (registry(&direct).await, registry(&direct).await);
    let _anchor = anchor.register(&url(100)).await.expect("register the anchor");
    let sub = consumer.subscribe("svc").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("the anchor seen");
    let mut events = consumer.session().events();

    let churn = Churn::start(churner, 7);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = consumer.session().session_info().expect("live");
    local_zk::expire_session(&direct, &info).await.expect("expire the consumer's session");
    within("a new session", async {
        while events.recv().await.expect("state events") != SessionState::Reconnected {}
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (changes, _held) = churn.finish().await;
    assert!(changes > 10, "{changes} changes");
    assert!(consumer.session().generation() >= 2, "a new ZooKeeper session");

    converges(&sub, &direct).await;
    still_follows(&sub, &anchor, consumer.session()).await;
}
