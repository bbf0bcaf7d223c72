//! `zkbench storm`: P registrations from S sessions at once; how long after the last create
//! the consumer's cache holds all P, and how many reads it issued.
//!
//! The cache holds them when the provider set with all P is built (`ProviderSet::built_at()`,
//! as in `propagation`); `woken_after_last_create_ms` is when a task waiting on the set's
//! updates ran next. "The last create" is when the last create's answer is back in its
//! provider's task.
//!
//! The service's `providers` node exists before the storm (as it does for any service deployed
//! before: it is persistent), unless `--cold`: then each of the first wave of registrations
//! finds no parent and creates it (`mkdir -p`) before its own node.
//!
//! Floor, in the same run: the same node names created with plain `create`s from S raw
//! `zookeeper-client` sessions, and a raw consumer that answers each child event with
//! `get_and_watch_children` until it lists all P. One untimed floor storm runs first so that
//! ZooKeeper's JIT is warm for both; then zkmesh, then the timed floor.

use std::time::{Duration, Instant};

use registry::{Registration, Registry, ServiceUrl, SubscribeOptions, Subscription};
use tokio::task::JoinHandle;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::BoxError;

pub async fn run(root: &str, providers: usize, sessions: usize, cold: bool) -> Result<String, BoxError> {
    let sessions = sessions.max(1);
    // Creates the chroot too.
    let consumer = Registry::builder().register_consumers(false).connect(root).await?;
    // Every session stays open to the end: a closing session deletes its nodes, a storm of its
    // own for ZooKeeper.
    let (_, warm_up_sessions) = floor(root, providers, sessions, "/storm-floor-warm-up").await?;
    if !cold {
        consumer.session().ensure_path("/services/storm/providers").await?;
    }
    let sub = consumer.subscribe_with("storm", SubscribeOptions::default().register_consumer(false)).await?;
    let mut registries = Vec::new();
    for _ in 0..sessions {
        registries.push(Registry::builder().register_consumers(false).connect(root).await?);
    }
    let reads_before = consumer.session().reads_issued();

    let converged = wait_for_all(&sub, providers);
    let (started, last_create, held) = register_all(&registries, providers).await?;
    let (built, woken) = converged.await?;
    let total = sub.current().len();
    if total < providers {
        return Err(format!("the consumer saw {total} of {providers} providers within 60 s").into());
    }
    let after_last_ms = |t: Instant| t.saturating_duration_since(last_create).as_secs_f64() * 1e3;
    let (built, woken) = (after_last_ms(built.unwrap_or(woken)), after_last_ms(woken));
    let reads = consumer.session().reads_issued() - reads_before;
    let create_all_ms = (last_create - started).as_secs_f64() * 1e3;
    let (floor, floor_sessions) = floor(root, providers, sessions, "/storm-floor").await?;
    drop((held, floor_sessions, warm_up_sessions));
    Ok(format!(
        "storm providers={providers} sessions={sessions} create_all_ms={create_all_ms:.1} converged_after_last_create_ms={built:.2} consumer_reads={reads} woken_after_last_create_ms={woken:.2} \
         floor_converged_after_last_create_ms={:.2} floor_reads={} floor_create_all_ms={:.1} cold={cold}",
        floor.after_last_ms, floor.reads, floor.create_all_ms,
    ))
}

/// A task that waits (up to 60 s) until `sub`'s set holds `providers` providers; it returns when
/// that set was built (`None` if it never was) and when the task ran next.
fn wait_for_all(sub: &Subscription, providers: usize) -> JoinHandle<(Option<Instant>, Instant)> {
    let mut updates = sub.updates();
    tokio::spawn(async move {
        let set = tokio::time::timeout(Duration::from_secs(60), updates.wait_for(|s| s.len() >= providers))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|set| set.built_at());
        (set, Instant::now())
    })
}

