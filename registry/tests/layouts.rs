//! Layouts against a real ZooKeeper: Dubbo's and Curator's nodes as those systems write them
//! (fixtures under `tests/fixtures/`), round trips both ways, foreign nodes that do not parse,
//! Dubbo's configurators, session expiry in every layout, the union during a migration, the
//! root setting and listings by layout. Curator's own Java client: `curator_interop.rs`.

mod common;

use std::time::Duration;

use common::*;
use local_zk::expire_session;
use zkmesh_registry::{
    Filter, Layout, ProviderSet, Registry, ServiceUrl, SessionState, Source, SubscribeOptions,
};
use zookeeper_client::{Acls, Client, CreateMode};

const WAIT: Duration = Duration::from_secs(20);
const DEMO: &str = "com.alibaba.dubbo.demo.DemoService";
const GREETING: &str = "com.alibaba.dubbo.samples.api.GreetingService";

fn fixture(path: &str) -> String {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn lines(path: &str) -> Vec<String> {
    fixture(path).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

async fn registry(connect: &str, layout: Layout) -> Registry {
    Registry::builder()
        .session_timeout(Duration::from_secs(4))
        .layout(layout)
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {connect}: {e}"))
}

async fn create(raw: &Client, path: &str, data: &[u8]) {
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let mut at = String::new();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at = format!("{at}/{part}");
        let payload: &[u8] = if i + 1 == parts.len() { data } else { b"" };
        match raw.create(&at, payload, &persistent).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => panic!("create {at}: {e}"),
        }
    }
}

fn weights(set: &ProviderSet) -> Vec<(String, u32)> {
    set.providers().iter().map(|p| (p.address().to_owned(), p.weight())).collect()
}

#[tokio::test]
async fn dubbo_nodes_as_dubbo_writes_them_are_providers_with_dubbo_s_parameters() {
    let connect = chroot("dubbo-fixtures");
    let raw = raw(&connect).await;
    for name in lines("dubbo/providers.txt") {
        let url = ServiceUrl::from_node_name(&name).expect("fixture decodes");
        create(&raw, &format!("/dubbo/{}/providers/{name}", url.service()), b"").await;
    }
    // A provider of another interface, put under this one, and a name that is no URL.
    let stray = &lines("dubbo/providers.txt")[2];
    create(&raw, &format!("/dubbo/{GREETING}/providers/{stray}"), b"").await;
    create(&raw, &format!("/dubbo/{GREETING}/providers/not-a-url"), b"").await;
    let consumer = registry(&connect, Layout::Dubbo).await;
    assert_eq!(consumer.root(), "/dubbo", "Dubbo's layout defaults to Dubbo's root");

    let greeting = consumer.subscribe(GREETING).await.expect("subscribe");
    let set = greeting.current();
    assert_eq!(addresses(&set), ["192.168.99.1:20880"]);
    let url = set.providers()[0].url();
    assert_eq!(
        (url.scheme(), url.param("application"), url.param("side")),
        ("dubbo", Some("demo-provider"), Some("provider"))
    );
    assert_eq!(url.param("methods"), Some("sayHello"));
    assert_eq!(url.timestamp(), Some(1_533_264_631_849));
    let mut rejected: Vec<String> = set.rejected().iter().map(|r| r.error.to_string()).collect();
    rejected.sort();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.iter().any(|r| r.contains("IMenuService")), "{rejected:?}");

    // Group and version, as a Dubbo reference names them (`*` too).
    let pick = |filter: Filter| consumer.subscribe_with(DEMO, SubscribeOptions::default().filter(filter));
    let demo = pick(Filter::any().group("demo").version("1.0.0")).await.expect("subscribe");
    assert_eq!(addresses(&demo.current()), ["192.168.11.206:21881"]);
    let other = pick(Filter::any().group("other").version("*")).await.expect("subscribe");
    assert!(other.current().is_empty(), "group other matches nothing");
    let menu = consumer.subscribe("com.ximuyi.demo.dubbo.api.IMenuService").await.expect("subscribe");
    assert_eq!(menu.current().providers()[0].url().param("sayHi.retries"), Some("1"));
    let listed = consumer.services().await.expect("services");
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|s| s.layouts == [Layout::Dubbo]), "{listed:?}");
    let greeting = listed.iter().find(|s| s.name == GREETING).expect("listed");
    assert_eq!((greeting.providers, greeting.consumers), (3, 1), "the consumer node of this subscription");
}

