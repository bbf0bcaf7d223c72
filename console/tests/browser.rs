//! The console in a real browser: Debian's chromium, headless, driven through chromedriver,
//! against a real console server on a real local ZooKeeper. Each test saves screenshots of
//! the pages it visits under `target/console/`.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (`bash scripts/install-zookeeper`
//! installs them); without them every test here fails saying so.

#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;

use driver::{Browser, Page, WAIT};
use fixture::{Fixture, TOKEN};
use serde_json::{json, Value};

/// Types the write token into the page's token field (kept in sessionStorage).
async fn use_token(page: Page<'_>, token: &str) {
    page.fill("#token", token).await;
}

/// The addresses a consumer picks in 300 picks.
fn picked(sub: &registry::Subscription) -> BTreeSet<String> {
    (0..300).filter_map(|_| sub.select().map(|p| p.address().to_owned())).collect()
}

/// Waits until the page's editor holds `text` (the document has been loaded into it).
async fn editor_holds(page: Page<'_>, text: &str) {
    page.until(&format!("the editor holding {text:?}"), || async {
        let value =
            page.run("const e = document.querySelector('.editor-text'); return e ? e.value : null").await;
        (value == json!(text)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_registered_provider_appears_without_a_reload() {
    let fx = Fixture::start("appears", Some(TOKEN)).await;
    let _shop = fx.register("http://127.0.0.1:7001/shop?zone=eu-west-1a&version=2.3.0").await;
    let browser = Browser::start().await;
    let page = browser.page();

    page.open(&fx.url("#/services")).await;
    page.text_until("#services tr[data-name='shop'] td:nth-child(3)", "shop with one provider", |t| t == "1")
        .await;
    page.run("window.loadedOnce = 'yes'; return null").await;
    let _more = [
        fx.register("http://127.0.0.1:7002/shop?zone=eu-west-1b&version=2.3.0").await,
        fx.register("http://127.0.0.1:7010/cart?zone=eu-west-1a&version=1.0.4").await,
        fx.register("http://127.0.0.1:7020/payments?zone=eu-west-1b&version=5.2.1&weight=200").await,
    ];
    page.text_until("#services tr[data-name='shop'] td:nth-child(3)", "shop with two providers", |t| {
        t == "2"
    })
    .await;
    page.find("#services tr[data-name='payments']").await;
    page.find("#live.on").await;
    assert_eq!(page.run("return window.loadedOnce").await, json!("yes"), "the page was reloaded");
    page.screenshot("services").await;

    page.click("#services tr[data-name='shop'] a").await;
    page.find("#providers tr[data-address='127.0.0.1:7002']").await;
    let _third = fx.register("http://127.0.0.1:7003/shop?zone=eu-west-1c&version=2.4.0-rc1").await;
    page.find("#providers tr[data-address='127.0.0.1:7003']").await;
    assert_eq!(page.run("return window.loadedOnce").await, json!("yes"), "the page was reloaded");

    let session = fx.registry.session();
    let leadership = recipes::LeaderElection::new(session, "reports", b"worker-a").expect("an election");
    let _leader = leadership.elect().await.expect("elected");
    let _guard = recipes::Lock::new(session, "nightly").expect("a lock").acquire().await.expect("held");
    let queue = recipes::DistributedQueue::new(session, "mail").expect("a queue");
    for item in [b"a", b"b", b"c"] {
        queue.put(item).await.expect("queued");
    }
    let group = recipes::Group::new(session, "web").expect("a group");
    let _member = group.join("web-1", b"10.0.0.1:80").await.expect("joined");
    let semaphore = recipes::Semaphore::new(session, "slots", 2).expect("a semaphore").with_data(b"worker-b");
    let _lease = semaphore.acquire().await.expect("a lease");
    page.click("#nav-recipes").await;
    page.text_until("#recipes-queues td.num", "the queue's depth", |t| t == "3").await;
    page.text_until("#recipes-groups", "the group's member", |t| t.contains("10.0.0.1:80 (web-1)")).await;
    page.text_until("#recipes-semaphores", "the semaphore's lease", |t| t.contains("worker-b")).await;
    page.text_until("#recipes-elections", "the leader", |t| t.contains("worker-a")).await;
    page.text_until("#recipes-locks", "the held lock", |t| t.contains("nightly")).await;
    page.screenshot("recipes").await;
    browser.close().await;
    fx.stop().await;
}

#[tokio::test]
async fn disabling_a_provider_from_the_page_takes_it_out_of_a_consumers_picks() {
    let fx = Fixture::start("disable", Some(TOKEN)).await;
    let _held = [
        fx.register("http://127.0.0.1:7101/pay?zone=eu-west-1a&version=1.8.0").await,
        fx.register("http://127.0.0.1:7102/pay?zone=eu-west-1b&version=1.8.0").await,
        fx.register("http://127.0.0.1:7103/pay?zone=eu-west-1c&version=1.9.0-rc1&weight=50").await,
    ];
    let consumer = fx.subscribe("pay", "http://127.0.0.1:9401/pay?application=checkout").await;
    consumer.wait_for(WAIT, |s| s.len() == 3).await.expect("three providers");
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/services/pay")).await;
    use_token(page, TOKEN).await;

    page.click("#providers tr[data-address='127.0.0.1:7102'] button.disable").await;
    page.text_until("#service-result", "the disable done", |t| t.contains("done")).await;
    page.until("127.0.0.1:7102 out of the consumer's picks", || async {
        let picks = picked(&consumer);
        (consumer.current().len() == 2 && !picks.contains("127.0.0.1:7102")).then_some(())
    })
    .await;
    assert_eq!(picked(&consumer), BTreeSet::from(["127.0.0.1:7101".to_owned(), "127.0.0.1:7103".to_owned()]));
    page.find("#providers tr[data-address='127.0.0.1:7102'] .badge.disabled").await;
    page.find("#consumers tr[data-address='127.0.0.1:9401']").await;
    page.screenshot("service").await;

    page.click("#providers tr[data-address='127.0.0.1:7102'] button.enable").await;
    page.until("127.0.0.1:7102 back in the picks", || async {
        picked(&consumer).contains("127.0.0.1:7102").then_some(())
    })
    .await;
    page.find("#rules-history tbody tr:nth-child(2)").await;
    browser.close().await;
    fx.stop().await;
}

/// Calls through `consumer` (a TCP connection to the picked provider, its outcome reported)
/// until `done` holds for its providers' health.
async fn call_until(consumer: &registry::Subscription, done: impl Fn(&[registry::ProviderHealth]) -> bool) {
    let calls = async {
        while !done(&consumer.current().providers().iter().map(|p| p.health()).collect::<Vec<_>>()) {
            let Some(provider) = consumer.select().map(|p| registry::Provider::clone(&p)) else { continue };
            let outcome = match tokio::net::TcpStream::connect(provider.address()).await {
                Ok(_) => registry::Outcome::Success,
                Err(_) => registry::Outcome::Refused,
            };
            provider.report(outcome);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(WAIT, calls).await.expect("the consumer's view changes");
}

async fn accept(listener: tokio::net::TcpListener) {
    while let Ok((connection, _)) = listener.accept().await {
        drop(connection);
    }
}

#[tokio::test]
async fn a_provider_a_consumer_ejects_shows_ejected_by_that_consumer_live_and_serving_once_back() {
    use registry::ProviderHealth::{Ejected, Healthy};
    let fx = Fixture::start("ejected", None).await;
    let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let live_address = live.local_addr().expect("addr").to_string();
    let _accepting = tokio::spawn(accept(live));
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = gone.local_addr().expect("addr").to_string();
    drop(gone);
    let _held = [
        fx.register(&format!("http://{live_address}/orders?zone=eu-west-1a&version=3.1.0")).await,
        fx.register(&format!("http://{dead}/orders?zone=eu-west-1b&version=3.1.0")).await,
    ];
    let consumer = fx.subscribe("orders", "http://127.0.0.1:9501/orders?application=shop").await;
    consumer.wait_for(WAIT, |s| s.len() == 2).await.expect("two providers");
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/services/orders")).await;
    let state = format!("#providers tr[data-address='{dead}'] td.state");
    page.text_until(&state, "the provider serving", |t| t == "serving").await;
    page.find("#live.on").await;
    page.run("window.loadedOnce = 'yes'; return null").await;

    call_until(&consumer, |h| h.contains(&Ejected)).await;
    page.text_until(&state, "the ejection shown", |t| t == "ejected by 1 of 1 consumer").await;
    assert_eq!(page.run("return window.loadedOnce").await, json!("yes"), "the page was reloaded");
    page.screenshot("service-ejected").await;

    let back = tokio::net::TcpListener::bind(&dead).await.expect("the dead port listens again");
    let _back = tokio::spawn(accept(back));
    call_until(&consumer, |h| h.iter().all(|h| *h == Healthy)).await;
    page.text_until(&state, "the provider serving again", |t| t == "serving").await;
    browser.close().await;
    fx.stop().await;
}

#[tokio::test]
async fn an_invalid_config_edit_shows_the_error_and_leaves_the_node_unchanged() {
    let fx = Fixture::start("invalid", Some(TOKEN)).await;
    let text = "pool = 8\nurl = \"postgres://db/shop\"\n";
    let version = fx.publish("shop", "db", text).await;
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/config/shop/db")).await;
    use_token(page, TOKEN).await;
    editor_holds(page, text).await;

    page.fill(".editor-text", "pool = 8\nurl = \"postgres://db/shop\n").await;
    page.click("button.save").await;
    let error =
        page.text_until(".editor-result .result.error", "the TOML error", |t| t.contains("line")).await;
    assert!(error.contains("line 2"), "the error names line 2: {error}");
    assert!(error.contains("column"), "the error names the column: {error}");
    page.screenshot("config-invalid").await;
    assert_eq!(fx.current("shop", "db").await, Some((text.to_owned(), version)), "nothing written");
    browser.close().await;
    fx.stop().await;
}

#[tokio::test]
async fn a_stale_edit_gets_the_conflict_with_the_diff() {
    let fx = Fixture::start("stale", Some(TOKEN)).await;
    fx.publish("shop", "cache", "ttl_s = 30\n").await;
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/config/shop/cache")).await;
    use_token(page, TOKEN).await;
    editor_holds(page, "ttl_s = 30\n").await;

    page.fill(".editor-text", "ttl_s = 60\n").await;
    let theirs = fx.publish("shop", "cache", "ttl_s = 45\n").await;
    page.click("button.save").await;
    let conflict = page.text_until(".conflict", "the conflict", |t| t.contains("conflict")).await;
    assert!(conflict.contains("ttl_s = 45"), "the conflict shows the other edit: {conflict}");
    page.screenshot("config").await;
    assert_eq!(fx.current("shop", "cache").await, Some(("ttl_s = 45\n".to_owned(), theirs)), "no overwrite");
    browser.close().await;
    fx.stop().await;
}

#[tokio::test]
async fn a_stale_rules_edit_on_a_service_page_gets_the_conflict() {
    let fx = Fixture::start("stale-rules", Some(TOKEN)).await;
    let _held = fx.register("http://127.0.0.1:7401/stock").await;
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/services/stock")).await;
    use_token(page, TOKEN).await;
    page.find("#providers tr[data-address='127.0.0.1:7401']").await;
    editor_holds(page, "").await;

    page.fill(".editor-text", "[[override]]\naddress = \"127.0.0.1:7401\"\nweight = 10\n").await;
    let theirs = "[[override]]\naddress = \"127.0.0.1:7401\"\ndisabled = true\n";
    let options = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    fx.zk.create("/services/stock/rules", theirs.as_bytes(), &options).await.expect("their rules");
    page.text_until(".stale", "the page saying the rules changed under the edit", |t| {
        t.contains("was written")
    })
    .await;
    page.click("button.save").await;
    let conflict = page.text_until(".conflict", "the conflict", |t| t.contains("conflict")).await;
    assert!(conflict.contains("disabled = true"), "the conflict shows the other edit: {conflict}");
    let (data, _) = fx.zk.get_data("/services/stock/rules").await.expect("the rules");
    assert_eq!(String::from_utf8_lossy(&data), theirs, "no overwrite");
    browser.close().await;
    fx.stop().await;
}

#[tokio::test]
async fn a_node_name_containing_script_renders_as_text() {
    let fx = Fixture::start("script", Some(TOKEN)).await;
    let name = "<script>window.pwned=1<\\script><img src=x onerror=window.pwned=2>";
    for path in ["/services".to_owned(), format!("/services/{name}"), format!("/services/{name}/providers")] {
        let options =
            zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
        match fx.zk.create(&path, b"", &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => panic!("create {path}: {e}"),
        }
    }
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/services")).await;

    page.text_until("#services td.name", "the name shown as text", |t| t == name).await;
    page.click("#services td.name a").await;
    page.text_until("#service-name", "the service page titled with the name", |t| t == name).await;
    let injected = page.run("return document.querySelectorAll('#view script, #view img').length").await;
    assert_eq!(injected, json!(0), "no element came from the name");
    assert_eq!(page.run("return window.pwned === undefined").await, Value::Bool(true), "a script ran");
    page.screenshot("script-name").await;
    browser.close().await;
    fx.stop().await;
}

/// Whether `/services/<service>/rules` exists.
async fn has_rules(fx: &Fixture, service: &str) -> bool {
    let path = format!("/services/{service}/rules");
    fx.zk.check_stat(&path).await.unwrap_or_else(|e| panic!("stat {path}: {e}")).is_some()
}

/// Clicks `button` and waits for `result` to say the write was refused.
async fn refused(page: Page<'_>, button: &str, result: &str) -> String {
    page.run(&format!("document.querySelector('{result}').replaceChildren(); return null")).await;
    page.click(button).await;
    page.text_until(&format!("{result} .refused"), &format!("{button} refused"), |t| t.contains("refused"))
        .await
}

#[tokio::test]
async fn without_the_token_every_write_is_refused_and_the_page_says_so() {
    let fx = Fixture::start("refused", Some(TOKEN)).await;
    let _held =
        [fx.register("http://127.0.0.1:7201/pay").await, fx.register("http://127.0.0.1:7202/pay").await];
    fx.publish("shop", "db", "pool = 4\n").await;
    let version = fx.publish("shop", "db", "pool = 8\n").await;
    let browser = Browser::start().await;
    let page = browser.page();

    page.open(&fx.url("#/services/pay")).await;
    page.find("#providers tr[data-address='127.0.0.1:7202']").await;
    refused(page, "#providers tr[data-address='127.0.0.1:7201'] button.disable", "#service-result").await;
    let notice = page.text_until("#notice", "the page-wide notice", |t| t.contains("refused")).await;
    assert!(notice.contains("write token"), "the notice says what is missing: {notice}");
    page.screenshot("refused").await;
    refused(page, "#providers tr[data-address='127.0.0.1:7201'] button.set-weight", "#service-result").await;
    page.fill(".editor-text", "[[override]]\naddress = \"127.0.0.1:7201\"\ndisabled = true\n").await;
    refused(page, "button.save", ".editor-result").await;
    assert!(!has_rules(&fx, "pay").await, "no rules document was written");

    page.open(&fx.url("#/config/shop/db")).await;
    editor_holds(page, "pool = 8\n").await;
    page.fill(".editor-text", "pool = 16\n").await;
    refused(page, "button.save", ".editor-result").await;
    refused(page, "#config-history button.rollback", "#config-result").await;

    use_token(page, "not-the-token").await;
    let wrong = refused(page, "button.save", ".editor-result").await;
    assert!(wrong.contains("wrong"), "a wrong token is named as such: {wrong}");
    assert_eq!(fx.current("shop", "db").await, Some(("pool = 8\n".to_owned(), version)), "nothing written");
    browser.close().await;
    fx.stop().await;
}

#[tokio::test]
async fn a_console_without_a_write_token_is_read_only_whatever_the_page_sends() {
    let fx = Fixture::start("read-only", None).await;
    let _held = fx.register("http://127.0.0.1:7301/pay").await;
    let browser = Browser::start().await;
    let page = browser.page();
    page.open(&fx.url("#/services/pay")).await;
    page.text_until("#mode", "the read-only badge", |t| t == "read-only").await;
    use_token(page, TOKEN).await;
    let message =
        refused(page, "#providers tr[data-address='127.0.0.1:7301'] button.disable", "#service-result").await;
    assert!(message.contains("read-only"), "the refusal says the console is read-only: {message}");
    assert!(!has_rules(&fx, "pay").await, "no rules document was written");
    browser.close().await;
    fx.stop().await;
}
