//! `zkbench propagation`: register / deregister until a consumer's cache shows it, against two
//! raw `zookeeper-client` floors measured in the same run:
//!
//! - the **one-shot floor**, what every ZooKeeper discovery system pays: create on one
//!   session, the child watch event and `get_and_watch_children` on another;
//! - the **persistent-watch floor** (ZooKeeper 3.6+): create on one session, the
//!   `NodeCreated` / `NodeDeleted` event of a persistent recursive watch on another, alone.
//!
//! zkmesh's subscription (its default strategy, the persistent watch) is timed until the
//! provider set holding the change is built for the cache (`built_at`, in the subscription's
//! watch task); the one-shot floor until its `get_children` answer is back in the benchmark's
//! task; the persistent floor until its event is received by a task of its own that does
//! nothing else (as zkmesh's watch task receives it), which stamps it. Trials
//! alternate between the three so that drift hits all alike. With `--siblings N`, each of the
//! three directories holds N long-named providers first, as a big service does: the one-shot
//! read grows with them, the event does not.

use std::time::{Duration, Instant};

use registry::{Registry, ServiceUrl, SubscribeOptions};
use tokio::sync::mpsc;
use zookeeper_client::{Acls, AddWatchMode, Client, CreateMode, EventType, WatchedEvent};

use crate::plot::{Cdfs, Figure};
use crate::stats::Samples;
use crate::BoxError;

const WAIT: Duration = Duration::from_secs(10);
/// Untimed rounds first: connections, JIT and caches warm up on every side.
const WARM_UP: usize = 10;
const ONE_SHOT_DIR: &str = "/floor-one-shot";
const PERSISTENT_DIR: &str = "/floor-persistent";
const SERVICE: &str = "bench";

/// `zkbench propagation`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Trials (each one add and one delete on each side).
    #[arg(long, default_value_t = 200)]
    trials: usize,
    /// Providers registered before the trials, in each directory (long names, as Dubbo's).
    #[arg(long, default_value_t = 0)]
    siblings: usize,
}

/// One side's add and delete latencies.
#[derive(Default)]
struct Side {
    add: Samples,
    del: Samples,
}

impl Side {
    fn push(&mut self, trial: usize, (add, del): (Duration, Duration)) {
        if trial >= WARM_UP {
            self.add.push(add);
            self.del.push(del);
        }
    }
}

