//! Traffic rules against a real ZooKeeper: a subscription follows `/services/<service>/rules`
//! written by a plain `setData` (as any client may), each rule kind changes its picks, a broken
//! or missing document leaves the last good rules (or none) in force.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use zkmesh_registry::{Error, Registration, Registry, RequestContext, SubscribeOptions, Subscription};
use zookeeper_client::{Acls, Client, CreateMode};

const WAIT: Duration = Duration::from_secs(20);

async fn registry(connect: &str) -> Registry {
    Registry::builder().connect(connect).await.unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

async fn register(reg: &Registry, urls: &[&str]) -> Vec<Registration> {
    let mut held = Vec::new();
    for u in urls {
        held.push(reg.register(&url(u)).await.expect("register"));
    }
    held
}

async fn subscribe(reg: &Registry, service: &str, consumer: Option<&str>) -> Subscription {
    let mut options = SubscribeOptions::default().register_consumer(false);
    if let Some(c) = consumer {
        options = options.consumer_url(url(c));
    }
    reg.subscribe_with(service, options).await.expect("subscribe")
}

/// Writes the rules document with a plain `create` / `setData` (no history entry).
async fn write_rules(zk: &Client, service: &str, text: &str) {
    let path = format!("/services/{service}/rules");
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match zk.create(&path, text.as_bytes(), &options).await {
        Ok(_) => {}
        Err(zookeeper_client::Error::NodeExists) => {
            zk.set_data(&path, text.as_bytes(), None).await.expect("set_data");
        }
        Err(e) => panic!("create {path}: {e}"),
    }
}

/// Addresses picked in `n` picks (by `context`), with counts.
fn picks(sub: &Subscription, n: usize, context: &RequestContext<'_>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let address =
            sub.select_with(context).map(|p| p.address().to_owned()).unwrap_or_else(|| "none".into());
        *counts.entry(address).or_default() += 1;
    }
    counts
}

fn only(counts: &BTreeMap<String, usize>) -> Vec<&str> {
    counts.keys().map(String::as_str).collect()
}

async fn until(sub: &Subscription, what: &str, check: impl Fn(&Subscription) -> bool) {
    eventually(WAIT, what, || async { check(sub) }).await;
}

#[tokio::test]
async fn disabled_and_reweighed_providers_follow_a_plain_set_data() {
    let connect = chroot("rules-override");
    let reg = registry(&connect).await;
    let _held = register(&reg, &["http://127.0.0.1:1/shop", "http://127.0.0.1:2/shop"]).await;
    let sub = subscribe(&reg, "shop", None).await;
    sub.wait_for(WAIT, |s| s.len() == 2).await.expect("providers");
    assert_eq!(sub.rules_version(), None, "no document: no rules");
    let zk = raw(&connect).await;

    write_rules(&zk, "shop", "[[override]]\naddress = \"127.0.0.1:1\"\ndisabled = true\n").await;
    until(&sub, "the disabled provider out of the set", |s| s.current().len() == 1).await;
    assert_eq!(only(&picks(&sub, 500, &RequestContext::new())), ["127.0.0.1:2"]);
    assert_eq!(sub.select().expect("one").address(), "127.0.0.1:2");
    assert_eq!(sub.current().candidates().len(), 2, "still registered");

    write_rules(&zk, "shop", "[[override]]\naddress = \"127.0.0.1:1\"\nweight = 300\n").await;
    until(&sub, "both back, one at weight 300", |s| s.current().len() == 2).await;
    let set = sub.current();
    let weights: Vec<u32> = set.providers().iter().map(|p| p.weight()).collect();
    assert_eq!(weights, [300, 100]);
    assert_eq!(set.providers()[0].registered_weight(), 100);
    assert_eq!(sub.rules_version(), Some(1));
}

