//! Providers and consumers against a real ZooKeeper: registration, deregistration, a killed
//! provider, injected expiry, filters, empty protection, bad nodes, tower p2c over live
//! membership.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use local_zk::expire_session;
use zkmesh_registry::{
    Filter, LoadBalance, ProviderChange, Registry, ServiceUrl, Session, SessionState, SubscribeOptions,
};
use zookeeper_client::{Acls, CreateMode};

const WAIT: Duration = Duration::from_secs(20);

async fn registry(connect: &str) -> Registry {
    Registry::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

#[tokio::test]
async fn two_providers_and_a_consumer() {
    let connect = chroot("two");
    let provider_a = registry(&connect).await;
    let consumer = registry(&connect).await;

    let greeter = consumer.subscribe("greeter").await.expect("subscribe");
    assert!(greeter.current().is_empty());
    assert_eq!(
        greeter.current().source(),
        zkmesh_registry::ProviderSource::ZooKeeper,
        "ZooKeeper answered (empty)"
    );
    let mut changes = greeter.changes();
    let mut story = Vec::new();
    async fn next_change(changes: &mut zkmesh_registry::ProviderChanges) -> Option<String> {
        let change = tokio::time::timeout(Duration::from_millis(300), changes.next()).await.ok()??;
        Some(match change {
            ProviderChange::Added(p) => format!("+{}", p.address()),
            ProviderChange::Removed(p) => format!("-{}", p.address()),
        })
    }

    let a = provider_a.register(&url("http://127.0.0.1:8001/greeter?weight=100")).await.expect("register a");
    assert!(a.status().is_active());
    assert!(a.url().timestamp().is_some(), "a timestamp is added");
    greeter.wait_for(WAIT, |s| s.len() == 1).await.expect("a seen");
    story.extend(next_change(&mut changes).await);
    // b is a provider process that will be killed: its session is not closed on exit (detached),
    // so ZooKeeper removes its node only when the session expires.
    let b_url = url("http://127.0.0.1:8002/greeter?weight=50");
    let b_process = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(2))
        .with_detached()
        .connect(&connect)
        .await
        .expect("connect b");
    let b_path = format!("/services/greeter/providers/{}", b_url.to_node_name());
    b_process
        .create(&b_path, b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all()))
        .await
        .expect("register b");
    let set = greeter.wait_for(WAIT, |s| s.len() == 2).await.expect("both seen");
    assert_eq!(addresses(&set), ["127.0.0.1:8001", "127.0.0.1:8002"]);
    assert_eq!(set.providers()[1].weight(), 50);
    story.extend(next_change(&mut changes).await);

    // Picks follow the weights (100:50).
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..30_000 {
        *counts.entry(greeter.select().expect("a provider").address().to_owned()).or_default() += 1;
    }
    let share_a = counts["127.0.0.1:8001"] as f64 / 30_000.0;
    assert!((share_a - 2.0 / 3.0).abs() < 0.03, "{counts:?}");

    // Deregistration is seen.
    a.deregister().await.expect("deregister");
    let set = greeter.wait_for(WAIT, |s| s.len() == 1).await.expect("a gone");
    assert_eq!(addresses(&set), ["127.0.0.1:8002"]);
    story.extend(next_change(&mut changes).await);

    // b is killed (the process ends without closing its session): seen once the session expires.
    let killed_at = std::time::Instant::now();
    drop(b_process);
    let snapshot = greeter.wait_for(WAIT, |s| s.is_empty_protected()).await.expect("b's session expired");
    assert!(killed_at.elapsed() >= Duration::from_secs(1), "not before the session timeout");
    assert_eq!(addresses(&snapshot), ["127.0.0.1:8002"], "empty protection keeps the last known provider");
    assert!(greeter.empty_refusals() >= 1);
    let check = raw(&connect).await;
    assert!(check.check_stat(&b_path).await.expect("stat").is_none(), "but the node is gone from ZooKeeper");

    // The change stream told the story in order, and nothing more (b is kept by protection).
    story.extend(next_change(&mut changes).await);
    assert_eq!(story, ["+127.0.0.1:8001", "+127.0.0.1:8002", "-127.0.0.1:8001"]);
}