pub async fn run(root: &str, args: Args, figure: &mut Option<Figure>) -> Result<String, BoxError> {
    let Args { trials, siblings } = args;
    // Every side under the same chroot (created by a registry session).
    let provider = Registry::builder().register_consumers(false).connect(root).await?;
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let raw_provider = Client::connect(root).await?;
    let one_shot_consumer = Client::connect(root).await?;
    let persistent_consumer = Client::connect(root).await?;
    // The siblings' session stays open to the end (closing it deletes them).
    let sibling_session = Client::connect(root).await?;
    let service_dir = format!("/services/{SERVICE}/providers");
    for dir in [ONE_SHOT_DIR, PERSISTENT_DIR, service_dir.as_str()] {
        raw_provider.mkdir(dir, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await?;
        create_siblings(&sibling_session, dir, siblings).await?;
    }
    let options = SubscribeOptions::default().empty_protection(false).register_consumer(false);
    let sub = consumer.subscribe_with(SERVICE, options).await?;
    sub.wait_for(WAIT, |s| s.len() >= siblings).await?;
    let mut events = stamped_events(&persistent_consumer).await?;

    let (mut ours, mut one_shot, mut persistent) = (Side::default(), Side::default(), Side::default());
    for trial in 0..trials + WARM_UP {
        one_shot.push(trial, one_shot_trial(&raw_provider, &one_shot_consumer, trial).await?);
        persistent.push(trial, persistent_trial(&raw_provider, &mut events, trial).await?);
        ours.push(trial, ours_trial(&provider, &sub, trial).await?);
    }
    *figure = Some(plot(&ours, &one_shot, &persistent, trials, siblings));
    let (add, del) = (ours.add.p50(), ours.del.p50());
    let (floor_add, floor_del) = (one_shot.add.p50(), one_shot.del.p50());
    let (pfloor_add, pfloor_del) = (persistent.add.p50(), persistent.del.p50());
    Ok(format!(
        "propagation trials={trials} siblings={siblings} add_p50_us={add:.0} add_p99_us={:.0} del_p50_us={del:.0} \
         floor_add_p50_us={floor_add:.0} floor_del_p50_us={floor_del:.0} \
         pfloor_add_p50_us={pfloor_add:.0} pfloor_del_p50_us={pfloor_del:.0} \
         ratio_add_p50={:.3} ratio_del_p50={:.3} ratio_pfloor_add_p50={:.3} ratio_pfloor_del_p50={:.3} \
         pfloor_vs_floor_add_p50={:.3} pfloor_vs_floor_del_p50={:.3}",
        ours.add.p99(),
        add / floor_add,
        del / floor_del,
        add / pfloor_add,
        del / pfloor_del,
        pfloor_add / floor_add,
        pfloor_del / floor_del,
    ))
}

/// The `--plot` figure: the three sides' CDFs, adds and deletes.
fn plot(ours: &Side, one_shot: &Side, persistent: &Side, trials: usize, siblings: usize) -> Figure {
    let sides = [("zkmesh", ours), ("one-shot floor", one_shot), ("persistent floor", persistent)];
    let add: Vec<_> = sides.iter().map(|(name, side)| (*name, side.add.values())).collect();
    let del: Vec<_> = sides.iter().map(|(name, side)| (*name, side.del.values())).collect();
    let title = format!("propagation latency, {trials} trials, {siblings} siblings");
    Figure::Cdfs(Cdfs::new(title).panel("register (add)", &add).panel("deregister (delete)", &del))
}

/// `count` ephemeral provider nodes under `dir`, with names as long as a Dubbo provider's
/// (about 250 characters), created 200 at a time.
async fn create_siblings(session: &Client, dir: &str, count: usize) -> Result<(), BoxError> {
    let mode = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    let mut paths = Vec::with_capacity(count);
    for i in 0..count {
        let url = ServiceUrl::new("http", &format!("10.20.{}.{}", i / 250, i % 250), 20880, SERVICE)?
            .with_param("application", "bench-sibling-provider")?
            .with_param("dubbo", "2.0.2")?
            .with_param("interface", "org.apache.dubbo.bench.SiblingService")?
            .with_param("methods", "get,put,list,delete,watch")?
            .with_param("version", "1.2.3")?
            .with_param("timestamp", 1_700_000_000_000u64 + i as u64)?;
        paths.push(format!("{dir}/{}", url.to_node_name()));
    }
    for chunk in paths.chunks(200) {
        for created in
            futures::future::join_all(chunk.iter().map(|path| session.create(path, b"", &mode))).await
        {
            created?;
        }
    }
    Ok(())
}

/// One-shot floor: create on one session, watch event and `get_and_watch_children` on the other.
async fn one_shot_trial(
    provider: &Client,
    consumer: &Client,
    trial: usize,
) -> Result<(Duration, Duration), BoxError> {
    let name = format!("n{trial}");
    let path = format!("{ONE_SHOT_DIR}/{name}");
    let (_, _, watcher) = consumer.get_and_watch_children(ONE_SHOT_DIR).await?;
    let t0 = Instant::now();
    let create = provider.create(&path, b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all()));
    let seen = observe(consumer, watcher, |children| children.contains(&name));
    let (created, seen) = tokio::join!(create, seen);
    created?;
    let (t_add, watcher) = seen?;
    let add = t_add - t0;

    let t0 = Instant::now();
    let delete = provider.delete(&path, None);
    let gone = observe(consumer, watcher, |children| !children.contains(&name));
    let (deleted, gone) = tokio::join!(delete, gone);
    deleted?;
    let (t_del, _) = gone?;
    Ok((add, t_del - t0))
}