#[tokio::test]
async fn a_broken_document_keeps_the_last_good_rules_and_says_why() {
    let connect = chroot("rules-broken");
    let reg = registry(&connect).await;
    let _held = register(&reg, &["http://127.0.0.1:1/shop", "http://127.0.0.1:2/shop"]).await;
    let zk = raw(&connect).await;
    write_rules(&zk, "shop", "[[override]]\naddress = \"127.0.0.1:1\"\ndisabled = true\n").await;
    let sub = subscribe(&reg, "shop", None).await;
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("rules applied at start");

    write_rules(&zk, "shop", "[[override]]\naddress = \"127.0.0.1:1\"\ndisabled = nope\n").await;
    until(&sub, "the refusal reported", |s| s.rules_error().is_some()).await;
    match sub.rules_error() {
        Some(Error::InvalidRules { document, line, column, .. }) => {
            assert_eq!((line, column), (Some(3), Some(12)));
            assert!(document.contains("/services/shop/rules (version 1)"), "{document}");
        }
        other => panic!("expected InvalidRules, got {other:?}"),
    }
    assert_eq!(sub.current().len(), 1, "the last good rules stay");
    assert_eq!(sub.rules_version(), Some(0));

    zk.delete("/services/shop/rules", None).await.expect("delete");
    until(&sub, "no document: no rules", |s| s.current().len() == 2 && s.rules_error().is_none()).await;
}

#[tokio::test]
async fn a_consumer_starting_on_a_broken_document_works_without_rules() {
    let connect = chroot("rules-start-broken");
    let reg = registry(&connect).await;
    let _held = register(&reg, &["http://127.0.0.1:1/shop"]).await;
    let zk = raw(&connect).await;
    write_rules(&zk, "shop", "this is not toml").await;
    let sub = subscribe(&reg, "shop", None).await;
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("providers");
    assert!(
        matches!(sub.rules_error(), Some(Error::InvalidRules { line: Some(1), .. })),
        "{:?}",
        sub.rules_error()
    );
    assert_eq!(sub.select().expect("one").address(), "127.0.0.1:1");
    write_rules(&zk, "shop", "[tags]\n").await;
    until(&sub, "the fixed document applies", |s| s.rules_error().is_none() && s.rules().tags.is_some())
        .await;
}

#[tokio::test]
async fn tags_conditions_and_splits_change_picks() {
    let connect = chroot("rules-routes");
    let reg = registry(&connect).await;
    let _held = register(
        &reg,
        &[
            "http://127.0.0.1:1/shop?zone=az1&version=1",
            "http://127.0.0.1:2/shop?zone=az2&version=1",
            "http://127.0.0.1:3/shop?zone=az1&version=2&tag=canary",
        ],
    )
    .await;
    let zk = raw(&connect).await;
    let az1 = subscribe(&reg, "shop", Some("consumer://10.0.0.9/shop?zone=az1")).await;
    let az2 = subscribe(&reg, "shop", Some("consumer://10.0.0.8/shop?zone=az2")).await;
    for sub in [&az1, &az2] {
        sub.wait_for(WAIT, |s| s.len() == 3).await.expect("providers");
    }

    write_rules(&zk, "shop", "[tags]\n").await;
    until(&az1, "tag routing", |s| s.rules().tags.is_some()).await;
    assert_eq!(only(&picks(&az1, 500, &RequestContext::new().tag("canary"))), ["127.0.0.1:3"]);
    assert_eq!(only(&picks(&az1, 500, &RequestContext::new())), ["127.0.0.1:1", "127.0.0.1:2"]);

    let condition = "[[condition]]\nconsumer = { zone = \"az1\" }\nprovider = { zone = \"az1\" }\n";
    write_rules(&zk, "shop", condition).await;
    until(&az1, "the condition", |s| s.current().len() == 2).await;
    assert_eq!(only(&picks(&az1, 500, &RequestContext::new())), ["127.0.0.1:1", "127.0.0.1:3"]);
    until(&az2, "the condition read", |s| !s.rules().conditions.is_empty()).await;
    assert_eq!(az2.current().len(), 3, "az2 consumers are not named by it");

    write_rules(&zk, "shop", "[split]\nby = \"version\"\nshares = { \"2\" = 10 }\n").await;
    until(&az2, "the split", |s| s.rules().split.is_some()).await;
    let n = 20_000;
    let counts = picks(&az2, n, &RequestContext::new());
    let v2 = counts.get("127.0.0.1:3").copied().unwrap_or(0) as f64 / n as f64;
    assert!((0.08..0.12).contains(&v2), "about 10% to version 2: {counts:?}");
    for user in 0..50u32 {
        let key = user.to_be_bytes();
        let context = RequestContext::new().key(&key);
        let versions: std::collections::BTreeSet<String> = (0..20)
            .map(|_| az2.select_with(&context).expect("one").url().version().unwrap_or("").to_owned())
            .collect();
        assert_eq!(versions.len(), 1, "a key stays in its version: {versions:?}");
    }
}