#[tokio::test]
async fn without_empty_protection_the_list_empties() {
    let connect = chroot("noprotect");
    let provider = registry(&connect).await;
    let consumer = registry(&connect).await;
    let sub = consumer
        .subscribe_with("svc", SubscribeOptions::default().empty_protection(false))
        .await
        .expect("subscribe");
    let reg = provider.register(&url("http://10.0.0.1:1/svc")).await.expect("register");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");
    reg.deregister().await.expect("deregister");
    let set = sub.wait_for(WAIT, |s| s.is_empty()).await.expect("emptied");
    assert!(!set.is_empty_protected());
    assert_eq!(sub.empty_refusals(), 0);
    assert!(sub.select().is_none());
}

#[tokio::test]
async fn injected_expiry_re_registers_and_the_consumer_never_empties() {
    let connect = chroot("expiry");
    let provider = registry(&connect).await;
    let consumer = registry(&connect).await;
    let sub = consumer
        .subscribe_with("svc", SubscribeOptions::default().empty_protection(false))
        .await
        .expect("subscribe");
    let reg = provider.register(&url("http://10.0.0.1:1/svc")).await.expect("register");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");

    // Expire the consumer's session: its list must stay as it is.
    let mut updates = sub.updates();
    let mut events = consumer.session().events();
    expire_session(&connect, &consumer.session().session_info().expect("live"))
        .await
        .expect("expire consumer");
    expect_state(&mut events, SessionState::Lost, WAIT).await;
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    assert_eq!(sub.current().len(), 1);
    while updates.has_changed().unwrap_or(false) {
        assert_eq!(updates.borrow_and_update().len(), 1, "no empty list was ever published");
    }

    // Expire the provider's session: it comes back by itself.
    let mut events = provider.session().events();
    expire_session(&connect, &provider.session().session_info().expect("live"))
        .await
        .expect("expire provider");
    expect_state(&mut events, SessionState::Lost, WAIT).await;
    expect_state(&mut events, SessionState::Reconnected, WAIT).await;
    assert_eq!(provider.session().generation(), 2, "a new ZooKeeper session");
    assert!(reg.status().is_active());
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("visible again");
    let check = raw(&connect).await;
    let (children, _) = check.get_children("/services/svc/providers").await.expect("children");
    assert_eq!(children, [reg.url().to_node_name()], "registered exactly once");
}

#[tokio::test]
async fn filters_pick_group_version_and_zone() {
    let connect = chroot("filters");
    let provider = registry(&connect).await;
    let consumer = registry(&connect).await;
    let urls = [
        "http://10.0.0.1:1/svc?group=blue&version=1.2&zone=east",
        "http://10.0.0.2:1/svc?group=blue&version=1.3&zone=west",
        "http://10.0.0.3:1/svc?group=green&version=2.0&zone=east",
    ]
    .map(url);
    let _regs = futures::future::join_all(urls.iter().map(|u| provider.register(u))).await;
    let sub = |filter: Filter| consumer.subscribe_with("svc", SubscribeOptions::default().filter(filter));
    let blue = sub(Filter::any().group("blue")).await.expect("subscribe");
    let set = blue.wait_for(WAIT, |s| s.unfiltered_len() == 3).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.1:1", "10.0.0.2:1"]);
    let v1 = sub(Filter::any().version("1.*").prefer_zone("west").zone_minimum(1)).await.expect("subscribe");
    let set = v1.wait_for(WAIT, |s| s.unfiltered_len() == 3).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.2:1"]);
    let east = sub(Filter::any().prefer_zone("east")).await.expect("subscribe");
    let set = east.wait_for(WAIT, |s| s.unfiltered_len() == 3).await.expect("read");
    assert_eq!(addresses(&set), ["10.0.0.1:1", "10.0.0.3:1"]);
}

