//! How a subscription follows its providers against a real ZooKeeper: the persistent watch
//! (the default) applies created and deleted provider nodes from its events, with no read;
//! the one-shot strategy reads the list on every change. Gaps (a reconnection, an expiry) are
//! in the `tests` crate (`persistent_watch.rs`), where a proxy can make them.

mod common;

use std::time::Duration;

use common::*;
use zkmesh_registry::WatchStrategy;
use zookeeper_client::{Acls, CreateMode};

const WAIT: Duration = Duration::from_secs(20);
const PROVIDERS: &str = "/services/svc/providers";

use common::registry_without_consumer_nodes as registry;

#[tokio::test]
async fn adds_and_removes_are_applied_from_events_without_a_read() {
    let connect = chroot("events");
    let (provider, consumer) = (registry(&connect).await, registry(&connect).await);
    let sub = consumer.subscribe_with("svc", no_protection()).await.expect("subscribe");
    let reads = consumer.session().reads_issued();
    assert_eq!(reads, 2, "one read of the providers when the watch is armed, one of the rules document");

    let a = provider.register(&url("http://10.0.0.1:80/svc")).await.expect("register a");
    let b = provider.register(&url("http://10.0.0.2:80/svc?weight=50")).await.expect("register b");
    let set = sub.wait_for(WAIT, |s| s.len() == 2).await.expect("a and b seen");
    assert_eq!(addresses(&set), ["10.0.0.1:80", "10.0.0.2:80"]);
    assert_eq!(set.get(b.url()).map(|p| p.weight()), Some(50), "decoded from the event's path");
    a.deregister().await.expect("deregister a");
    let set = sub.wait_for(WAIT, |s| s.len() == 1).await.expect("a gone");
    assert_eq!(addresses(&set), ["10.0.0.2:80"]);
    b.deregister().await.expect("deregister b");
    sub.wait_for(WAIT, |s| s.is_empty()).await.expect("b gone");

    assert_eq!(consumer.session().reads_issued(), reads, "no read after the first");
}

#[tokio::test]
async fn the_providers_directory_deleted_and_created_again_is_followed() {
    let connect = chroot("recreated");
    let consumer = registry(&connect).await;
    let writer = raw(&connect).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    writer.mkdir(PROVIDERS, &persistent).await.expect("mkdir");
    let node = |u: &str| format!("{PROVIDERS}/{}", url(u).to_node_name());
    writer.create(&node("http://10.0.1.1:80/svc"), b"", &ephemeral).await.expect("create");

    let sub = consumer.subscribe_with("svc", no_protection()).await.expect("subscribe");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("the first provider");
    writer.delete(&node("http://10.0.1.1:80/svc"), None).await.expect("delete the provider");
    writer.delete(PROVIDERS, None).await.expect("delete the directory");
    writer.delete("/services/svc", None).await.expect("delete the service");
    sub.wait_for(WAIT, |s| s.is_empty()).await.expect("emptied");

    writer.mkdir(PROVIDERS, &persistent).await.expect("mkdir again");
    writer.create(&node("http://10.0.1.2:80/svc"), b"", &ephemeral).await.expect("create again");
    let set = sub.wait_for(WAIT, |s| s.len() == 1).await.expect("the provider of the new directory");
    assert_eq!(addresses(&set), ["10.0.1.2:80"]);
    // Besides the one read of the rules document (`<service>/rules`, absent, watched for creation).
    assert_eq!(consumer.session().reads_issued(), 2, "followed by the one watch, from its events");
}

#[tokio::test]
async fn a_child_that_is_not_a_provider_url_is_rejected_and_deeper_nodes_and_data_are_ignored() {
    let connect = chroot("junk");
    let (provider, consumer) = (registry(&connect).await, registry(&connect).await);
    let sub = consumer.subscribe("svc").await.expect("subscribe");
    let good = provider.register(&url("http://10.0.2.1:80/svc")).await.expect("register");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");

    let writer = raw(&connect).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    writer.create(&format!("{PROVIDERS}/not-a-url"), b"", &persistent).await.expect("junk");
    let set = sub.wait_for(WAIT, |s| !s.rejected().is_empty()).await.expect("junk reported");
    assert_eq!(set.rejected()[0].node, "not-a-url");
    assert_eq!(addresses(&set), ["10.0.2.1:80"], "the provider stays");

    // Below a child and on a child's data: none of the subscription's business.
    let deeper = url("http://10.0.2.9:80/svc").to_node_name();
    writer.create(&format!("{PROVIDERS}/not-a-url/{deeper}"), b"", &persistent).await.expect("deeper");
    writer.set_data(good.path(), b"data", None).await.expect("set data");
    let other = provider.register(&url("http://10.0.2.2:80/svc")).await.expect("register another");
    let set = sub.wait_for(WAIT, |s| s.len() == 2).await.expect("the next provider");
    assert_eq!(addresses(&set), ["10.0.2.1:80", "10.0.2.2:80"], "nothing from below a child");
    assert_eq!(set.rejected().len(), 1);

    writer.delete(&format!("{PROVIDERS}/not-a-url/{deeper}"), None).await.expect("delete deeper");
    writer.delete(&format!("{PROVIDERS}/not-a-url"), None).await.expect("delete junk");
    let set = sub.wait_for(WAIT, |s| s.rejected().is_empty()).await.expect("junk gone");
    assert_eq!(set.len(), 2);
    drop(other);
}

#[tokio::test]
async fn two_subscriptions_of_one_session_and_dropping_one_leaves_the_other_following() {
    let connect = chroot("two-subs");
    let (provider, consumer) = (registry(&connect).await, registry(&connect).await);
    let first = consumer.subscribe("svc").await.expect("subscribe");
    let second = consumer.subscribe("svc").await.expect("subscribe again");
    let _a = provider.register(&url("http://10.0.3.1:80/svc")).await.expect("register a");
    first.wait_for(WAIT, |s| s.len() == 1).await.expect("first sees a");
    second.wait_for(WAIT, |s| s.len() == 1).await.expect("second sees a");
    drop(first);
    let _b = provider.register(&url("http://10.0.3.2:80/svc")).await.expect("register b");
    second.wait_for(WAIT, |s| s.len() == 2).await.expect("the second still follows");
}

#[tokio::test]
async fn the_one_shot_strategy_reads_the_list_on_every_change() {
    let connect = chroot("one-shot");
    let (provider, consumer) = (registry(&connect).await, registry(&connect).await);
    let options = no_protection().watch(WatchStrategy::OneShot);
    let sub = consumer.subscribe_with("svc", options).await.expect("subscribe");
    let reads = consumer.session().reads_issued();
    let a = provider.register(&url("http://10.0.4.1:80/svc")).await.expect("register");
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("seen");
    a.deregister().await.expect("deregister");
    sub.wait_for(WAIT, |s| s.is_empty()).await.expect("gone");
    assert!(consumer.session().reads_issued() >= reads + 2, "a read per change");
}