#[tokio::test]
async fn dubbo_configurators_disable_and_reweigh_providers_and_their_removal_restores_them() {
    let connect = chroot("dubbo-override");
    let raw = raw(&connect).await;
    let provider = &lines("dubbo/providers.txt")[1];
    let second = ServiceUrl::from_node_name(provider)
        .expect("fixture")
        .to_string()
        .replace("192.168.11.206", "192.168.11.207");
    let second = ServiceUrl::parse(&second).expect("url").to_node_name();
    for name in [provider, &second] {
        create(&raw, &format!("/dubbo/{DEMO}/providers/{name}"), b"").await;
    }
    let consumer = registry(&connect, Layout::Dubbo).await;
    let demo = consumer.subscribe(DEMO).await.expect("subscribe");
    assert_eq!(
        weights(&demo.current()),
        [("192.168.11.206:21881".into(), 100), ("192.168.11.207:21881".into(), 100)]
    );

    let [weight_400, disable_all] =
        <[String; 2]>::try_from(lines("dubbo/configurators.txt")).expect("two overrides");
    create(&raw, &format!("/dubbo/{DEMO}/configurators/{weight_400}"), b"").await;
    let set = demo.wait_for(WAIT, |s| weights(s)[0].1 == 400).await.expect("weight=400 applied");
    assert_eq!(weights(&set)[1].1, 100, "the override names one host and port");

    let only_207 =
        format!("override://192.168.11.207/{DEMO}?category=configurators&dynamic=false&disabled=true");
    let only_207 = percent_encode(&only_207);
    create(&raw, &format!("/dubbo/{DEMO}/configurators/{only_207}"), b"").await;
    let set = demo.wait_for(WAIT, |s| weights(s)[1].1 == 0).await.expect("disabled=true is weight 0");
    assert_eq!(weights(&set)[0].1, 400);
    for _ in 0..50 {
        assert_eq!(
            demo.select().expect("a provider").address(),
            "192.168.11.206:21881",
            "a disabled provider is never picked"
        );
    }

    create(&raw, &format!("/dubbo/{DEMO}/configurators/{disable_all}"), b"").await;
    demo.wait_for(WAIT, |s| weights(s).iter().all(|(_, w)| *w == 0))
        .await
        .expect("0.0.0.0 disables every provider");

    for name in [&weight_400, &only_207, &disable_all] {
        raw.delete(&format!("/dubbo/{DEMO}/configurators/{name}"), None).await.expect("delete");
    }
    demo.wait_for(WAIT, |s| weights(s).iter().all(|(_, w)| *w == 100)).await.expect("overrides gone");
}

