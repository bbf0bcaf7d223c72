//! Ejections in the console, against a real ZooKeeper: a consumer whose provider refuses
//! connections publishes its ejection, the event stream names the service, the API shows the
//! provider ejected and by whom, and no longer once the provider is back.

mod api_support;

use std::time::Duration;

use api_support::{send, TestConsole};
use http_body_util::BodyExt;
use registry::{
    Outcome, OutlierPolicy, Provider, ProviderHealth, Registry, ServiceUrl, SubscribeOptions, Subscription,
};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

/// A hang guard, not a timing assertion.
const WITHIN: Duration = Duration::from_secs(30);

/// One request through `sub`: a TCP connection to the picked provider, its outcome reported.
async fn call(sub: &Subscription) {
    let Some(provider) = sub.select().map(|p| Provider::clone(&p)) else { return };
    let outcome = match TcpStream::connect(provider.address()).await {
        Ok(_) => Outcome::Success,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        Err(_) => Outcome::Failure,
    };
    provider.report(outcome);
}

/// Calls until every provider of `sub` is in `health`.
async fn call_until(sub: &Subscription, health: impl Fn(&[ProviderHealth]) -> bool) {
    let wait = async {
        loop {
            let now: Vec<ProviderHealth> = sub.current().providers().iter().map(|p| p.health()).collect();
            if health(&now) {
                return;
            }
            call(sub).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(WITHIN, wait).await.expect("the consumer's view changes");
}

fn provider<'a>(service: &'a Value, address: &str) -> &'a Value {
    let providers = service["providers"].as_array().expect("providers");
    providers.iter().find(|p| p["address"] == address).unwrap_or_else(|| panic!("{address} in {service}"))
}

async fn accept(listener: TcpListener) {
    while let Ok((connection, _)) = listener.accept().await {
        drop(connection);
    }
}

#[tokio::test]
async fn a_provider_a_consumer_ejects_is_shown_ejected_by_that_consumer_until_it_is_back() {
    let console = TestConsole::start("ejected").await;
    let live = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let live_address = live.local_addr().expect("addr").to_string();
    let accepting = tokio::spawn(accept(live));
    let gone = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = gone.local_addr().expect("addr").to_string();
    drop(gone);
    let providers = Registry::builder().connect(&console.connect).await.expect("registry");
    let mut held = Vec::new();
    for address in [&live_address, &dead] {
        let url = ServiceUrl::parse(&format!("http://{address}/shop")).expect("url");
        held.push(providers.register(&url).await.expect("register"));
    }
    let consumer = Registry::builder().connect(&console.connect).await.expect("registry");
    let policy = OutlierPolicy::default().consecutive_failures(1).base_ejection(Duration::from_millis(300));
    let sub =
        consumer.subscribe_with("shop", SubscribeOptions::default().outlier(policy)).await.expect("sub");
    sub.wait_for(WITHIN, |s| s.len() == 2).await.expect("both providers");
    let (_, before) = console.get("/api/services/shop").await;
    assert_eq!(provider(&before, &dead)["ejected"], false, "{before}");

    local_zk::support::eventually(WITHIN, "the console's watches armed", || async {
        console.get("/api/overview").await.1["live"] == true
    })
    .await;
    let mut events = send(console.addr(), "GET", "/api/events", None, None).await.into_body();
    call_until(&sub, |h| h.contains(&ProviderHealth::Ejected)).await;
    // The health node's creation reaches the page as an event for the service.
    let mut text = String::new();
    let wanted = "event: service\ndata: {\"name\":\"shop\"}";
    let read = async {
        while !text.contains(wanted) {
            let frame = events.frame().await.expect("open").expect("a frame");
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    };
    tokio::time::timeout(WITHIN, read).await.unwrap_or_else(|_| panic!("no service event:\n{text}"));
    local_zk::support::eventually(WITHIN, "the ejection shown", || async {
        provider(&console.get("/api/services/shop").await.1, &dead)["ejected"] == true
    })
    .await;
    let shown = console.get("/api/services/shop").await.1;
    let instances = console.zk.list_children("/services/shop/health").await.expect("health nodes");
    assert_eq!(provider(&shown, &dead)["ejected_by"], serde_json::json!(instances), "{shown}");
    assert!(provider(&shown, &dead)["ejected_since_ms"].as_u64().is_some(), "{shown}");
    assert_eq!(provider(&shown, &live_address)["ejected"], false, "{shown}");
    assert_eq!(provider(&shown, &live_address)["ejected_by"], serde_json::json!([]), "{shown}");
    assert_eq!(shown["health_reports"], 1, "{shown}");

    // The provider is back: the consumer's probe passes and the console says so.
    let back = TcpListener::bind(&dead).await.expect("the dead port listens again");
    let _back = tokio::spawn(accept(back));
    call_until(&sub, |h| h.iter().all(|h| *h == ProviderHealth::Healthy)).await;
    local_zk::support::eventually(WITHIN, "the ejection gone", || async {
        let shown = console.get("/api/services/shop").await.1;
        provider(&shown, &dead)["ejected"] == false && shown["health_reports"] == 0
    })
    .await;
    accepting.abort();
}