async fn observe(
    consumer: &Client,
    mut watcher: zookeeper_client::OneshotWatcher,
    done: impl Fn(&[String]) -> bool,
) -> Result<(Instant, zookeeper_client::OneshotWatcher), BoxError> {
    loop {
        tokio::time::timeout(WAIT, watcher.changed()).await?;
        let (children, _, next) = consumer.get_and_watch_children(ONE_SHOT_DIR).await?;
        if done(&children) {
            return Ok((Instant::now(), next));
        }
        watcher = next;
    }
}

/// The persistent recursive watch's events on `PERSISTENT_DIR`, each stamped when a task that
/// does nothing else received it.
async fn stamped_events(
    consumer: &Client,
) -> Result<mpsc::UnboundedReceiver<(WatchedEvent, Instant)>, BoxError> {
    let mut watcher = consumer.watch(PERSISTENT_DIR, AddWatchMode::PersistentRecursive).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let event = watcher.changed().await;
            let session = event.event_type == EventType::Session;
            if tx.send((event, Instant::now())).is_err() || session {
                return;
            }
        }
    });
    Ok(rx)
}

/// Persistent-watch floor: create on one session, the persistent watch's event on the other.
async fn persistent_trial(
    provider: &Client,
    events: &mut mpsc::UnboundedReceiver<(WatchedEvent, Instant)>,
    trial: usize,
) -> Result<(Duration, Duration), BoxError> {
    let path = format!("{PERSISTENT_DIR}/n{trial}");
    let t0 = Instant::now();
    provider.create(&path, b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await?;
    let add = event(events, EventType::NodeCreated, &path).await? - t0;

    let t0 = Instant::now();
    provider.delete(&path, None).await?;
    Ok((add, event(events, EventType::NodeDeleted, &path).await? - t0))
}

/// When the event of `kind` on `path` was received.
async fn event(
    events: &mut mpsc::UnboundedReceiver<(WatchedEvent, Instant)>,
    kind: EventType,
    path: &str,
) -> Result<Instant, BoxError> {
    loop {
        let Some((event, at)) = tokio::time::timeout(WAIT, events.recv()).await? else {
            return Err("the persistent floor's watcher ended".into());
        };
        if event.event_type == kind && event.path == path {
            return Ok(at);
        }
        if event.event_type == EventType::Session {
            return Err(format!("the persistent floor's session: {}", event.session_state).into());
        }
    }
}

/// zkmesh: `register()` on one registry until the consumer's cache has it, `deregister()` until
/// it has not.
async fn ours_trial(
    provider: &Registry,
    sub: &registry::Subscription,
    trial: usize,
) -> Result<(Duration, Duration), BoxError> {
    let port = 1000 + (trial % 60_000) as u16;
    let url = ServiceUrl::new("http", "10.9.0.1", port, SERVICE)?.with_param("timestamp", 1)?;
    let mut updates = sub.updates();
    updates.borrow_and_update();
    let t0 = Instant::now();
    let register = provider.register(&url);
    // The time the cache got it is when the set holding it was built (just before the store),
    // not when this task was woken afterwards.
    let seen = async {
        match tokio::time::timeout(WAIT, updates.wait_for(|s| s.get(&url).is_some())).await {
            Ok(Ok(set)) => set.built_at(),
            _ => Instant::now(),
        }
    };
    let (registration, t_add) = tokio::join!(register, seen);
    let registration = registration?;
    if sub.current().get(&url).is_none() {
        return Err(format!("trial {trial}: registration not seen within {WAIT:?}").into());
    }
    let add = t_add - t0;

    let t0 = Instant::now();
    let gone = async {
        match tokio::time::timeout(WAIT, updates.wait_for(|s| s.get(&url).is_none())).await {
            Ok(Ok(set)) => set.built_at(),
            _ => Instant::now(),
        }
    };
    let (deregistered, t_del) = tokio::join!(registration.deregister(), gone);
    deregistered?;
    if sub.current().get(&url).is_some() {
        return Err(format!("trial {trial}: deregistration not seen within {WAIT:?}").into());
    }
    Ok((add, t_del - t0))
}