fn percent_encode(text: &str) -> String {
    // Java's URLEncoder for these characters (what Dubbo's URL.encode calls).
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn zkmesh_registers_in_dubbo_s_layout_as_dubbo_does_and_its_consumer_node_has_dubbo_s_keys() {
    let connect = chroot("dubbo-round-trip");
    let raw = raw(&connect).await;
    let registry = registry(&connect, Layout::Dubbo).await;
    let me = registry
        .register(&url(&format!("dubbo://10.0.0.5:20880/{DEMO}?version=1.0.0&warmup=60")))
        .await
        .expect("register");
    me.wait_registered(WAIT).await.expect("registered");
    let names = raw.list_children(&format!("/dubbo/{DEMO}/providers")).await.expect("list");
    assert_eq!(names.len(), 1);
    let written = ServiceUrl::from_node_name(&names[0]).expect("decodes");
    assert_eq!(written.param("interface"), Some(DEMO));
    assert_eq!(written.param("side"), Some("provider"));
    assert_eq!(written.param("warmup"), Some("60000"), "Dubbo's warmup is in milliseconds");
    assert_eq!(names[0], written.to_node_name(), "parameters sorted, URLEncoder's escapes");

    let sub = registry.subscribe(DEMO).await.expect("subscribe");
    assert_eq!(sub.current().providers()[0].url().warmup(), Some(Duration::from_secs(60)));
    let mine = raw.list_children(&format!("/dubbo/{DEMO}/consumers")).await.expect("list");
    let mine = ServiceUrl::from_node_name(&mine[0]).expect("consumer node decodes");
    let dubbo_s = ServiceUrl::from_node_name(&lines("dubbo/consumers.txt")[1]).expect("fixture");
    assert_eq!(
        (mine.scheme(), mine.port(), mine.param("category"), mine.param("side")),
        ("consumer", 0, Some("consumers"), Some("consumer"))
    );
    for key in mine.params().keys() {
        assert!(dubbo_s.param(key).is_some(), "{key} is one of Dubbo's consumer keys");
    }
}

#[tokio::test]
async fn curator_instances_as_curator_writes_them_are_providers_and_junk_is_rejected_not_fatal() {
    let connect = chroot("curator-fixture");
    let raw = raw(&connect).await;
    let json = fixture("curator/instance.json");
    create(&raw, "/services/springapp/5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10", json.as_bytes()).await;
    create(&raw, "/services/springapp/empty", b"").await;
    create(&raw, "/services/springapp/not-json", b"<xml/>").await;
    let other = json.replace("\"springapp\"", "\"billing\"");
    create(&raw, "/services/springapp/billing-instance", other.as_bytes()).await;

    let consumer = registry(&connect, Layout::Curator).await;
    let spring = consumer.subscribe("springapp").await.expect("subscribe");
    let set = spring.current();
    assert_eq!(addresses(&set), ["10.0.0.9:8081"]);
    let url = set.providers()[0].url();
    assert_eq!(
        (url.version(), url.zone(), url.param("id")),
        (Some("1.2"), Some("eu"), Some("5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10"))
    );
    assert_eq!(url.timestamp(), Some(1_796_194_005_618));
    assert!(url.param("payload").is_some_and(|p| p.contains("java.util.LinkedHashMap")));
    let mut rejected: Vec<&str> = set.rejected().iter().map(|r| r.node.as_str()).collect();
    rejected.sort();
    assert_eq!(rejected, ["billing-instance", "empty", "not-json"]);

    // Curator's updateService (Spring Cloud Zookeeper's status) rewrites an instance's data.
    let path = "/services/springapp/5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10";
    raw.set_data(path, json.replace("\"1.2\"", "\"1.3\"").as_bytes(), None).await.expect("update");
    spring
        .wait_for(WAIT, |s| s.providers()[0].url().version() == Some("1.3"))
        .await
        .expect("the update followed");
    raw.set_data(
        "/services/springapp/empty",
        json.replace("5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10", "empty")
            .replace("10.0.0.9", "10.0.0.10")
            .as_bytes(),
        None,
    )
    .await
    .expect("fix the empty one");
    spring
        .wait_for(WAIT, |s| s.len() == 2 && s.rejected().len() == 2)
        .await
        .expect("a rejected instance that becomes valid");

    // A burst of instances registered at once ends in all of them.
    for i in 0..40 {
        let data = json
            .replace("5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10", &format!("id-{i}"))
            .replace("10.0.0.9", &format!("10.1.0.{i}"));
        create(&raw, &format!("/services/springapp/id-{i}"), data.as_bytes()).await;
    }
    spring.wait_for(WAIT, |s| s.len() == 42).await.expect("every instance of the burst");
}

#[tokio::test]
async fn a_provider_comes_back_after_session_expiry_in_every_layout() {
    for layout in Layout::ALL {
        let connect = chroot(&format!("expiry-{layout}"));
        let provider = registry(&connect, layout).await;
        let consumer = registry(&connect, layout).await;
        let sub = consumer
            .subscribe_with("svc", SubscribeOptions::default().empty_protection(false))
            .await
            .expect("subscribe");
        let me = provider.register(&url("http://10.0.0.5:8080/svc?weight=7")).await.expect("register");
        me.wait_registered(WAIT).await.expect("registered");
        sub.wait_for(WAIT, |s| addresses(s) == ["10.0.0.5:8080"]).await.expect("seen");

        let mut events = provider.session().events();
        expire_session(&connect, &provider.session().session_info().expect("live")).await.expect("expire");
        expect_state(&mut events, SessionState::Reconnected, WAIT).await;
        me.wait_registered(WAIT).await.unwrap_or_else(|e| panic!("{layout}: re-registered: {e}"));
        sub.wait_for(WAIT, |s| {
            addresses(s) == ["10.0.0.5:8080"] && s.providers()[0].registered_weight() == 7
        })
        .await
        .unwrap_or_else(|e| panic!("{layout}: provider back: {e}"));

        // The consumer's own session expires: it follows again on the next one.
        let mut events = consumer.session().events();
        expire_session(&connect, &consumer.session().session_info().expect("live")).await.expect("expire");
        expect_state(&mut events, SessionState::Reconnected, WAIT).await;
        let second = provider.register(&url("http://10.0.0.6:8080/svc")).await.expect("register");
        second.wait_registered(WAIT).await.expect("registered");
        sub.wait_for(WAIT, |s| s.len() == 2)
            .await
            .unwrap_or_else(|e| panic!("{layout}: consumer follows: {e}"));
        if layout.has_consumers() {
            assert!(sub.consumer_node().is_some(), "{layout}: a consumer node");
        }
    }
}

#[tokio::test]
async fn a_consumer_of_two_layouts_sees_the_union_one_provider_per_address() {
    let connect = chroot("union");
    let old = registry(&connect, Layout::Zkmesh).await;
    let new = Registry::builder()
        .layout(Layout::Curator)
        .root("/curator")
        .connect(&connect)
        .await
        .expect("connect");
    let only_old = old.register(&url("http://10.0.0.1:80/shop?timestamp=1")).await.expect("register");
    let _only_new = new.register(&url("http://10.0.0.2:80/shop?timestamp=1")).await.expect("register");
    let _both_old =
        old.register(&url("http://10.0.0.3:80/shop?timestamp=1&version=1")).await.expect("register");
    let _both_new =
        new.register(&url("http://10.0.0.3:80/shop?timestamp=2&version=2")).await.expect("register");

    let consumer = registry(&connect, Layout::Zkmesh).await;
    let options = SubscribeOptions::default()
        .source(Source::new(Layout::Zkmesh, "/services").expect("source"))
        .source(Source::new(Layout::Curator, "/curator").expect("source"));
    let shop = consumer.subscribe_with("shop", options).await.expect("subscribe");
    let set = shop.wait_for(WAIT, |s| s.len() == 3).await.expect("the union");
    assert_eq!(addresses(&set), ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]);
    assert_eq!(set.providers()[2].url().version(), Some("2"), "the newest registration of an address");

    only_old.deregister().await.expect("deregister");
    shop.wait_for(WAIT, |s| addresses(s) == ["10.0.0.2:80", "10.0.0.3:80"])
        .await
        .expect("a removal from one source");
}

