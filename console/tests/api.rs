//! The console's JSON API against a real ZooKeeper (one per test binary, a chroot per test),
//! with plain HTTP requests: the page, the overview.

mod api_support;

use api_support::{send, text_of, TestConsole};
use hyper::StatusCode;

#[tokio::test]
async fn the_page_and_its_assets_are_served_and_unknown_files_are_404() {
    let console = TestConsole::start("page").await;
    let (status, content_type, body) = text_of(send(console.addr(), "GET", "/", None, None).await).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(body.contains("<html"), "{body}");
    let (status, _, _) = text_of(send(console.addr(), "GET", "/assets/nosuch.js", None, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) =
        text_of(send(console.addr(), "GET", "/assets/../Cargo.toml", None, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_overview_says_where_the_console_reads_and_that_it_is_read_only_without_a_token() {
    let console = TestConsole::start("overview").await;
    let (status, overview) = console.get("/api/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["root"], "/services");
    assert_eq!(overview["writable"], false);
    assert_eq!(overview["zookeeper"], console.connect.as_str());
    let writable = TestConsole::start_with("overview-w", |b| b.write_token(Some("t0ken".into()))).await;
    assert_eq!(writable.get("/api/overview").await.1["writable"], true);
    let (status, body) = console.get("/api/nosuch").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("/api/nosuch")), "{body}");
}
