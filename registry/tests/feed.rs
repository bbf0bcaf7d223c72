//! A fed subscription (`Registry::subscribe_fed` and its `ProviderFeed`) against a real
//! ZooKeeper: it follows the provider names it is handed (a full listing resets it, a created
//! or deleted name changes it), refuses sources it cannot be fed for, and, fed by a follower
//! with one persistent recursive watch (`TreeWatch`) that lists again after every gap, ends
//! equal to ZooKeeper's truth after a session expiry while providers come and go.

mod common;

use std::time::Duration;

use common::*;
use zkmesh_registry::{Error, Layout, ProviderFeed, Registry, ServiceUrl, Source, TreeWatch, TreeWatchEvent};
use zookeeper_client::Error as ZkError;

const WAIT: Duration = Duration::from_secs(20);
const PROVIDERS: &str = "/services/svc/providers";

use common::registry_without_consumer_nodes as registry;

/// The provider node name of `http://<address>/svc`.
fn name(address: &str) -> String {
    url(&format!("http://{address}/svc")).to_node_name()
}

fn sorted(addresses: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
    v.sort();
    v
}

fn addresses_sorted(set: &zkmesh_registry::ProviderSet) -> Vec<String> {
    let mut v = addresses(set);
    v.sort();
    v
}

#[tokio::test]
async fn a_fed_subscription_follows_the_listings_and_changes_it_is_handed_with_no_read() {
    let consumer = registry(&chroot("fed-changes")).await;
    let (sub, feed) = consumer.subscribe_fed("svc", no_protection()).await.expect("subscribe fed");
    assert_eq!(feed.service(), "svc");
    assert!(sub.current().is_empty(), "nothing until the feed lists the providers");
    let reads = consumer.session().reads_issued();

    feed.listed(vec![name("10.0.0.1:80"), name("10.0.0.2:80")]);
    let want = sorted(&["10.0.0.1:80", "10.0.0.2:80"]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == want).await.expect("the listing");
    feed.changed([(name("10.0.0.3:80"), true), (name("10.0.0.1:80"), false)]);
    let want = sorted(&["10.0.0.2:80", "10.0.0.3:80"]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == want).await.expect("an add and a remove");
    // A name that is not a provider URL is left out, as from a watch; the rest still applies.
    feed.changed([("not a url".to_owned(), true), (name("10.0.0.4:80"), true)]);
    let want = sorted(&["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == want).await.expect("the valid name of the two");
    // A listing (as after a gap) replaces everything: names not in it go, whatever came before.
    feed.listed(vec![name("10.0.0.5:80")]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == ["10.0.0.5:80"]).await.expect("the new listing alone");
    feed.listed(Vec::new());
    sub.wait_for(WAIT, |s| s.is_empty()).await.expect("an empty listing (no protection asked)");
    assert_eq!(consumer.session().reads_issued(), reads, "the feed is applied with no read of its own");
}

#[tokio::test]
async fn a_fed_subscription_refuses_a_source_other_than_one_in_the_zkmesh_layout() {
    let consumer = registry(&chroot("fed-refuses")).await;
    let dubbo = Source { layout: Layout::Dubbo, root: "/dubbo".to_owned() };
    let zkmesh = |root: &str| Source { layout: Layout::Zkmesh, root: root.to_owned() };
    let refused = [
        ("a Dubbo layout", no_protection().source(dubbo.clone())),
        ("two zkmesh roots", no_protection().source(zkmesh("/services")).source(zkmesh("/more"))),
        ("a zkmesh and a Dubbo root", no_protection().source(zkmesh("/services")).source(dubbo)),
    ];
    for (what, options) in refused {
        match consumer.subscribe_fed("svc", options).await {
            Err(Error::InvalidArgument { what: argument, reason }) => {
                assert!(argument.contains("svc") && reason.contains("zkmesh"), "{what}: {argument}: {reason}")
            }
            Err(e) => panic!("{what}: refused for another reason: {e:?}"),
            Ok(_) => panic!("{what}: a fed subscription was made"),
        }
    }
    let one = no_protection().source(zkmesh("/elsewhere"));
    consumer.subscribe_fed("svc", one).await.expect("one zkmesh source, at another root");
}

/// Feeds `feed` from one persistent recursive watch on the providers directory, as
/// `zkmesh dev`'s follower does for every service: after every gap (`Armed`), the list read
/// whole and the events its answer queued folded in, then created and deleted names.
async fn feed_from_a_tree_watch(consumer: Registry, feed: ProviderFeed) {
    let Ok(mut watch) = TreeWatch::new(consumer.session().core(), PROVIDERS) else { return };
    let provider_name = |path: &str| path.strip_prefix(PROVIDERS)?.strip_prefix('/').map(str::to_owned);
    loop {
        match watch.next().await {
            Ok(TreeWatchEvent::Armed(live)) => {
                let mut names = match live.client.list_children(PROVIDERS).await {
                    Ok(names) => names,
                    Err(ZkError::NoNode) => Vec::new(),
                    Err(_) => {
                        watch.resync();
                        continue;
                    }
                };
                while let Some(event) = watch.try_next() {
                    match event {
                        TreeWatchEvent::Created(path) => names.extend(provider_name(&path)),
                        TreeWatchEvent::Deleted(path) => {
                            names.retain(|n| Some(n) != provider_name(&path).as_ref())
                        }
                        _ => {}
                    }
                }
                names.sort();
                names.dedup();
                feed.listed(names);
            }
            Ok(TreeWatchEvent::Created(path)) => feed.changed(provider_name(&path).map(|n| (n, true))),
            Ok(TreeWatchEvent::Deleted(path)) => feed.changed(provider_name(&path).map(|n| (n, false))),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// A consumer on a runtime of its own (one thread), fed by [`feed_from_a_tree_watch`], that
/// the test can stop dead: while `freeze` runs its thread does nothing (no reconnection, no
/// event), until the test lets it go.
struct Frozen {
    consumer: Registry,
    sub: zkmesh_registry::Subscription,
    freeze: tokio::sync::mpsc::UnboundedSender<std::sync::mpsc::Receiver<()>>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Frozen {
    fn start(connect: String) -> Frozen {
        let (ready, started) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let consumer = registry(&connect).await;
                let (sub, feed) =
                    consumer.subscribe_fed("svc", no_protection()).await.expect("subscribe fed");
                tokio::spawn(feed_from_a_tree_watch(consumer.clone(), feed));
                let (freeze, mut frozen) =
                    tokio::sync::mpsc::unbounded_channel::<std::sync::mpsc::Receiver<()>>();
                let (done, finished) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    while let Some(until) = frozen.recv().await {
                        // Blocks the runtime's only thread on purpose.
                        let _ = until.recv();
                    }
                });
                ready.send(Frozen { consumer, sub, freeze, done: Some(done) }).expect("hand over");
                let _ = finished.await;
            });
        });
        started.recv().expect("the consumer's runtime started")
    }

    /// Stops the consumer's thread until the returned sender is dropped.
    fn freeze(&self) -> std::sync::mpsc::Sender<()> {
        let (go, until) = std::sync::mpsc::channel();
        self.freeze.send(until).expect("the consumer's runtime");
        go
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

#[tokio::test]
async fn a_fed_subscription_ends_equal_to_zookeeper_after_an_expiry_its_feeder_lists_again_after() {
    let connect = chroot("fed-expiry");
    let provider = registry(&connect).await;
    let check = raw(&connect).await;
    let frozen = Frozen::start(connect.clone());
    let (consumer, sub) = (&frozen.consumer, &frozen.sub);
    let a = provider.register(&url("http://10.0.1.1:80/svc")).await.expect("register a");
    let b = provider.register(&url("http://10.0.1.2:80/svc")).await.expect("register b");
    let want = sorted(&["10.0.1.1:80", "10.0.1.2:80"]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == want).await.expect("a and b, from events");

    // The consumer stands still while its session is expired and b leaves and c comes: only
    // the feeder's listing on the next session can tell (the old watch died with the session).
    let mut states = consumer.session().events();
    let info = consumer.session().session_info().expect("live");
    let go = frozen.freeze();
    local_zk::expire_session(&connect, &info).await.expect("expire the consumer's session");
    b.deregister().await.expect("deregister b");
    let c = provider.register(&url("http://10.0.1.3:80/svc")).await.expect("register c");
    drop(go);
    expect_state(&mut states, zkmesh_registry::SessionState::Reconnected, WAIT).await;
    let want = sorted(&["10.0.1.1:80", "10.0.1.3:80"]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == want).await.expect("the listing after the expiry");
    let truth = check.list_children(PROVIDERS).await.expect("ZooKeeper's list");
    let mut truth: Vec<String> =
        truth.iter().filter_map(|n| ServiceUrl::from_node_name(n).ok()).map(|u| u.address()).collect();
    truth.sort();
    assert_eq!(addresses_sorted(&sub.current()), truth, "equal to ZooKeeper's truth");
    assert!(consumer.session().generation() >= 2, "a new ZooKeeper session");

    // And it keeps following from the re-armed watch's events.
    let d = provider.register(&url("http://10.0.1.4:80/svc")).await.expect("register d");
    a.deregister().await.expect("deregister a");
    let want = sorted(&["10.0.1.3:80", "10.0.1.4:80"]);
    sub.wait_for(WAIT, |s| addresses_sorted(s) == want).await.expect("changes after the resync");
    drop((c, d));
}
