//! The recipes' tree cache (one persistent recursive watch, `registry::TreeWatch`) across
//! network gaps made with the test [`Proxy`], while a writer keeps creating, changing and
//! deleting nodes under the cached subtree: a pause long enough for the client to notice
//! (a reconnection in the same session), then a storm of connection resets. Afterwards the
//! cache equals ZooKeeper's subtree, and no node it published ever went back to an older
//! state than one it had shown: every event it sent is checked against the writer's log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use local_zk::support::{subtree as zk_subtree, Subtree as Shape};
use recipes::{Tree, TreeCache, TreeEvent};
use registry::{Registry, SessionState};
use tests::support::{chroot_path, raw, shared_zk, within, StateLog, WAIT};
use tests::{Proxy, Rng};
use tokio::sync::broadcast::{self, error::TryRecvError};
use zookeeper_client::{Acls, CreateMode, Error as ZkError};

/// Long enough that the server keeps the session through a pause the client notices
/// (zookeeper-client gives up a silent connection after 40% of it) on a busy machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(8);

/// The directories under `/tree` the writer works in (they stay), and the leaf names it
/// creates, changes and deletes in each (again and again: a name comes back after deletion).
const DIRS: [&str; 2] = ["/tree/a", "/tree/b"];
const LEAVES: u64 = 3;

/// One change the writer made, in ZooKeeper's order (one writer, one request at a time):
/// the node's data after it (its step number), `None` for a deletion.
#[derive(Debug, Clone)]
struct Written {
    path: String,
    data: Option<u64>,
}

/// Creates, changes and deletes leaves at random (a direct client) until stopped, logging
/// each change ZooKeeper accepted.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Written>>,
}

impl Writer {
    fn start(raw: zookeeper_client::Client, seed: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let mut log = Vec::new();
            let mut step = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                step += 1;
                let dir = DIRS[rng.between(0, DIRS.len() as u64 - 1) as usize];
                let path = format!("{dir}/n{}", rng.between(0, LEAVES - 1));
                if let Some(data) = write_once(&raw, &path, step, rng.between(0, 2)).await {
                    log.push(Written { path, data });
                }
                tokio::time::sleep(Duration::from_millis(rng.between(0, 2))).await;
            }
            log
        });
        Writer { stop, task }
    }

    /// Stops, returning the log of changes.
    async fn finish(self) -> Vec<Written> {
        self.stop.store(true, Ordering::Relaxed);
        within("the writer stops", self.task).await.expect("writer task")
    }
}

/// One create (`op` 0), data change (1) or delete (2) of `path` with data `step`; what the
/// node holds afterwards when ZooKeeper made the change (`Some(None)`: deleted), else `None`.
async fn write_once(raw: &zookeeper_client::Client, path: &str, step: u64, op: u64) -> Option<Option<u64>> {
    let data = step.to_string();
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match op {
        0 => match raw.create(path, data.as_bytes(), &persistent).await {
            Ok(_) => Some(Some(step)),
            Err(ZkError::NodeExists) => None,
            Err(e) => panic!("create {path}: {e}"),
        },
        1 => match raw.set_data(path, data.as_bytes(), None).await {
            Ok(_) => Some(Some(step)),
            Err(ZkError::NoNode) => None,
            Err(e) => panic!("set {path}: {e}"),
        },
        _ => match raw.delete(path, None).await {
            Ok(()) => Some(None),
            Err(ZkError::NoNode) => None,
            Err(e) => panic!("delete {path}: {e}"),
        },
    }
}

/// Deletes every leaf there is and creates every one there is not (data from step 1,000,000).
async fn toggle_every_leaf(raw: &zookeeper_client::Client) -> Vec<Written> {
    let mut log = Vec::new();
    let mut step = 1_000_000;
    for dir in DIRS {
        for leaf in 0..LEAVES {
            let path = format!("{dir}/n{leaf}");
            step += 1;
            let exists = raw.check_stat(&path).await.expect("exists").is_some();
            let data = write_once(raw, &path, step, if exists { 2 } else { 0 }).await;
            log.push(Written { path, data: data.expect("the only writer now") });
        }
    }
    log
}