#[tokio::test]
async fn undecodable_nodes_are_skipped_and_reported() {
    let connect = chroot("foreign");
    let consumer = registry(&connect).await;
    let provider = registry(&connect).await;
    let writer = raw(&connect).await;
    writer
        .mkdir("/services/svc/providers", &CreateMode::Persistent.with_acls(Acls::anyone_all()))
        .await
        .expect("mkdir");
    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    writer.create("/services/svc/providers/not-a-url", b"", &eph).await.expect("create");
    let other = url("http://10.0.0.9:1/other").to_node_name();
    writer.create(&format!("/services/svc/providers/{other}"), b"", &eph).await.expect("create");
    // A node written by another client in the layout (a Dubbo or kazoo program) is understood.
    let foreign = url("dubbo://10.0.0.8:20880/svc?version=1.0").to_node_name();
    writer.create(&format!("/services/svc/providers/{foreign}"), b"", &eph).await.expect("create");

    let sub = consumer.subscribe("svc").await.expect("subscribe");
    let _reg = provider.register(&url("http://10.0.0.1:1/svc")).await.expect("register");
    let set = sub.wait_for(WAIT, |s| s.len() == 2).await.expect("good ones seen");
    assert_eq!(addresses(&set), ["10.0.0.8:20880", "10.0.0.1:1"], "sorted by URL: dubbo:// before http://");
    let mut rejected: Vec<_> = set.rejected().iter().map(|r| r.node.clone()).collect();
    rejected.sort();
    assert_eq!(rejected, [other, "not-a-url".to_owned()]);
}

#[tokio::test]
async fn consumers_register_themselves() {
    let connect = chroot("consumers");
    let consumer = registry(&connect).await;
    let sub = consumer.subscribe("svc").await.expect("subscribe");
    let node = sub.consumer_node().expect("registered by default");
    let check = raw(&connect).await;
    let (children, _) = check.get_children("/services/svc/consumers").await.expect("children");
    assert_eq!(children.len(), 1);
    let url = ServiceUrl::from_node_name(&children[0]).expect("decodes");
    assert_eq!((url.scheme(), url.service(), url.port()), ("consumer", "svc", 0));
    assert!(node.path().ends_with(&children[0]));
    drop(sub);
    eventually(WAIT, "consumer node removed", || async {
        check.get_children("/services/svc/consumers").await.map(|(c, _)| c.is_empty()).unwrap_or(false)
    })
    .await;
    let quiet = consumer
        .subscribe_with("svc", SubscribeOptions::default().register_consumer(false))
        .await
        .expect("subscribe");
    assert!(quiet.consumer_node().is_none());
}

#[tokio::test]
async fn bad_input_is_refused_before_any_write() {
    let connect = chroot("bad");
    let reg = registry(&connect).await;
    for name in ["", "a/b", "has space", "ü", &"x".repeat(256)] {
        let err = reg.subscribe(name).await.expect_err(name);
        assert!(matches!(err, zkmesh_registry::Error::InvalidServiceName { .. }), "{name:?}: {err:?}");
    }
    for bad in ["http://h/s", "http://h:0/s", "http://h:1/a/b", "http://h:1/s?weight=-1", "ftp//x"] {
        assert!(matches!(ServiceUrl::parse(bad), Err(zkmesh_registry::Error::InvalidUrl { .. })), "{bad}");
    }
    let check = raw(&connect).await;
    assert!(check.check_stat("/services").await.expect("stat").is_none(), "nothing was written");
}

#[tokio::test]
async fn round_robin_and_consistent_hash_over_live_members() {
    let connect = chroot("balance");
    let provider = registry(&connect).await;
    let consumer = registry(&connect).await;
    let urls = ["http://10.0.0.1:1/svc?weight=3", "http://10.0.0.2:1/svc?weight=1"].map(url);
    let _regs = futures::future::join_all(urls.iter().map(|u| provider.register(u))).await;
    let rr = consumer
        .subscribe_with("svc", SubscribeOptions::default().balance(LoadBalance::RoundRobin))
        .await
        .expect("subscribe");
    rr.wait_for(WAIT, |s| s.len() == 2).await.expect("seen");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..400 {
        *counts.entry(rr.select().expect("one").address().to_owned()).or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), [300, 100], "exactly 3:1 over whole periods");

    let ch = consumer
        .subscribe_with("svc", SubscribeOptions::default().balance(LoadBalance::ConsistentHash))
        .await
        .expect("subscribe");
    ch.wait_for(WAIT, |s| s.len() == 2).await.expect("seen");
    for user in 0..50u32 {
        let key = format!("user-{user}");
        let first = ch.select_by_key(key.as_bytes()).expect("one").address().to_owned();
        for _ in 0..5 {
            assert_eq!(ch.select_by_key(key.as_bytes()).expect("one").address(), first, "sticky");
        }
    }
}