#[tokio::test]
async fn a_new_provider_is_folded_into_the_rules_in_force() {
    let connect = chroot("rules-new-provider");
    let reg = registry(&connect).await;
    let _held = register(&reg, &["http://127.0.0.1:1/shop"]).await;
    let zk = raw(&connect).await;
    write_rules(&zk, "shop", "[[override]]\nmatch = { version = \"2\" }\ndisabled = true\n").await;
    let sub = subscribe(&reg, "shop", None).await;
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("providers");
    let _more = register(&reg, &["http://127.0.0.1:2/shop?version=2", "http://127.0.0.1:3/shop"]).await;
    until(&sub, "the new providers seen", |s| s.current().candidates().len() == 3).await;
    let set = sub.current();
    let kept: Vec<&str> = set.providers().iter().map(|p| p.address()).collect();
    assert_eq!(kept, ["127.0.0.1:1", "127.0.0.1:3"], "the version 2 newcomer arrives disabled");
}

#[tokio::test]
async fn the_balancer_routes_by_the_tag_a_header_carries() {
    use zkmesh_registry::tower::{Layer, Service, ServiceExt};
    let connect = chroot("rules-balancer-tag");
    let reg = registry(&connect).await;
    let _held = register(
        &reg,
        &["http://127.0.0.1:1/shop?tag=canary", "http://127.0.0.1:2/shop", "http://127.0.0.1:3/shop"],
    )
    .await;
    let zk = raw(&connect).await;
    write_rules(&zk, "shop", "[tags]\n").await;
    let sub = subscribe(&reg, "shop", None).await;
    sub.wait_for(WAIT, |s| s.len() == 3).await.expect("providers");
    until(&sub, "tag routing", |s| s.rules().tags.is_some()).await;
    let balancer = sub
        .balancer(|p| {
            let address = p.address().to_owned();
            tower::service_fn(move |r: http::Request<()>| {
                let answer = (address.clone(), r.headers().get(zkmesh_registry::TAG_HEADER).is_some());
                async move { Ok::<_, std::io::Error>(answer) }
            })
        })
        .route_by(zkmesh_registry::request_tag);
    let mut service =
        zkmesh_registry::tower::buffer::Buffer::new(zkmesh_registry::TagLayer::new().layer(balancer), 64);
    let mut counts: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for i in 0..600 {
        let mut request = http::Request::builder();
        if i % 2 == 0 {
            request = request.header(zkmesh_registry::TAG_HEADER, "canary");
        }
        let request = request.body(()).expect("request");
        let answer = service.ready().await.expect("ready").call(request).await.expect("answer");
        *counts.entry(answer).or_default() += 1;
    }
    let canary: Vec<&(String, bool)> = counts.keys().filter(|(_, tagged)| *tagged).collect();
    assert_eq!(canary, [&("127.0.0.1:1".to_owned(), true)], "{counts:?}");
    let plain: Vec<&str> = counts.keys().filter(|(_, tagged)| !*tagged).map(|(a, _)| a.as_str()).collect();
    assert_eq!(plain, ["127.0.0.1:2", "127.0.0.1:3"], "{counts:?}");
}

#[tokio::test]
async fn a_disabled_provider_gets_no_request_through_the_balancer() {
    use zkmesh_registry::tower::{Service, ServiceExt};
    let connect = chroot("rules-balancer-disable");
    let reg = registry(&connect).await;
    let _held = register(&reg, &["http://127.0.0.1:1/shop", "http://127.0.0.1:2/shop"]).await;
    let sub = subscribe(&reg, "shop", None).await;
    sub.wait_for(WAIT, |s| s.len() == 2).await.expect("providers");
    let mut balancer = sub.balancer(|p| {
        let address = p.address().to_owned();
        tower::service_fn(move |_: u32| {
            let address = address.clone();
            async move { Ok::<_, std::io::Error>(address) }
        })
    });
    let zk = raw(&connect).await;
    write_rules(&zk, "shop", "[[override]]\naddress = \"127.0.0.1:1\"\ndisabled = true\n").await;
    sub.wait_for(WAIT, |s| s.len() == 1).await.expect("disabled");
    let mut answers = BTreeMap::<String, usize>::new();
    for i in 0..300 {
        let answer = balancer.ready().await.expect("ready").call(i).await.expect("answer");
        *answers.entry(answer).or_default() += 1;
    }
    assert_eq!(only(&answers), ["127.0.0.1:2"]);
}