/// The storm: `providers` registrations spread over `registries`, each session's all in flight
/// at once. Returns when it started, when the last create's answer was back in its task, and
/// the registrations, per session.
async fn register_all(
    registries: &[Registry],
    providers: usize,
) -> Result<(Instant, Instant, Vec<Vec<Registration>>), BoxError> {
    let started = Instant::now();
    let per_session = providers.div_ceil(registries.len());
    let tasks: Vec<_> = registries
        .iter()
        .enumerate()
        .map(|(s, registry)| {
            let registry = registry.clone();
            tokio::spawn(async move {
                let urls = (s * per_session..((s + 1) * per_session).min(providers))
                    .map(|n| ServiceUrl::new("http", "10.8.0.1", 1 + n as u16, "storm"))
                    .collect::<Result<Vec<_>, _>>()?;
                // All of a session's creates in flight at once.
                let results = futures::future::join_all(urls.iter().map(|u| registry.register(u))).await;
                let last = Instant::now();
                let held = results.into_iter().collect::<Result<Vec<_>, _>>()?;
                Ok::<_, registry::Error>((held, last))
            })
        })
        .collect();
    let mut last_create = started;
    let mut held = Vec::new();
    for task in tasks {
        let (registrations, last) = task.await??;
        last_create = last_create.max(last);
        held.push(registrations);
    }
    Ok((started, last_create, held))
}

/// What a raw storm measured.
struct Floor {
    create_all_ms: f64,
    after_last_ms: f64,
    reads: u64,
}

/// The storm with raw sessions under `parent`: node names as `register` makes them (with a
/// `timestamp`), created all at once per session; a raw consumer reads the children on each event.
/// Returns the sessions too, to be closed when the caller is done.
async fn floor(
    root: &str,
    providers: usize,
    sessions: usize,
    parent: &'static str,
) -> Result<(Floor, Vec<Client>), BoxError> {
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let consumer = Client::connect(root).await?;
    consumer.mkdir(parent, &persistent).await?;
    let mut clients = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        clients.push(Client::connect(root).await?);
    }
    let converged = raw_consumer(consumer, parent, providers).await?;
    let (started, last_create) = raw_creates(&clients, parent, providers).await?;
    let (converged, reads) = converged.await??;
    let floor = Floor {
        create_all_ms: (last_create - started).as_secs_f64() * 1e3,
        after_last_ms: converged.saturating_duration_since(last_create).as_secs_f64() * 1e3,
        reads,
    };
    Ok((floor, clients))
}

/// The raw consumer: lists `parent` (empty) with a watch, then a task that answers each child
/// event with `get_and_watch_children` until it lists `providers` children; the task returns
/// when it did and the reads it issued.
async fn raw_consumer(
    consumer: Client,
    parent: &'static str,
    providers: usize,
) -> Result<JoinHandle<Result<(Instant, u64), BoxError>>, BoxError> {
    let (first, watcher) = {
        let (children, _, watcher) = consumer.get_and_watch_children(parent).await?;
        (children.len(), watcher)
    };
    if first != 0 {
        return Err(format!("{parent} is not empty").into());
    }
    Ok(tokio::spawn(async move {
        let (mut watcher, mut reads) = (watcher, 1u64);
        loop {
            tokio::time::timeout(Duration::from_secs(60), watcher.changed()).await?;
            let (children, _, next) = consumer.get_and_watch_children(parent).await?;
            reads += 1;
            if children.len() >= providers {
                return Ok::<_, BoxError>((Instant::now(), reads));
            }
            watcher = next;
        }
    }))
}

/// The raw storm: `providers` ephemeral nodes under `parent` spread over `clients`, each
/// session's creates all in flight at once. Returns when it started and when the last
/// create's answer was back in its task.
async fn raw_creates(
    clients: &[Client],
    parent: &'static str,
    providers: usize,
) -> Result<(Instant, Instant), BoxError> {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    let per_session = providers.div_ceil(clients.len());
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(s, client)| {
            let client = client.clone();
            tokio::spawn(async move {
                let paths = (s * per_session..((s + 1) * per_session).min(providers))
                    .map(|n| {
                        let url = ServiceUrl::new("http", "10.8.0.1", 1 + n as u16, "storm")?
                            .with_param("timestamp", millis)?;
                        Ok(format!("{parent}/{}", url.to_node_name()))
                    })
                    .collect::<Result<Vec<_>, registry::Error>>()?;
                let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
                let results =
                    futures::future::join_all(paths.iter().map(|p| client.create(p, b"", &ephemeral))).await;
                let last = Instant::now();
                for result in results {
                    result?;
                }
                Ok::<_, BoxError>(last)
            })
        })
        .collect();
    let mut last_create = started;
    for task in tasks {
        last_create = last_create.max(task.await??);
    }
    Ok((started, last_create))
}
