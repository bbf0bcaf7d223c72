//! Network partitions between clients and ZooKeeper, made with the test [`Proxy`]: the clients
//! under test (a provider, a consumer with a config watcher, a lock holder) reach ZooKeeper
//! only through the proxy; other clients (providers, a publisher, an observing consumer, a raw
//! client reading ZooKeeper's truth) connect directly. ZooKeeper's `tickTime` is 500 ms and the
//! sessions ask for 4 s, so that zookeeper-client gives up a silent connection after 1.6 s and
//! declares its session expired by itself after 5.6 s without an answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config_center::{Config, ConfigCenter, Expect};
use recipes::Lock;
use registry::{Registration, Registry, ServiceUrl, SessionState, Subscription};
use serde::{Deserialize, Serialize};
use tests::support::{
    addresses, chroot_path, eventually, providers_in_zookeeper, raw, shared_zk, within, StateLog, WAIT,
};
use tests::Proxy;

const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// Shorter than the session timeout by a margin the server keeps even on a slow machine, and
/// longer than the 1.6 s after which the client notices the silence.
const SHORT_PARTITION: Duration = Duration::from_millis(2_500);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Settings {
    version: u32,
    mode: String,
}

fn settings(version: u32) -> Settings {
    Settings { version, mode: format!("mode-{version}") }
}