fn shape_of(tree: &Tree) -> Shape {
    tree.iter().map(|(p, n)| (p.clone(), (n.data.clone(), n.stat.version, n.stat.czxid))).collect()
}

/// Every event the cache sent so far, as (path, data it now shows: `None` when removed).
fn drain(events: &mut broadcast::Receiver<TreeEvent>, seen: &mut Vec<(String, Option<Vec<u8>>)>) {
    loop {
        match events.try_recv() {
            Ok(TreeEvent::Added { path, node } | TreeEvent::Updated { path, node, .. }) => {
                seen.push((path, Some(node.data)))
            }
            Ok(TreeEvent::Removed { path, .. }) => seen.push((path, None)),
            Ok(other) => panic!("an event of a new kind: {other:?}"),
            Err(TryRecvError::Empty) => return,
            Err(e) => panic!("the cache's events (must not lag, or states go unchecked): {e}"),
        }
    }
}

/// The states the cache showed (in `seen`, in the order sent) that are older than one it had
/// shown before for the same node, judged by the writer's `log`: each node's history is
/// the writer's changes of it in order; a state shown must be at or after the last one shown
/// (absence: the first deletion at or after it, or the start while nothing was shown).
fn went_back(log: &[Written], seen: &[(String, Option<Vec<u8>>)]) -> Vec<String> {
    let mut history: HashMap<&str, Vec<Option<u64>>> = HashMap::new();
    for w in log {
        history.entry(w.path.as_str()).or_default().push(w.data);
    }
    // Per node: the index in its history of the state shown last (`None`: the start).
    let mut at: HashMap<&str, Option<usize>> = HashMap::new();
    let mut broken = Vec::new();
    for (n, (path, data)) in seen.iter().enumerate() {
        let Some(changes) = history.get(path.as_str()) else { continue };
        let last = at.entry(path.as_str()).or_insert(None);
        let from = last.unwrap_or(0);
        let found = match data {
            None if last.is_none() => continue,
            None => (from..changes.len()).find(|&i| changes[i].is_none()),
            Some(bytes) => {
                let step = String::from_utf8_lossy(bytes).parse::<u64>().ok();
                match changes.iter().position(|c| c.is_some() && *c == step) {
                    Some(i) if i >= from || last.is_none() => Some(i),
                    Some(i) => {
                        broken.push(format!("event {n}: {path} shown at change {i} after change {from}"));
                        Some(from)
                    }
                    None => None,
                }
            }
        };
        match found {
            Some(i) => *last = Some(i),
            None => {
                broken.push(format!("event {n}: {path} shown as {data:?}, no such state after change {from}"))
            }
        }
    }
    broken
}

