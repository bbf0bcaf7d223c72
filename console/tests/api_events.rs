//! The console's event stream and its secrecy against a real ZooKeeper (one per test binary,
//! a chroot per test): events from its own watches name what changed, keep-alives flow, and
//! ZooKeeper credentials never reach a response.

mod api_support;

use std::time::Duration;

use api_support::{create, member, send, TestConsole};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::StatusCode;
use serde_json::json;

/// A hang guard, not a timing assertion.
const WITHIN: Duration = Duration::from_secs(30);

/// Reads `body` until its text contains every one of `wanted`; returns the text.
async fn read_until(body: &mut Incoming, text: &mut String, wanted: &[&str]) -> String {
    let read = async {
        while !wanted.iter().all(|w| text.contains(w)) {
            let frame = body.frame().await.expect("the stream stays open").expect("a frame");
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    };
    tokio::time::timeout(WITHIN, read).await.unwrap_or_else(|_| panic!("never saw {wanted:?} in:\n{text}"));
    text.clone()
}

async fn live(console: &TestConsole) {
    local_zk::support::eventually(WITHIN, "the console's watches armed", || async {
        console.get("/api/overview").await.1["live"] == true
    })
    .await;
}

#[tokio::test]
async fn events_name_the_service_config_and_recipes_that_changed() {
    let console = TestConsole::start("events").await;
    live(&console).await;
    let response = send(console.addr(), "GET", "/api/events", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut text = String::new();
    read_until(&mut body, &mut text, &[": connected"]).await;
    member(&console.zk, "providers", "http://10.0.0.1:80/shop").await;
    read_until(&mut body, &mut text, &["event: service\ndata: {\"name\":\"shop\"}", "event: services\n"])
        .await;
    create(&console.zk, "/config/app/db", b"pool = 4\n").await;
    read_until(&mut body, &mut text, &["event: config\ndata: {\"name\":\"db\",\"namespace\":\"app\"}"]).await;
    create(&console.zk, "/locks/nightly/_c_a-lock-0000000000", b"").await;
    read_until(&mut body, &mut text, &["event: recipes\n"]).await;
}

#[tokio::test]
async fn an_idle_event_stream_gets_keep_alive_comments() {
    let console = TestConsole::start_with("keepalive", |b| b.keep_alive(Duration::from_millis(50))).await;
    let mut body = send(console.addr(), "GET", "/api/events", None, None).await.into_body();
    let mut text = String::new();
    read_until(&mut body, &mut text, &[": keep-alive\n\n"]).await;
}

#[tokio::test]
async fn digest_credentials_never_appear_in_any_response() {
    let password = "pa55-w0rd-never-shown";
    let connect = local_zk::support::chroot("console", "secret");
    let zk = local_zk::support::raw(&connect).await;
    let session = registry::Session::builder()
        .auth("digest", format!("team:{password}").as_bytes())
        .acl(registry::NodeAcl::CreatorAllWorldRead)
        .connect(&connect)
        .await
        .expect("session with credentials");
    let handle = zkmesh_console::Console::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .write_token(Some("tok".into()))
        .serve(session)
        .await
        .expect("console");
    let console = TestConsole { handle, connect, zk };
    member(&console.zk, "providers", "http://10.0.0.1:80/shop").await;
    member(&console.zk, "providers", "http://10.0.0.2:80/shop").await;
    let writes = [
        ("PUT", "/api/config/app/db", json!({ "text": "pool = 4\n" })),
        ("PUT", "/api/services/shop/rules", json!({ "text": "[tags]\n" })),
        ("POST", "/api/services/shop/providers/10.0.0.1:80/disable", json!({})),
        ("PUT", "/api/config/app/db", json!({ "text": "pool = 4\n", "expect_version": 7 })),
    ];
    let mut bodies = Vec::new();
    for (method, path, body) in writes {
        bodies.push(console.write(method, path, Some("tok"), &body).await.1);
    }
    assert_eq!(bodies[2]["version"], 1, "the console wrote with its credentials: {}", bodies[2]);
    for path in [
        "/api/overview",
        "/api/services",
        "/api/services/shop",
        "/api/services/shop/rules/history",
        "/api/config",
        "/api/config/app/db",
        "/api/config/app/db/history",
        "/api/recipes",
    ] {
        let (status, body) = console.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        bodies.push(body);
    }
    for body in bodies {
        let text = body.to_string();
        assert!(!text.contains(password) && !text.contains("team:pa55"), "credentials leaked: {text}");
    }
}

#[tokio::test]
async fn after_a_session_expiry_the_stream_says_resync_and_events_flow_again() {
    let connect = local_zk::support::chroot("console", "expiry");
    let zk = local_zk::support::raw(&connect).await;
    let session = registry::Session::connect(&connect).await.expect("session");
    let info = session.session_info().expect("connected");
    let handle = zkmesh_console::Console::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .serve(session.clone())
        .await
        .expect("console");
    let console = TestConsole { handle, connect, zk };
    live(&console).await;
    let mut body = send(console.addr(), "GET", "/api/events", None, None).await.into_body();
    let mut text = String::new();
    read_until(&mut body, &mut text, &[": connected"]).await;
    local_zk::expire_session(&console.connect, &info).await.expect("expired");
    local_zk::support::eventually(WITHIN, "a new session", || async {
        session.session_info().is_some_and(|i| i.id() != info.id())
    })
    .await;
    // The watches are armed again on the new session at some point: until then a change makes
    // no event, so keep changing (a bounded wait per change, not a timing assertion).
    let mut seen = false;
    for i in 0..60 {
        member(&console.zk, "providers", &format!("http://10.0.0.1:{}/after", 1000 + i)).await;
        let wait = read_until(&mut body, &mut text, &["event: service\ndata: {\"name\":\"after\"}"]);
        if tokio::time::timeout(Duration::from_millis(500), wait).await.is_ok() {
            seen = true;
            break;
        }
    }
    assert!(seen, "no event after the expiry:\n{text}");
    let resyncs = text.matches("event: resync\n").count();
    assert!(resyncs >= 1, "the page was told to refetch:\n{text}");
}