#[tokio::test]
async fn the_root_is_a_setting_and_a_bad_root_is_refused() {
    let connect = chroot("root");
    let raw = raw(&connect).await;
    let prod = Registry::builder().root("/mesh/prod").connect(&connect).await.expect("connect");
    let me = prod.register(&url("http://10.0.0.5:8080/greeter")).await.expect("register");
    me.wait_registered(WAIT).await.expect("registered");
    assert!(me.path().starts_with("/mesh/prod/greeter/providers/"), "{}", me.path());
    assert_eq!(raw.list_children("/mesh/prod/greeter/providers").await.expect("list").len(), 1);
    assert_eq!(addresses(&prod.subscribe("greeter").await.expect("subscribe").current()), ["10.0.0.5:8080"]);
    let default = registry(&connect, Layout::Zkmesh).await;
    assert!(default.subscribe("greeter").await.expect("subscribe").current().is_empty(), "another root");

    let err = Registry::builder().root("mesh").connect(&connect).await.expect_err("relative root");
    assert!(err.to_string().contains("mesh"), "{err}");
}

#[tokio::test]
async fn services_lists_each_service_with_its_layouts_and_counts() {
    let connect = chroot("listing");
    let raw = raw(&connect).await;
    let zkmesh = registry(&connect, Layout::Zkmesh).await;
    let _greeter = zkmesh.register(&url("http://10.0.0.5:8080/greeter")).await.expect("register");
    let json = fixture("curator/instance.json");
    create(&raw, "/services/springapp/5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10", json.as_bytes()).await;
    create(&raw, "/services/greeter/5b1c8f1e", json.replace("springapp", "greeter").as_bytes()).await;
    create(&raw, "/services/empty", b"").await;
    let _watcher = zkmesh.subscribe("greeter").await.expect("subscribe");

    let listed = zkmesh.services().await.expect("services");
    let by_name =
        |n: &str| listed.iter().find(|s| s.name == n).unwrap_or_else(|| panic!("{n} in {listed:?}")).clone();
    let greeter = by_name("greeter");
    assert_eq!(greeter.layouts, [Layout::Zkmesh, Layout::Curator]);
    assert!(greeter.is_mixed());
    assert_eq!((greeter.providers, greeter.consumers, greeter.instances), (1, 1, 1));
    let spring = by_name("springapp");
    assert_eq!(
        (spring.layouts.as_slice(), spring.providers, spring.instances),
        (&[Layout::Curator][..], 0, 1)
    );
    assert!(by_name("empty").layouts.is_empty());
}