/// A pause the client notices (it reconnects in the same session, the watch armed again),
/// then ~3 s of resets: every connection every 200 ms, new ones refused for 50 ms every third
/// time. The cache's events are drained into `seen` as they come.
async fn pause_then_storm(
    proxy: &Proxy,
    session: &registry::Session,
    events: &mut broadcast::Receiver<TreeEvent>,
    seen: &mut Vec<(String, Option<Vec<u8>>)>,
) {
    // A pause the client notices: it reconnects in the same session, the watch armed again.
    proxy.pause();
    let mut states = session.state_watch();
    within("the cache's session notices the silence", states.wait_for(|s| *s == SessionState::Suspended))
        .await
        .expect("state");
    proxy.pass();
    within("the session is back", states.wait_for(|s| s.is_connected())).await.expect("state");
    drain(events, seen);
    for i in 0..15 {
        proxy.reset_connections();
        if i % 3 == 2 {
            proxy.reset();
            tokio::time::sleep(Duration::from_millis(50)).await;
            proxy.pass();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        drain(events, seen);
    }
}

#[tokio::test]
async fn a_tree_cache_through_a_pause_and_a_reset_storm_ends_equal_to_zookeeper_and_never_goes_back() {
    let zk = shared_zk();
    let root = chroot_path("tree-cache");
    let proxy = Proxy::to(zk).await.expect("start the proxy");
    let direct = format!("{zk}{root}");
    let (check, writer_client) = (raw(&direct).await, raw(&direct).await);
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for path in ["/tree"].into_iter().chain(DIRS) {
        check.create(path, b"dir", &persistent).await.expect("create the directories");
    }
    let consumer = Registry::builder()
        .session_timeout(SESSION_TIMEOUT)
        .register_consumers(false)
        .connect(&format!("{}{root}", proxy.connect_string()))
        .await
        .expect("connect through the proxy");
    let session = consumer.session();
    let cache = TreeCache::start(session, "/tree").await.expect("start the cache");
    let mut events = cache.events();
    let (session_id, log) = (session.session_id(), StateLog::start(session));
    let mut seen = Vec::new();

    let writer = Writer::start(writer_client, 23);
    tokio::time::sleep(Duration::from_millis(300)).await;
    pause_then_storm(&proxy, session, &mut events, &mut seen).await;
    // Changes keep coming while the watch is armed again and the tree read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut written = writer.finish().await;
    assert!(written.len() > 100, "{} changes written", written.len());
    // A last gap with no change after it: what changes in it only a resync can show.
    let mut states = session.state_watch();
    within("connected before the last gap", states.wait_for(|s| s.is_connected())).await.expect("state");
    proxy.reset();
    within("the cache's session notices the reset", states.wait_for(|s| *s == SessionState::Suspended))
        .await
        .expect("state");
    written.extend(toggle_every_leaf(&check).await);
    proxy.pass();

    let truth = zk_subtree(&check, "/tree").await;
    let tree = cache.wait_for(WAIT, |t| shape_of(t) == truth).await;
    drain(&mut events, &mut seen);
    let tree = tree.unwrap_or_else(|e| panic!("the cache equals ZooKeeper's truth {truth:?}: {e}"));
    assert_eq!(shape_of(&tree), truth);
    let broken = went_back(&written, &seen);
    assert!(
        broken.is_empty(),
        "the cache went back ({} of {} events): {broken:#?}",
        broken.len(),
        seen.len()
    );
    assert!(seen.len() > 100, "{} events checked", seen.len());
    let stats = proxy.stats();
    assert!(stats.resets >= 10 && stats.accepted >= 5, "the storm hit: {stats:?}");
    assert!(log.count(SessionState::Suspended) >= 3, "the gaps were felt: {:?}", log.seen());
    assert_eq!(session.session_id(), session_id, "the same ZooKeeper session throughout");
}

/// The checker itself: a node shown again after its deletion was shown, or shown with data
/// older than shown before, is reported; the same history in order is not.
#[test]
fn the_checker_reports_a_node_shown_in_an_older_state() {
    let w = |path: &str, data: Option<u64>| Written { path: path.to_owned(), data };
    let log = [w("/x", Some(1)), w("/x", Some(2)), w("/x", None), w("/x", Some(4)), w("/y", Some(5))];
    let s = |path: &str, data: Option<&str>| (path.to_owned(), data.map(|d| d.as_bytes().to_vec()));
    let in_order =
        [s("/x", Some("1")), s("/x", Some("2")), s("/x", None), s("/x", Some("4")), s("/y", Some("5"))];
    assert!(went_back(&log, &in_order).is_empty());
    let skipping = [s("/x", None), s("/x", Some("2")), s("/x", Some("4"))];
    assert!(went_back(&log, &skipping).is_empty(), "absent at the start, then skipping states is fine");
    assert_eq!(went_back(&log, &[s("/x", Some("2")), s("/x", Some("1"))]).len(), 1, "older data");
    assert_eq!(went_back(&log, &[s("/x", Some("4")), s("/x", None)]).len(), 1, "a deletion before it");
    assert_eq!(went_back(&log, &[s("/x", Some("9"))]).len(), 1, "data never written");
}
