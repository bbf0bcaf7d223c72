//! A 3-member ensemble under chaos. The tests of this binary run one at a time (a static async
//! mutex), so that at most one ensemble runs at once.
//!
//! - Providers flap on several sessions and a publisher publishes while the leader is killed,
//!   then (after it came back) the busiest follower: afterwards ZooKeeper holds every live
//!   provider exactly once, every consumer's cache equals ZooKeeper's truth, every config
//!   watcher holds the last version published, and no session was lost.
//! - The whole ensemble down for longer than the session timeout, then restarted: consumers
//!   serve the last known addresses and config throughout, held locks and leaderships are
//!   reported lost (never silently kept), providers re-register by themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config_center::{Config, ConfigCenter, Expect};
use local_zk::LocalEnsemble;
use recipes::{LeaderElection, Lock};
use registry::{Registration, Registry, ServiceUrl, SessionState, Subscription};
use serde::{Deserialize, Serialize};
use tests::support::{addresses, init_logging, providers_in_zookeeper, within, StateLog, WAIT};
use tests::Rng;

/// One ensemble at a time in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SERVICE: &str = "chaos";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Doc {
    seq: u64,
}

fn url(s: &str) -> ServiceUrl {
    ServiceUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

async fn registry(connect: &str, session_timeout: Duration) -> Registry {
    Registry::builder()
        .session_timeout(session_timeout)
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

fn center(registry: &Registry) -> ConfigCenter {
    ConfigCenter::builder().build(registry.session().clone()).expect("config center")
}

/// Polls `check` (which says what is still wrong) until it says nothing, or returns its last
/// answer after `within`.
async fn settled<F, Fut>(within: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            None => return Ok(()),
            Some(wrong) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("not settled within {within:?}: {wrong}"))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// [`settled`], panicking with `what`.
async fn settle<F, Fut>(within: Duration, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    if let Err(e) = settled(within, check).await {
        panic!("{what}: {e}");
    }
}

/// The member (other than `not`) that serves the most client connections (`cons`).
async fn busiest_member(ensemble: &LocalEnsemble, not: usize) -> usize {
    let mut best = (0, usize::MAX);
    for i in (0..ensemble.len()).filter(|i| *i != not) {
        let count = ensemble.four_letter(i, "cons").await.map(|c| c.matches("sid=0x").count()).unwrap_or(0);
        if best.1 == usize::MAX || count > best.0 {
            best = (count, i);
        }
    }
    best.1
}

/// What one flapping provider session ended with.
struct Flapped {
    held: BTreeMap<usize, Registration>,
    registers: u64,
    deregisters: u64,
    errors: Vec<String>,
}

fn flap_url(f: usize, k: usize) -> ServiceUrl {
    url(&format!("http://10.20.{f}.{k}:80/{SERVICE}"))
}

/// Registers and deregisters providers `10.20.<f>.1..=4` at random until `stop`.
async fn flap(registry: Registry, f: usize, stop: Arc<AtomicBool>) -> Flapped {
    let mut rng = Rng::new(0xF1A9 + f as u64);
    let mut out = Flapped { held: BTreeMap::new(), registers: 0, deregisters: 0, errors: Vec::new() };
    while !stop.load(Ordering::Relaxed) {
        let k = rng.index(4) + 1;
        if let Some(registration) = out.held.remove(&k) {
            match registration.deregister().await {
                Ok(()) => out.deregisters += 1,
                Err(e) => out.errors.push(format!("deregister 10.20.{f}.{k}: {e}")),
            }
        } else {
            match registry.register(&flap_url(f, k)).await {
                Ok(registration) => {
                    out.held.insert(k, registration);
                    out.registers += 1;
                }
                Err(e) => out.errors.push(format!("register 10.20.{f}.{k}: {e}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.between(20, 80))).await;
    }
    out
}

/// Counts, every 20 ms, the consumers that had nothing to call.
fn sample_never_empty(
    subs: Vec<Arc<Subscription>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let (mut samples, mut empty) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            for sub in &subs {
                samples += 1;
                if sub.select().is_none() {
                    empty += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (samples, empty)
    })
}

#[tokio::test]
async fn flapping_through_leader_and_follower_kills_ends_exact_and_in_sync() {
    let _serial = SERIAL.lock().await;
    init_logging();
    let mut ensemble = LocalEnsemble::start(3).await.expect("start a 3-member ensemble");
    let connect = ensemble.connect_string();
    let session_timeout = Duration::from_secs(8);

    // Flapping providers, each session also holding one stable provider.
    let mut flappers = Vec::new();
    let mut stables = Vec::new();
    for f in 0..3 {
        let registry = registry(&connect, session_timeout).await;
        let stable = registry.register(&flap_url(f, 0)).await.expect("stable provider");
        stables.push(stable);
        flappers.push(registry);
    }
    let publisher = registry(&connect, session_timeout).await;
    let publishing = center(&publisher);
    publishing.publish("chaos", "settings", &Doc { seq: 0 }, Expect::Any).await.expect("first publish");
    let mut consumers = Vec::new();
    let mut subs = Vec::new();
    let mut configs: Vec<Config<Doc>> = Vec::new();
    for _ in 0..3 {
        let consumer = registry(&connect, session_timeout).await;
        let sub = consumer.subscribe(SERVICE).await.expect("subscribe");
        sub.wait_for(WAIT, |s| s.len() >= 3).await.expect("the stable providers are seen");
        subs.push(Arc::new(sub));
        configs.push(center(&consumer).watch::<Doc>("chaos", "settings").await.expect("watch"));
        consumers.push(consumer);
    }
    let logs: Vec<StateLog> = flappers
        .iter()
        .chain(consumers.iter())
        .chain(std::iter::once(&publisher))
        .map(|r| StateLog::start(r.session()))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let flapping: Vec<_> =
        flappers.iter().enumerate().map(|(f, r)| tokio::spawn(flap(r.clone(), f, stop.clone()))).collect();
    let publishing_task = {
        let (center, stop) = (publishing.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut seq, mut last_ok, mut errors) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                match center.publish("chaos", "settings", &Doc { seq }, Expect::Any).await {
                    Ok(_) => last_ok = seq,
                    Err(_) => errors += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (seq, last_ok, errors)
        })
    };
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_never_empty(subs.clone(), sampler_stop.clone());

    // The chaos: the leader dies; it comes back; the busiest follower dies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = ensemble.leader().await.expect("a leader");
    ensemble.kill(leader).await.expect("kill the leader");
    let new_leader = ensemble.wait_for_leader(WAIT).await.expect("re-election");
    assert_ne!(new_leader, leader);
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensemble.restart(leader).await.expect("the old leader rejoins");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let follower = busiest_member(&ensemble, new_leader).await;
    ensemble.kill(follower).await.expect("kill a follower");
    ensemble.wait_for_leader(WAIT).await.expect("a leader");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let mut flapped = Vec::new();
    for task in flapping {
        flapped.push(within("a flapper stops", task).await.expect("flapper"));
    }
    let (last_seq, _last_ok, publish_errors) =
        within("the publisher stops", publishing_task).await.expect("pub");
    // One last publish, retried until it lands: its value is what every watcher must end with.
    let final_seq = last_seq + 1;
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Err(e) = publishing.publish("chaos", "settings", &Doc { seq: final_seq }, Expect::Any).await {
        assert!(tokio::time::Instant::now() < deadline, "the final publish never landed: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sampler_stop.store(true, Ordering::Relaxed);
    let (samples, empty) = within("the sampler stops", sampler).await.expect("sampler");

    // Every failure is gathered, so that one run tells everything it found.
    let mut failures = Vec::new();
    let errors: Vec<&String> = flapped.iter().flat_map(|f| &f.errors).collect();
    if !errors.is_empty() {
        failures.push(format!("register/deregister failed during the chaos: {errors:?}"));
    }
    let churn: u64 = flapped.iter().map(|f| f.registers + f.deregisters).sum();
    assert!(churn >= 30, "only {churn} registrations and deregistrations");
    if empty > 0 {
        failures.push(format!("{empty} of {samples} samples found no provider to call"));
    }

    // Consumers and watchers follow ZooKeeper's truth, whatever it is.
    let raw = zookeeper_client::Client::connect(&connect).await.expect("raw client");
    settle(WAIT, "caches and configs follow ZooKeeper", || async {
        let truth = match providers_in_zookeeper(&raw, SERVICE).await {
            Ok(truth) => truth,
            Err(e) => return Some(format!("reading ZooKeeper: {e}")),
        };
        let in_zookeeper: BTreeSet<String> = truth.keys().cloned().collect();
        for (c, sub) in subs.iter().enumerate() {
            let cache: BTreeSet<String> = addresses(&sub.current()).into_iter().collect();
            if cache != in_zookeeper {
                return Some(format!("consumer {c} has {cache:?}, ZooKeeper has {in_zookeeper:?}"));
            }
        }
        for (c, config) in configs.iter().enumerate() {
            if config.load().seq != final_seq {
                return Some(format!("watcher {c} at {:?}, last published {final_seq}", config.load()));
            }
        }
        match raw.get_data("/config/chaos/settings").await {
            Ok((data, _)) if String::from_utf8_lossy(&data).trim() == format!("seq = {final_seq}") => None,
            other => Some(format!("the document in ZooKeeper is {other:?}")),
        }
    })
    .await;

    // ZooKeeper's truth is each live provider exactly once, owned by its session.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (f, registry) in flappers.iter().enumerate() {
        let id = registry.session().session_id().expect("a live session");
        expected.insert(format!("10.20.{f}.0:80"), id);
        for k in flapped[f].held.keys() {
            expected.insert(format!("10.20.{f}.{k}:80"), id);
        }
    }
    let exact = settled(WAIT, || async {
        let truth = match providers_in_zookeeper(&raw, SERVICE).await {
            Ok(truth) => truth,
            Err(e) => return Some(format!("reading ZooKeeper: {e}")),
        };
        let wanted: BTreeMap<String, Vec<i64>> =
            expected.iter().map(|(a, id)| (a.clone(), vec![*id])).collect();
        (truth != wanted).then(|| format!("ZooKeeper has {truth:x?}, the live providers are {wanted:x?}"))
    })
    .await;
    if let Err(e) = exact {
        failures.push(format!("live providers exactly once: {e}"));
    }
    for registration in stables.iter().chain(flapped.iter().flat_map(|f| f.held.values())) {
        if !registration.status().is_active() {
            failures.push(format!("{}: {:?}", registration.url(), registration.status()));
        }
    }
    for log in &logs {
        if log.count(SessionState::Lost) > 0 {
            failures.push(format!("a leader or follower loss lost a session: {:?}", log.seen()));
        }
    }
    println!(
        "chaos: {churn} flaps, {last_seq} publishes ({publish_errors} failed), {samples} samples, killed {leader} then {follower}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn whole_ensemble_down_longer_than_the_session_serves_last_known_then_recovers() {
    let _serial = SERIAL.lock().await;
    init_logging();
    let mut ensemble = LocalEnsemble::start(3).await.expect("start a 3-member ensemble");
    let connect = ensemble.connect_string();
    let session_timeout = Duration::from_secs(4);

    let provider_a = registry(&connect, session_timeout).await;
    let provider_b = registry(&connect, session_timeout).await;
    let publisher = registry(&connect, session_timeout).await;
    let publishing = center(&publisher);
    publishing.publish("app", "settings", &Doc { seq: 1 }, Expect::Any).await.expect("publish v1");
    let p1 = provider_a.register(&url("http://10.21.0.1:80/svc")).await.expect("register");
    let p2 = provider_a.register(&url("http://10.21.0.2:80/svc")).await.expect("register");
    let p3 = provider_b.register(&url("http://10.21.0.3:80/svc")).await.expect("register");
    let all = vec!["10.21.0.1:80".to_owned(), "10.21.0.2:80".to_owned(), "10.21.0.3:80".to_owned()];
    let mut consumers = Vec::new();
    let mut subs = Vec::new();
    let mut configs: Vec<Config<Doc>> = Vec::new();
    for _ in 0..2 {
        let consumer = registry(&connect, session_timeout).await;
        let sub = consumer.subscribe("svc").await.expect("subscribe");
        sub.wait_for(WAIT, |s| addresses(s) == all).await.expect("all seen");
        subs.push(Arc::new(sub));
        configs.push(center(&consumer).watch::<Doc>("app", "settings").await.expect("watch"));
        consumers.push(consumer);
    }
    // A lock and a leadership, held before the outage.
    let nightly = Lock::new(provider_a.session(), "nightly").expect("lock");
    let guard = nightly.acquire().await.expect("acquire");
    let election = LeaderElection::new(provider_b.session(), "scheduler", b"b").expect("election");
    let leadership = election.elect().await.expect("elect");
    let mut leading = leadership.watch();
    assert!(guard.is_held() && leadership.is_leader());
    let sessions: Vec<&Registry> =
        [&provider_a, &provider_b, &publisher].into_iter().chain(consumers.iter()).collect();
    let old_ids: Vec<Option<i64>> = sessions.iter().map(|r| r.session().session_id()).collect();
    let logs: Vec<StateLog> = sessions.iter().map(|r| StateLog::start(r.session())).collect();

    // Consumers sampled every 50 ms from before the outage until everything re-synced: exactly
    // the last known addresses and config while ZooKeeper is away; never nothing to call.
    let strict = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(Mutex::new(Vec::<String>::new()));
    let sampler = {
        let (subs, configs, strict, stop, broken, all) =
            (subs.clone(), configs.clone(), strict.clone(), stop.clone(), broken.clone(), all.clone());
        tokio::spawn(async move {
            let mut samples = 0u64;
            while !stop.load(Ordering::Relaxed) {
                samples += 1;
                let strict = strict.load(Ordering::Relaxed);
                for (c, (sub, config)) in subs.iter().zip(&configs).enumerate() {
                    let mut wrong = Vec::new();
                    if sub.select().is_none() {
                        wrong.push("nothing to call".to_owned());
                    }
                    if strict && addresses(&sub.current()) != all {
                        wrong.push(format!("cache {:?}", addresses(&sub.current())));
                    }
                    if strict && config.load().seq != 1 {
                        wrong.push(format!("config {:?}", config.load()));
                    }
                    if !wrong.is_empty() {
                        broken.lock().expect("broken").push(format!("consumer {c}: {}", wrong.join(", ")));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            samples
        })
    };

    ensemble.stop_all().await.expect("stop the whole ensemble");
    let down = Instant::now();
    // Cut off for longer than the session timeout, the clients give their sessions up: the
    // holders are told, before ZooKeeper is back.
    within("the lock holder is told", guard.lost()).await;
    within("the leader is told", leading.wait_for(|leads| !*leads)).await.expect("leadership watch");
    assert!(!guard.is_held() && !leadership.is_leader());
    for (i, log) in logs.iter().enumerate() {
        let what = format!("session {i} reports Lost while ZooKeeper is down");
        within(&what, async {
            while log.count(SessionState::Lost) == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }
    let outage_min = session_timeout + Duration::from_secs(2);
    tokio::time::sleep(outage_min.saturating_sub(down.elapsed())).await;
    strict.store(false, Ordering::Relaxed);
    ensemble.restart_all().await.expect("restart the whole ensemble");
    let outage = down.elapsed();

    // Back: new sessions, providers re-registered by themselves, exactly once each.
    for registry in &sessions {
        registry.session().wait_connected(WAIT).await.expect("connected again");
    }
    for (registry, old) in sessions.iter().zip(&old_ids) {
        assert!(registry.session().generation() >= 2, "a new ZooKeeper session");
        assert_ne!(registry.session().session_id(), *old);
    }
    let raw = zookeeper_client::Client::connect(&connect).await.expect("raw client");
    let want_owners = |a: &Registry, b: &Registry| {
        let (a, b) = (a.session().session_id().unwrap_or(0), b.session().session_id().unwrap_or(0));
        BTreeMap::from([
            ("10.21.0.1:80".to_owned(), vec![a]),
            ("10.21.0.2:80".to_owned(), vec![a]),
            ("10.21.0.3:80".to_owned(), vec![b]),
        ])
    };
    settle(WAIT, "providers re-registered and caches re-synced", || async {
        let want = want_owners(&provider_a, &provider_b);
        match providers_in_zookeeper(&raw, "svc").await {
            Ok(truth) if truth == want => {}
            other => return Some(format!("ZooKeeper has {other:x?}, expected {want:x?}")),
        }
        for (c, sub) in subs.iter().enumerate() {
            if addresses(&sub.current()) != all {
                return Some(format!("consumer {c} has {:?}", addresses(&sub.current())));
            }
        }
        None
    })
    .await;
    for registration in [&p1, &p2, &p3] {
        assert!(registration.status().is_active(), "{:?}", registration.status());
    }
    // Config watches are set again: the old value stayed, a new one arrives.
    for config in &configs {
        assert_eq!(config.load().seq, 1);
    }
    publishing.publish("app", "settings", &Doc { seq: 2 }, Expect::Any).await.expect("publish v2");
    for config in &mut configs {
        config.wait_for(WAIT, |d, _| d.seq == 2).await.expect("the new version arrives");
    }
    stop.store(true, Ordering::Relaxed);
    let samples = within("the sampler stops", sampler).await.expect("sampler");
    let broken = broken.lock().expect("broken").clone();
    assert!(samples >= 50, "{samples} samples");
    assert!(broken.is_empty(), "consumers must serve the last known state throughout: {broken:?}");

    // Lost stays lost: nothing re-acquired behind the holders' backs; asking again works once
    // the old session's nodes are gone.
    assert!(!guard.is_held() && !leadership.is_leader());
    let again = within("the lock can be taken again", nightly.acquire()).await.expect("acquire again");
    assert!(again.is_held());
    let leads_again = within("a new candidacy leads", election.elect()).await.expect("elect again");
    assert!(leads_again.is_leader());
    println!("whole ensemble down for {outage:?}; {samples} samples");
}