fn url(s: &str) -> ServiceUrl {
    ServiceUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// One test's ZooKeeper chroot, reachable directly and through a proxy.
struct World {
    proxy: Proxy,
    direct: String,
    through: String,
    raw: zookeeper_client::Client,
}

async fn world(name: &str) -> World {
    let zk = shared_zk();
    let root = chroot_path(name);
    let proxy = Proxy::to(zk).await.expect("start the proxy");
    let direct = format!("{zk}{root}");
    let through = format!("{}{root}", proxy.connect_string());
    let raw = raw(&direct).await;
    World { proxy, direct, through, raw }
}

async fn registry(connect: &str) -> Registry {
    Registry::builder()
        .session_timeout(SESSION_TIMEOUT)
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

fn center(registry: &Registry) -> ConfigCenter {
    ConfigCenter::builder().build(registry.session().clone()).expect("config center")
}

/// The session ids owning each node of `address` in ZooKeeper.
async fn owners(world: &World, service: &str, address: &str) -> Vec<i64> {
    let truth = providers_in_zookeeper(&world.raw, service).await.expect("read the providers");
    truth.get(address).cloned().unwrap_or_default()
}

/// Samples what a consumer behind the partition serves, every 50 ms, until stopped: each
/// `select()` answers with one of `expected`, the cache is exactly `expected`, the config
/// holds `version`.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl Sampler {
    fn start(
        sub: Arc<Subscription>,
        config: Config<Settings>,
        expected: Vec<String>,
        version: u32,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let (mut samples, mut broken) = (0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                samples += 1;
                match sub.select() {
                    Some(p) if expected.iter().any(|a| a == p.address()) => {}
                    other => broken.push(format!("select() gave {other:?}")),
                }
                let cache = addresses(&sub.current());
                if cache != expected {
                    broken.push(format!("cache {cache:?}"));
                }
                if config.load().version != version {
                    broken.push(format!("config {:?}", config.load()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (samples, broken)
        });
        Sampler { stop, task }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        within("the sampler stops", self.task).await.expect("sampler")
    }
}

#[tokio::test]
async fn a_partition_shorter_than_the_session_timeout_is_invisible_to_consumers() {
    let world = world("short").await;
    let provider = registry(&world.through).await;
    let consumer = registry(&world.through).await;
    let outside = registry(&world.direct).await;
    let publisher = center(&outside);
    publisher.publish("app", "settings", &settings(1), Expect::Any).await.expect("publish v1");
    let p1 = provider.register(&url("http://10.5.0.1:80/svc")).await.expect("register p1");
    let _p2 = outside.register(&url("http://10.5.0.2:80/svc")).await.expect("register p2");
    let before = sorted(&["10.5.0.1:80", "10.5.0.2:80"]);
    let sub = Arc::new(consumer.subscribe("svc").await.expect("subscribe"));
    sub.wait_for(WAIT, |s| addresses(s) == before).await.expect("both providers seen");
    let config = center(&consumer).watch::<Settings>("app", "settings").await.expect("watch");
    assert_eq!(config.load().version, 1);
    let ids = (provider.session().session_id(), consumer.session().session_id());
    let logs = (StateLog::start(provider.session()), StateLog::start(consumer.session()));

    world.proxy.pause();
    let partitioned = Instant::now();
    let sampler = Sampler::start(sub.clone(), config.clone(), before.clone(), 1);
    // Meanwhile, on the ZooKeeper side: a new provider and a new config version.
    let _p3 = outside.register(&url("http://10.5.0.3:80/svc")).await.expect("register p3");
    publisher.publish("app", "settings", &settings(2), Expect::Any).await.expect("publish v2");
    tokio::time::sleep(SHORT_PARTITION.saturating_sub(partitioned.elapsed())).await;
    // The provider's session lives on the server: its node never left.
    assert_eq!(owners(&world, "svc", "10.5.0.1:80").await, vec![ids.0.expect("provider session")]);
    let (samples, broken) = sampler.finish().await;
    world.proxy.pass();
    assert!(samples >= 10, "sampled {samples} times");
    assert!(broken.is_empty(), "during the partition the consumer served something else: {broken:?}");

    // Healed: the changes made meanwhile arrive, on the same sessions.
    let after = sorted(&["10.5.0.1:80", "10.5.0.2:80", "10.5.0.3:80"]);
    sub.wait_for(WAIT, |s| addresses(s) == after).await.expect("the provider added meanwhile is seen");
    let mut config = config;
    config.wait_for(WAIT, |v, _| *v == settings(2)).await.expect("the version published meanwhile is loaded");
    assert_eq!((provider.session().session_id(), consumer.session().session_id()), ids, "same sessions");
    assert_eq!((provider.session().generation(), consumer.session().generation()), (1, 1));
    for log in [&logs.0, &logs.1] {
        // The partition was real: the client noticed the silence, then came back.
        eventually(WAIT, "Suspended, then Reconnected", || async {
            log.count(SessionState::Suspended) >= 1 && log.seen().last() == Some(&SessionState::Reconnected)
        })
        .await;
        assert_eq!(log.count(SessionState::Lost), 0, "no Lost: {:?}", log.seen());
    }
    assert!(
        matches!(p1.status(), registry::EphemeralStatus::Active { session_id } if Some(session_id) == ids.0)
    );
    assert_eq!(owners(&world, "svc", "10.5.0.1:80").await, vec![ids.0.expect("provider session")]);
}

#[tokio::test]
async fn a_partition_longer_than_the_session_timeout_expires_it_and_everything_recovers() {
    let world = world("long").await;
    let provider = registry(&world.through).await;
    let consumer = registry(&world.through).await;
    let outside = registry(&world.direct).await;
    let observer = registry(&world.direct).await;
    let publisher = center(&outside);
    publisher.publish("app", "settings", &settings(1), Expect::Any).await.expect("publish v1");
    let p1: Registration = provider.register(&url("http://10.6.0.1:80/svc")).await.expect("register p1");
    let _p2 = outside.register(&url("http://10.6.0.2:80/svc")).await.expect("register p2");
    let before = sorted(&["10.6.0.1:80", "10.6.0.2:80"]);
    let sub = Arc::new(consumer.subscribe("svc").await.expect("subscribe"));
    let watching = observer.subscribe("svc").await.expect("observer subscribes");
    sub.wait_for(WAIT, |s| addresses(s) == before).await.expect("both seen behind the proxy");
    watching.wait_for(WAIT, |s| addresses(s) == before).await.expect("both seen outside");
    let mut config = center(&consumer).watch::<Settings>("app", "settings").await.expect("watch");
    // A lock held behind the partition, and a contender outside.
    let guard = Lock::new(provider.session(), "job").expect("lock").acquire().await.expect("acquire");
    let contender_lock = Lock::new(outside.session(), "job").expect("lock");
    let contender = tokio::spawn(async move { contender_lock.acquire().await });
    let old = (provider.session().session_id(), consumer.session().session_id());
    let provider_log = StateLog::start(provider.session());
    let consumer_log = StateLog::start(consumer.session());
    let state_when_taken = Arc::new(Mutex::new(None));

    world.proxy.pause();
    let sampler = Sampler::start(sub.clone(), config.clone(), before.clone(), 1);
    // ZooKeeper expires the provider's session: a consumer outside sees it leave.
    let p2_only = sorted(&["10.6.0.2:80"]);
    watching.wait_for(WAIT, |s| addresses(s) == p2_only).await.expect("the partitioned provider drops out");
    // The lock goes to the contender; by then the holder's session no longer says connected
    // (the documented signal to pause work that must not overlap).
    let theirs = within("the contender gets the lock", contender).await.expect("task").expect("acquire");
    *state_when_taken.lock().expect("state") = Some(provider.session().state());
    // The client learns by itself that its session is gone: Lost, and the lock is lost.
    within("the holder is told the lock is lost", guard.lost()).await;
    assert!(!guard.is_held());
    eventually(WAIT, "both sessions behind the proxy report Lost", || async {
        provider_log.count(SessionState::Lost) >= 1 && consumer_log.count(SessionState::Lost) >= 1
    })
    .await;
    // Meanwhile, on the ZooKeeper side.
    let _p3 = outside.register(&url("http://10.6.0.3:80/svc")).await.expect("register p3");
    publisher.publish("app", "settings", &settings(2), Expect::Any).await.expect("publish v2");
    tokio::time::sleep(Duration::from_millis(500)).await; // a few more samples after Lost
    let (samples, broken) = sampler.finish().await;
    world.proxy.pass();
    assert!(samples >= 20, "sampled {samples} times");
    assert!(broken.is_empty(), "the consumer must keep the last known state while cut off: {broken:?}");
    let state = state_when_taken.lock().expect("state").take();
    assert!(
        matches!(state, Some(s) if !s.is_connected()),
        "the holder's session said {state:?} when another process got the lock"
    );

    // Healed: new sessions, the provider back by itself, exactly once, caches re-synced.
    within("the provider's session is back", provider.session().wait_connected(WAIT))
        .await
        .expect("connected");
    assert!(provider.session().generation() >= 2, "a new ZooKeeper session");
    let new_provider_session = provider.session().session_id();
    assert_ne!(new_provider_session, old.0);
    p1.wait_registered(WAIT).await.expect("re-registered");
    assert!(
        matches!(p1.status(), registry::EphemeralStatus::Active { session_id } if Some(session_id) == new_provider_session),
        "{:?}",
        p1.status()
    );
    eventually(WAIT, "p1 in ZooKeeper exactly once, owned by the new session", || async {
        owners(&world, "svc", "10.6.0.1:80").await == vec![provider.session().session_id().unwrap_or(0)]
    })
    .await;
    let after = sorted(&["10.6.0.1:80", "10.6.0.2:80", "10.6.0.3:80"]);
    watching.wait_for(WAIT, |s| addresses(s) == after).await.expect("outside: p1 is back");
    sub.wait_for(WAIT, |s| addresses(s) == after).await.expect("behind the proxy: re-synced");
    config.wait_for(WAIT, |v, _| *v == settings(2)).await.expect("config re-synced");
    assert!(consumer.session().generation() >= 2);
    assert_ne!(consumer.session().session_id(), old.1);
    let truth = providers_in_zookeeper(&world.raw, "svc").await.expect("truth");
    assert!(truth.values().all(|owners| owners.len() == 1), "no duplicate: {truth:?}");
    // The lost lock is not taken back behind its holder's back; the contender keeps it.
    assert!(!guard.is_held());
    assert!(theirs.is_held());
    eventually(WAIT, "the provider's session ends Reconnected", || async {
        provider_log.seen().last() == Some(&SessionState::Reconnected)
    })
    .await;
}

#[tokio::test]
async fn reset_storms_lose_neither_the_session_nor_a_registration() {
    let world = world("storm").await;
    let provider = registry(&world.through).await;
    let consumer = registry(&world.through).await;
    let outside = registry(&world.direct).await;
    let publisher = center(&outside);
    publisher.publish("app", "settings", &settings(1), Expect::Any).await.expect("publish v1");
    let p1 = provider.register(&url("http://10.7.0.1:80/svc")).await.expect("register");
    let p1b = provider.register(&url("http://10.7.0.11:80/svc")).await.expect("register");
    let p2 = outside.register(&url("http://10.7.0.2:80/svc")).await.expect("register");
    let before = sorted(&["10.7.0.1:80", "10.7.0.11:80", "10.7.0.2:80"]);
    let sub = Arc::new(consumer.subscribe("svc").await.expect("subscribe"));
    sub.wait_for(WAIT, |s| addresses(s) == before).await.expect("all seen");
    let mut config = center(&consumer).watch::<Settings>("app", "settings").await.expect("watch");
    let ids = (provider.session().session_id(), consumer.session().session_id());
    let logs = (StateLog::start(provider.session()), StateLog::start(consumer.session()));

    // ~3 s: every connection reset every 200 ms; every third time, new connections are
    // refused for 50 ms as well. On the ZooKeeper side, a provider joins and config changes.
    let storm = async {
        for i in 0..15 {
            world.proxy.reset_connections();
            if i % 3 == 2 {
                world.proxy.reset();
                tokio::time::sleep(Duration::from_millis(50)).await;
                world.proxy.pass();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let changes = async {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let p3 = outside.register(&url("http://10.7.0.3:80/svc")).await.expect("register p3");
        publisher.publish("app", "settings", &settings(2), Expect::Any).await.expect("publish v2");
        p3
    };
    let sampling = async {
        let (mut samples, mut empty) = (0, 0);
        let deadline = Instant::now() + Duration::from_millis(3_000);
        while Instant::now() < deadline {
            samples += 1;
            if sub.select().is_none() || !(1..=2).contains(&config.load().version) {
                empty += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (samples, empty)
    };
    let ((), _p3, (samples, empty)) = tokio::join!(storm, changes, sampling);
    assert!(samples >= 20 && empty == 0, "{empty} of {samples} samples found nothing to call");
    let stats = world.proxy.stats();
    assert!(stats.resets >= 10, "the storm hit: {stats:?}");
    assert!(stats.accepted >= 10, "the clients kept reconnecting: {stats:?}");

    // After the storm: the same sessions, the registrations never left, everything in sync.
    let after = sorted(&["10.7.0.1:80", "10.7.0.11:80", "10.7.0.2:80", "10.7.0.3:80"]);
    sub.wait_for(WAIT, |s| addresses(s) == after).await.expect("the provider added in the storm is seen");
    config.wait_for(WAIT, |v, _| *v == settings(2)).await.expect("the version published in the storm");
    assert_eq!((provider.session().session_id(), consumer.session().session_id()), ids, "same sessions");
    for log in [&logs.0, &logs.1] {
        assert_eq!(log.count(SessionState::Lost), 0, "no Lost: {:?}", log.seen());
        assert!(log.count(SessionState::Suspended) >= 3, "the resets were felt: {:?}", log.seen());
    }
    let provider_session = ids.0.expect("provider session");
    for (registration, address) in [(&p1, "10.7.0.1:80"), (&p1b, "10.7.0.11:80")] {
        assert!(registration.status().is_active(), "{address}: {:?}", registration.status());
        assert_eq!(
            owners(&world, "svc", address).await,
            vec![provider_session],
            "{address}: once, same owner"
        );
    }
    // And changes still flow: a provider leaving outside is seen leaving.
    p2.deregister().await.expect("deregister p2");
    let without_p2 = sorted(&["10.7.0.1:80", "10.7.0.11:80", "10.7.0.3:80"]);
    sub.wait_for(WAIT, |s| addresses(s) == without_p2).await.expect("a later change flows");
    eventually(WAIT, "one connection per client left through the proxy", || async {
        world.proxy.stats().open == 2
    })
    .await;
}

#[tokio::test]
async fn a_client_starting_into_a_blackhole_gets_a_typed_error_and_a_lazy_one_catches_up_on_heal() {
    let world = world("blackhole").await;
    let outside = registry(&world.direct).await;
    center(&outside).publish("app", "settings", &settings(7), Expect::Any).await.expect("publish");
    let _p2 = outside.register(&url("http://10.8.0.2:80/svc")).await.expect("register");

    world.proxy.blackhole();
    // Connecting waits for its connect timeout, then says why, typed.
    let refused = within(
        "connect gives up",
        Registry::builder()
            .session_timeout(SESSION_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .connect(&world.through),
    )
    .await;
    match refused {
        Err(registry::Error::Connect { connect, .. }) => assert_eq!(connect, world.through),
        other => panic!("expected a Connect error, got {other:?}"),
    }

    // A lazily connected client starts at once and serves what it can.
    let lazy =
        Registry::builder().session_timeout(SESSION_TIMEOUT).connect_lazy(&world.through).expect("lazy");
    let sub = lazy
        .subscribe_with(
            "svc",
            registry::SubscribeOptions::default().startup_timeout(Duration::from_millis(300)),
        )
        .await
        .expect("subscribe while cut off");
    assert!(sub.select().is_none(), "nothing known yet, nothing invented");
    let mine = lazy.register(&url("http://10.8.0.1:80/svc")).await.expect("accepted while cut off");
    assert!(!mine.status().is_active(), "{:?}", mine.status());
    let lazy_center = ConfigCenter::builder()
        .startup_timeout(Duration::from_millis(300))
        .build(lazy.session().clone())
        .expect("center");
    let mut config = lazy_center
        .config::<Settings>("app", "settings")
        .expect("spec")
        .defaults(settings(0))
        .watch()
        .await
        .expect("defaults while cut off");
    assert_eq!((config.load().version, config.is_stale()), (0, true));
    assert_eq!(
        owners(&world, "svc", "10.8.0.1:80").await,
        Vec::<i64>::new(),
        "nothing written while cut off"
    );

    // Healed: everything arrives by itself.
    world.proxy.pass();
    mine.wait_registered(WAIT).await.expect("registered after the heal");
    let both = sorted(&["10.8.0.1:80", "10.8.0.2:80"]);
    sub.wait_for(WAIT, |s| addresses(s) == both).await.expect("providers arrive");
    config.wait_for(WAIT, |v, s| *v == settings(7) && !s.stale).await.expect("the document arrives");
    let id = lazy.session().session_id().expect("a session");
    assert_eq!(owners(&world, "svc", "10.8.0.1:80").await, vec![id]);
    // The connections swallowed by the blackhole stay dead; only live ones remain useful.
    assert!(world.proxy.stats().accepted > world.proxy.stats().forwarded, "{:?}", world.proxy.stats());
}

/// While the session is `Lost` (its ephemerals are gone, say the docs) a registration must not
/// claim to be in ZooKeeper: `status()` says `Active` only for "present, owned by the current
/// ZooKeeper session", and `wait_registered` means "the node is in ZooKeeper".
#[tokio::test]
async fn a_registration_is_not_reported_active_while_its_session_is_lost() {
    let world = world("stale-status").await;
    let provider = registry(&world.through).await;
    let observer = registry(&world.direct).await;
    let p1 = provider.register(&url("http://10.9.0.1:80/svc")).await.expect("register");
    let watching = observer.subscribe("svc").await.expect("subscribe");
    watching.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");
    let log = StateLog::start(provider.session());

    world.proxy.pause();
    watching
        .wait_for(WAIT, |s| s.is_empty_protected() || s.is_empty())
        .await
        .expect("ZooKeeper expired the session: the node is gone");
    eventually(WAIT, "the provider's session reports Lost", || async { log.count(SessionState::Lost) >= 1 })
        .await;
    assert_eq!(owners(&world, "svc", "10.9.0.1:80").await, Vec::<i64>::new(), "not in ZooKeeper");
    let status = p1.status();
    let claims_registered = tokio::time::timeout(Duration::from_millis(200), p1.wait_registered(WAIT)).await;
    world.proxy.pass();
    assert!(
        !status.is_active(),
        "the session is Lost and the node is gone from ZooKeeper, yet the registration says {status:?}"
    );
    assert!(
        !matches!(claims_registered, Ok(Ok(()))),
        "wait_registered() returned Ok while the node was not in ZooKeeper"
    );
}

/// `connect_timeout` is "how long `connect` waits for the first session": a client that cannot
/// reach ZooKeeper at boot (here a blackhole: the TCP connection opens, nothing answers) must
/// get its error then, so that it can fall back, not once the session layer's own connection
/// attempt times out (`session_timeout` x 0.4 in zookeeper-client, 4 s with the default 10 s).
#[tokio::test]
async fn connect_into_a_blackhole_gives_up_at_its_connect_timeout() {
    let world = world("connect-timeout").await;
    world.proxy.blackhole();
    let connect_timeout = Duration::from_secs(1);
    // Generous: twice the timeout again on top, for a busy machine.
    let bound = connect_timeout + Duration::from_secs(2);
    let started = Instant::now();
    let refused = within(
        "connect gives up",
        Registry::builder().connect_timeout(connect_timeout).connect(&world.through),
    )
    .await;
    let took = started.elapsed();
    assert!(matches!(refused, Err(registry::Error::Connect { .. })), "{refused:?}");
    assert!(took < bound, "connect_timeout {connect_timeout:?}, but connect returned after {took:?}");
}

/// A deregistration whose request is on the wire when the connection drops (here: reset while
/// partitioned, as when the ZooKeeper member a client talks to is killed) must be retried on
/// the next connection (the session lives), not abandoned: an abandoned one leaves the
/// provider in ZooKeeper while its process believes it deregistered and drains.
#[tokio::test]
async fn a_deregistration_cut_off_in_flight_is_retried_and_the_node_goes() {
    let world = world("dereg-in-flight").await;
    let provider = registry(&world.through).await;
    let observer = registry(&world.direct).await;
    let _stays = provider.register(&url("http://10.10.0.1:80/svc")).await.expect("register");
    let leaving = provider.register(&url("http://10.10.0.2:80/svc")).await.expect("register");
    let watching = observer.subscribe("svc").await.expect("subscribe");
    watching.wait_for(WAIT, |s| s.len() == 2).await.expect("both seen");
    let session = provider.session().session_id();

    world.proxy.pause();
    let deregistering = tokio::spawn(leaving.deregister());
    // The delete is written into the silent connection (a fraction of this on loopback).
    tokio::time::sleep(Duration::from_millis(300)).await;
    world.proxy.reset_connections();
    world.proxy.pass();
    let result = within("deregister returns", deregistering).await.expect("task");
    let left_in_zookeeper = owners(&world, "svc", "10.10.0.2:80").await;
    assert!(
        result.is_ok(),
        "deregister gave up on a dropped connection: {result:?}; the node is left in ZooKeeper, owned by \
         {left_in_zookeeper:x?} (the provider's live session {session:x?})"
    );
    assert_eq!(provider.session().session_id(), session, "the session lived through the reset");
    assert!(left_in_zookeeper.is_empty(), "the node stayed in ZooKeeper, owned by {left_in_zookeeper:x?}");
    let stays = vec!["10.10.0.1:80".to_owned()];
    watching.wait_for(WAIT, |s| addresses(s) == stays).await.expect("consumers stop seeing it");
}

/// A registration whose create is on the wire when the connection drops is accepted (the
/// session layer retries it: "while ZooKeeper is unreachable the registration is returned
/// pending and retried"), not refused with the transport error.
#[tokio::test]
async fn a_registration_cut_off_in_flight_is_accepted_and_lands() {
    let world = world("reg-in-flight").await;
    let provider = registry(&world.through).await;
    let observer = registry(&world.direct).await;
    let watching = observer.subscribe("svc").await.expect("subscribe");

    world.proxy.pause();
    let registering = {
        let provider = provider.clone();
        tokio::spawn(async move { provider.register(&url("http://10.11.0.1:80/svc")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    world.proxy.reset_connections();
    world.proxy.pass();
    let result = within("register returns", registering).await.expect("task");
    let registration = result.expect("a registration cut off in flight is accepted, then retried");
    registration.wait_registered(WAIT).await.expect("it lands");
    let want = vec!["10.11.0.1:80".to_owned()];
    watching.wait_for(WAIT, |s| addresses(s) == want).await.expect("consumers see it");
    assert_eq!(owners(&world, "svc", "10.11.0.1:80").await.len(), 1, "exactly once");
}

/// A publish cut off in flight "may or may not have been applied" (the docs of `publish`), and
/// the caller decides by `is_retryable()`: a dropped connection must say retryable, as
/// ZooKeeper's own ConnectionLoss does.
#[tokio::test]
async fn a_publish_cut_off_in_flight_reports_a_retryable_error() {
    let world = world("publish-in-flight").await;
    let writer = registry(&world.through).await;
    let publishing = center(&writer);
    publishing.publish("app", "settings", &settings(1), Expect::Any).await.expect("publish v1");

    world.proxy.pause();
    let publish = {
        let publishing = publishing.clone();
        tokio::spawn(async move { publishing.publish("app", "settings", &settings(2), Expect::Any).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    world.proxy.reset_connections();
    world.proxy.pass();
    match within("publish returns", publish).await.expect("task") {
        Ok(published) => panic!("the answer was cut off, yet publish says {published:?}"),
        Err(e) => assert!(e.is_retryable(), "a dropped connection must be retryable: {e:?}"),
    }
}

/// `Lock::acquire` "waits as long as it takes (through disconnections and session expiry)":
/// a dropped connection while its request is in flight is one of those.
#[tokio::test]
async fn a_lock_acquire_cut_off_in_flight_keeps_waiting_and_gets_the_lock() {
    let world = world("lock-in-flight").await;
    let holder = registry(&world.through).await;
    let lock = Lock::new(holder.session(), "job").expect("lock");

    world.proxy.pause();
    let acquiring = tokio::spawn(async move { lock.acquire().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    world.proxy.reset_connections();
    world.proxy.pass();
    let guard = within("acquire returns", acquiring).await.expect("task").expect("the lock, not an error");
    assert!(guard.is_held());
    let children = world.raw.list_children("/locks/job").await.expect("lock nodes");
    assert_eq!(children.len(), 1, "one lock node: {children:?}");
}
