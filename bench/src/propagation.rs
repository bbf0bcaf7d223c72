//! `zkbench propagation`: register / deregister until a consumer's cache shows it, against the
//! raw floor (create, child watch event, `get_children`) on two plain `zookeeper-client`
//! sessions. Trials alternate between the two so that drift hits both alike. zkmesh's time
//! ends when the provider set holding the change is built for the cache (`built_at`); the
//! floor's when its `get_children` answer is back in the benchmark's task.

use std::time::{Duration, Instant};

use registry::{Registry, ServiceUrl, SubscribeOptions};
use zookeeper_client::{Acls, Client, CreateMode};

use crate::stats::Samples;
use crate::BoxError;

const WAIT: Duration = Duration::from_secs(10);

pub async fn run(root: &str, trials: usize) -> Result<String, BoxError> {
    // Both sides under the same chroot (created by a registry session).
    let provider = Registry::builder().register_consumers(false).connect(root).await?;
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    let sub = consumer
        .subscribe_with("bench", SubscribeOptions::default().empty_protection(false).register_consumer(false))
        .await?;
    let raw_provider = Client::connect(root).await?;
    let raw_consumer = Client::connect(root).await?;
    raw_provider.mkdir("/floor", &CreateMode::Persistent.with_acls(Acls::anyone_all())).await?;

    let (mut add, mut del, mut floor_add, mut floor_del) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    // A few untimed rounds first: connections, JIT and caches warm up on both sides.
    for trial in 0..trials + 10 {
        let (fa, fd) = floor_trial(&raw_provider, &raw_consumer, trial).await?;
        let (a, d) = ours_trial(&provider, &sub, trial).await?;
        if trial >= 10 {
            floor_add.push(fa);
            floor_del.push(fd);
            add.push(a);
            del.push(d);
        }
    }
    let (add_p50, del_p50, floor_add_p50, floor_del_p50) =
        (add.p50(), del.p50(), floor_add.p50(), floor_del.p50());
    Ok(format!(
        "propagation trials={trials} add_p50_us={add_p50:.0} add_p99_us={:.0} del_p50_us={del_p50:.0} \
         floor_add_p50_us={floor_add_p50:.0} floor_del_p50_us={floor_del_p50:.0} ratio_add_p50={:.3} ratio_del_p50={:.3}",
        add.p99(),
        add_p50 / floor_add_p50,
        del_p50 / floor_del_p50,
    ))
}

/// Raw floor: create on one session, watch event and `get_and_watch_children` on the other.
async fn floor_trial(
    provider: &Client,
    consumer: &Client,
    trial: usize,
) -> Result<(Duration, Duration), BoxError> {
    let name = format!("n{trial}");
    let path = format!("/floor/{name}");
    let (_, _, watcher) = consumer.get_and_watch_children("/floor").await?;
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
        let (children, _, next) = consumer.get_and_watch_children("/floor").await?;
        if done(&children) {
            return Ok((Instant::now(), next));
        }
        watcher = next;
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
    let url = ServiceUrl::new("http", "10.9.0.1", port, "bench")?.with_param("timestamp", 1)?;
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
