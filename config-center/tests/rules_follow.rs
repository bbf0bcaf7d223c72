//! A followed service's publishes (`RulesStore::follow`) against a real ZooKeeper: one round
//! trip (no read: `RulesStore::state_reads` stays put), a second writer's change kept through
//! the conflict fallback, the stranding check on the members the mirror saw, and the mirror
//! read again after a session expiry.

mod common;

use common::*;
use registry::Registry;
use zkmesh_config::{Error, Expect, RulesStore};

const PROVIDERS: [&str; 3] = [
    "http://10.0.0.1:80/shop?zone=az1",
    "http://10.0.0.2:80/shop?zone=az2",
    "http://10.0.0.3:80/shop?zone=az2",
];

#[tokio::test]
async fn a_followed_store_publishes_without_reading_and_consumers_see_it() {
    let connect = chroot("follow-publish");
    let zk = raw(&connect).await;
    members(&zk, "shop", &PROVIDERS, &[]).await;
    let consumer = Registry::builder().connect(&connect).await.expect("registry");
    let subscription = consumer.subscribe("shop").await.expect("subscribe");
    subscription.wait_for(WAIT, |s| s.len() == 3).await.expect("three providers");

    let rules = store(&connect).await;
    let followed = rules.follow("shop").await.expect("follow");
    followed.ready().await.expect("ready");
    rules.disable("shop", "10.0.0.1:80", false).await.expect("disable");
    rules.set_weight("shop", "10.0.0.2:80", 7, false).await.expect("two in a row do not conflict");
    assert_eq!(rules.state_reads(), 0, "no read on the publish path");
    subscription
        .wait_for(WAIT, |s| s.len() == 2 && s.providers().iter().all(|p| p.address() != "10.0.0.1:80"))
        .await
        .expect("the consumer's set leaves the disabled provider out");
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert_eq!((doc.version, doc.rules.overrides.len()), (1, 2));

    drop(followed);
    rules.enable("shop", "10.0.0.1:80").await.expect("enable");
    assert_eq!(rules.state_reads(), 1, "unfollowed again: the publish reads");
}

#[tokio::test]
async fn a_second_writers_change_is_kept_through_the_conflict_fallback() {
    let connect = chroot("follow-conflict");
    let zk = raw(&connect).await;
    members(&zk, "shop", &PROVIDERS, &[]).await;
    let rules = store(&connect).await;
    let followed = rules.follow("shop").await.expect("follow");
    followed.ready().await.expect("ready");
    for round in 0..10 {
        rules.disable("shop", "10.0.0.1:80", false).await.expect("disable");
        // Another session rewrites the document (keeping the override, weighing another
        // provider) right before the next switch: the mirror's version is stale unless its
        // watch was faster.
        let weight = round + 1;
        let other = format!(
            "[[override]]\naddress = \"10.0.0.3:80\"\nweight = {weight}\n\n\
             [[override]]\naddress = \"10.0.0.1:80\"\ndisabled = true\n"
        );
        zk.set_data("/services/shop/rules", other.as_bytes(), None).await.expect("set_data");
        rules.enable("shop", "10.0.0.1:80").await.expect("enable: a conflict is retried");
        let doc = rules.get("shop").await.expect("get").expect("present");
        assert!(
            doc.text.contains(&format!("weight = {weight}\n")),
            "the other writer's change kept: {}",
            doc.text
        );
        assert_eq!(doc.rules.overrides.len(), 1, "{}", doc.text);
    }
    eprintln!("fallback reads after conflicts: {}", rules.state_reads());
}

#[tokio::test]
async fn a_stranding_rule_is_refused_against_a_consumer_the_mirror_saw_register() {
    let connect = chroot("follow-strand");
    let zk = raw(&connect).await;
    members(&zk, "shop", &PROVIDERS, &["consumer://10.9.0.2/shop?zone=az2"]).await;
    let rules = store(&connect).await;
    let strict =
        "[[condition]]\nconsumer = { zone = \"az1\" }\nprovider = { zone = \"az1\" }\nstrict = true\n";
    rules.put("shop", strict, Expect::Absent, false).await.expect("put");
    let followed = rules.follow("shop").await.expect("follow");
    followed.ready().await.expect("ready");
    let late = raw(&connect).await;
    members(&late, "shop", &[], &["consumer://10.9.0.1/shop?zone=az1"]).await;
    eventually(WAIT, "the mirror sees the late consumer", || async {
        followed.members().is_some_and(|(_, consumers)| consumers.len() == 2)
    })
    .await;
    let reads = rules.state_reads();
    match rules.disable("shop", "10.0.0.1:80", false).await {
        Err(Error::RulesRefused { reason, .. }) => {
            assert!(reason.contains("10.9.0.1 (zone=az1)"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(rules.state_reads(), reads, "refused on the mirror's view, without a read");
    assert_eq!(rules.get("shop").await.expect("get").expect("present").version, 0, "unchanged");

    drop(late); // the consumer's session ends: its node goes, and the mirror sees that too
    eventually(WAIT, "the mirror sees the consumer leave", || async {
        followed.members().is_some_and(|(_, consumers)| consumers.len() == 1)
    })
    .await;
    rules.disable("shop", "10.0.0.1:80", false).await.expect("nobody stranded now");
    assert_eq!(rules.state_reads(), reads);
}

#[tokio::test]
async fn the_mirror_is_read_again_after_a_session_expiry() {
    let connect = chroot("follow-expiry");
    let zk = raw(&connect).await;
    members(&zk, "shop", &PROVIDERS, &[]).await;
    let session = session(&connect).await;
    let rules = RulesStore::new(session.clone()).expect("store");
    let followed = rules.follow("shop").await.expect("follow");
    followed.ready().await.expect("ready");
    rules.disable("shop", "10.0.0.1:80", false).await.expect("disable");
    assert_eq!(followed.resyncs(), 1);

    let info = session.session_info().expect("live session");
    local_zk::expire_session(&connect, &info).await.expect("expire");
    // Changes around the new session's arming: seen by the re-read or through events, in
    // this order (the consumer seen means the document seen).
    zk.set_data("/services/shop/rules", b"[tags]\n", None).await.expect("set_data");
    members(&zk, "shop", &[], &["consumer://10.9.0.9/shop?zone=az2"]).await;
    eventually(WAIT, "the mirror re-read on the new session", || async {
        followed.resyncs() >= 2
            && followed.is_ready()
            && followed.members().is_some_and(|(_, consumers)| consumers.len() == 1)
    })
    .await;
    let reads = rules.state_reads();
    let published = rules.set_weight("shop", "10.0.0.2:80", 3, false).await.expect("weight");
    assert_eq!(published.version, 2, "on the version written by the other session");
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert!(doc.rules.tags.is_some() && doc.rules.overrides.len() == 1, "{}", doc.text);
    assert_eq!(rules.state_reads(), reads, "the mirror had the other session's version");
}