#[test]
fn this_file_holds_the_readme_migration_snippet_verbatim() {
    // The README imports from the facade, `zkmesh`, which re-exports this crate.
    local_zk::support::assert_readme_snippet_in(
        &include_str!("../../README.md").replace("zkmesh::", "zkmesh_registry::"),
        ".source(Source::new(Layout::Curator, \"/curator\")?)",
        include_str!("layouts.rs"),
    );
}

#[tokio::test]
async fn the_readme_migration_snippet_runs() {
    let connect = chroot("readme-migration");
    let registry = registry(&connect, Layout::Zkmesh).await;
    let curator = Registry::builder()
        .layout(Layout::Curator)
        .root("/curator")
        .connect(&connect)
        .await
        .expect("connect");
    let _old = registry.register(&url("http://10.0.0.1:80/shop")).await.expect("register");
    let _new = curator.register(&url("http://10.0.0.2:80/shop")).await.expect("register");
    let shop = readme_migration(registry).await.expect("the README snippet runs");
    shop.wait_for(WAIT, |s| s.len() == 2).await.expect("both layouts");
}

// README.md, "Layouts", migration: the snippet's code, verbatim.
#[rustfmt::skip]
async fn readme_migration(registry: zkmesh_registry::Registry) -> zkmesh_registry::Result<zkmesh_registry::Subscription> {
use zkmesh_registry::{Layout, Source, SubscribeOptions};
let shop = registry
    .subscribe_with(
        "shop",
        SubscribeOptions::default()
            .source(Source::new(Layout::Zkmesh, "/services")?)
            .source(Source::new(Layout::Curator, "/curator")?),
    )
    .await?;
Ok(shop)
}