#[tokio::test]
async fn tower_p2c_balances_over_live_membership() {
    use tower::balance::p2c::Balance;
    use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
    use tower::{Service, ServiceExt};

    let connect = chroot("tower");
    let provider = registry(&connect).await;
    let consumer = registry(&connect).await;
    let a = provider.register(&url("http://127.0.0.1:7001/echo")).await.expect("register");
    let _b = provider.register(&url("http://127.0.0.1:7002/echo")).await.expect("register");
    let sub = consumer.subscribe("echo").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 2).await.expect("seen");

    let discover = sub.discover(|p| {
        let addr = p.address().to_owned();
        tower::service_fn(move |_req: ()| {
            let addr = addr.clone();
            async move { Ok::<_, std::convert::Infallible>(addr) }
        })
    });
    // Pending-requests load: with one call at a time both providers tie, so p2c spreads the
    // calls over both (PeakEwma would rightly stick to whichever answered fastest).
    let discover = PendingRequestsDiscover::new(discover, CompleteOnResponse::default());
    let mut balance = Balance::new(discover);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..200 {
        let who = balance.ready().await.expect("ready").call(()).await.expect("call");
        *seen.entry(who).or_default() += 1;
    }
    assert_eq!(seen.len(), 2, "both providers served: {seen:?}");

    a.deregister().await.expect("deregister");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("a gone from the cache");
    // The balancer hears of it through the Discover stream; after that only b answers.
    let mut last = Vec::new();
    for _ in 0..200 {
        last.push(balance.ready().await.expect("ready").call(()).await.expect("call"));
    }
    assert!(last[100..].iter().all(|who| who == "127.0.0.1:7002"), "{:?}", &last[100..]);
    assert_eq!(Session::clone(consumer.session()).state(), SessionState::Connected);
}

#[tokio::test]
async fn deleted_parents_are_rebuilt_and_watchers_keep_running() {
    let connect = chroot("parents");
    let provider = registry(&connect).await;
    let consumer = registry(&connect).await;
    let sub = consumer
        .subscribe_with("svc", SubscribeOptions::default().empty_protection(false).register_consumer(false))
        .await
        .expect("subscribe");
    let reg = provider.register(&url("http://10.4.0.1:80/svc")).await.expect("register");
    let before = sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen").version();

    // An operator wipes the whole service subtree in one transaction (children first, as
    // ZooKeeper requires; one multi so the provider's keeper cannot slip a node in between).
    let admin = raw(&connect).await;
    let (children, _) = admin.get_children("/services/svc/providers").await.expect("children");
    let mut wipe = admin.new_multi_writer();
    for child in &children {
        wipe.add_delete(&format!("/services/svc/providers/{child}"), None).expect("delete node");
    }
    wipe.add_delete("/services/svc/providers", None).expect("delete providers");
    wipe.add_delete("/services/svc", None).expect("delete service");
    wipe.commit().await.expect("wipe");

    // The provider's keeper rebuilds the path and its node; the consumer's watch, which saw the
    // parent vanish, waits for it to come back and reads it.
    // (Its status may still say active before the keeper has seen the deletion: the consumer's
    // set after the wipe and ZooKeeper's own listing are what tell.)
    let set = sub.wait_for(WAIT, |s| s.len() == 1 && s.version() > before).await.expect("seen again");
    assert_eq!(set.providers()[0].url(), reg.url());
    eventually(WAIT, "the node is back in ZooKeeper", || async {
        admin
            .get_children("/services/svc/providers")
            .await
            .is_ok_and(|(c, _)| c == [reg.url().to_node_name()])
    })
    .await;
    reg.wait_registered(WAIT).await.expect("re-registered");
}

/// The futures of the async API can be spawned on a multi-threaded runtime (they are `Send`).
#[tokio::test]
async fn the_async_api_can_be_spawned() {
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    let registry = Registry::builder().connect_lazy("127.0.0.1:1").expect("lazy registry");
    let r = registry.clone();
    spawnable(async move { r.subscribe_with("s", SubscribeOptions::default()).await.map(drop) });
    let r = registry.clone();
    spawnable(async move { r.subscribe("s").await.map(drop) });
    let r = registry.clone();
    spawnable(async move { r.register(&url("http://10.0.0.1:1/s")).await.map(drop) });
    let r = registry.clone();
    spawnable(async move { r.services().await.map(drop) });
    registry.session().close().await;
}

/// Deletes `root` and everything below it in one transaction (children first).
async fn delete_tree_at_once(client: &zookeeper_client::Client, root: &str) {
    let mut paths = vec![root.to_owned()];
    let mut i = 0;
    while i < paths.len() {
        let children = client.list_children(&paths[i]).await.expect("list");
        for child in children {
            paths.push(format!("{}/{child}", paths[i].trim_end_matches('/')));
        }
        i += 1;
    }
    let mut writer = client.new_multi_writer();
    for path in paths.iter().rev() {
        writer.add_delete(path, None).expect("add delete");
    }
    writer.commit().await.expect("delete the tree in one transaction");
}

#[tokio::test]
async fn a_deleted_chroot_comes_back_with_every_registration() {
    let connect = chroot("deleted-root");
    let (hosts, root) =
        connect.split_once('/').map(|(h, r)| (h.to_owned(), format!("/{r}"))).expect("chroot");
    let provider = registry(&connect).await;
    let registration = provider.register(&url("http://10.0.0.1:8080/greeter")).await.expect("register");
    let consumer = registry(&connect).await;
    let greeter = consumer.subscribe("greeter").await.expect("subscribe");
    greeter.wait_for(WAIT, |s| s.len() == 1).await.expect("provider seen");

    let top = zookeeper_client::Client::connect(&hosts).await.expect("unchrooted client");
    delete_tree_at_once(&top, &root).await;

    // The keeper re-creates the chroot and the node on the same ZooKeeper session.
    eventually(WAIT, "the chroot and the registration are back", || async {
        top.check_stat(&format!("{root}{}", registration.path()))
            .await
            .map(|stat| stat.is_some())
            .unwrap_or(false)
    })
    .await;
    let late = registry(&connect).await.subscribe("greeter").await.expect("a new consumer");
    late.wait_for(WAIT, |s| s.len() == 1).await.expect("a new consumer sees the provider");
    assert_eq!(greeter.current().len(), 1, "the old consumer kept it throughout");
}

#[tokio::test]
async fn a_session_that_may_not_create_its_chroot_names_it_when_it_is_missing() {
    let connect = chroot("no-create");
    let (hosts, root) =
        connect.split_once('/').map(|(h, r)| (h.to_owned(), format!("/{r}"))).expect("chroot");
    raw(&connect).await; // creates the chroot
    let session = Session::builder().create_chroot(false).connect(&connect).await.expect("session");
    let top = zookeeper_client::Client::connect(&hosts).await.expect("unchrooted client");
    delete_tree_at_once(&top, &root).await;
    let err = session.ensure_path("/services/greeter/providers").await.expect_err("no chroot");
    assert!(
        matches!(err, zkmesh_registry::Error::MissingChroot { ref chroot, .. } if *chroot == root),
        "{err:?}"
    );
    assert!(err.to_string().contains(&root), "{err}");
    assert!(top.check_stat(&root).await.expect("stat").is_none(), "not created");
}

#[tokio::test]
async fn streams_and_pickers_keep_following_after_the_subscription_is_dropped() {
    let connect = chroot("keep-alive");
    let provider = registry(&connect).await;
    let _a = provider.register(&url("http://10.0.0.1:80/kept")).await.expect("register");
    let consumer = registry(&connect).await;
    let sub = consumer.subscribe("kept").await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("first provider");
    let mut changes = sub.changes();
    let mut picker = sub.selector();
    drop(sub);

    let first = tokio::time::timeout(WAIT, changes.next()).await.expect("in time");
    assert!(matches!(first, Some(ProviderChange::Added(ref p)) if p.address() == "10.0.0.1:80"), "{first:?}");
    let _b = provider.register(&url("http://10.0.0.2:80/kept")).await.expect("register");
    let second = tokio::time::timeout(WAIT, changes.next()).await.expect("a change after the drop");
    assert!(
        matches!(second, Some(ProviderChange::Added(ref p)) if p.address() == "10.0.0.2:80"),
        "{second:?}"
    );
    eventually(WAIT, "the selector sees the new provider", || {
        let n = picker.current().len();
        async move { n == 2 }
    })
    .await;
}
