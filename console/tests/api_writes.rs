//! The console's writes against a real ZooKeeper (one per test binary, a chroot per test):
//! the token on every write route, compare-and-set with 409 and a diff, TOML checked with line
//! and column before anything is written, history and rollback, bounded bodies.

mod api_support;

use api_support::{create, member, read, send, text_of, TestConsole};
use hyper::StatusCode;
use serde_json::{json, Value};

const TOKEN: &str = "t0ken-for-tests";

/// Every write route, with a body it would accept.
fn write_routes() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("POST", "/api/services/shop/providers/10.0.0.1:80/disable", json!({})),
        ("POST", "/api/services/shop/providers/10.0.0.1:80/enable", json!({})),
        ("POST", "/api/services/shop/providers/10.0.0.1:80/weight", json!({ "weight": 5 })),
        ("PUT", "/api/services/shop/rules", json!({ "text": "[tags]\n" })),
        ("POST", "/api/services/shop/rules/rollback", json!({ "to_version": 0 })),
        ("PUT", "/api/config/app/db", json!({ "text": "pool = 4\n" })),
        ("POST", "/api/config/app/db/rollback", json!({ "to_version": 0 })),
    ]
}

async fn writable(test: &str) -> TestConsole {
    let console = TestConsole::start_with(test, |b| b.write_token(Some(TOKEN.into()))).await;
    for address in ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"] {
        member(&console.zk, "providers", &format!("http://{address}/shop")).await;
    }
    console
}

#[tokio::test]
async fn every_write_route_is_refused_without_the_right_token_and_writes_nothing() {
    let read_only = TestConsole::start("ro").await;
    let console = writable("tokens").await;
    for (method, path, body) in write_routes() {
        let (status, answer) = read_only.write(method, path, Some(TOKEN), &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "the console is read-only: start it with --write-token");
        for token in [None, Some("wrong"), Some("t0ken-for-test"), Some("")] {
            let (status, answer) = console.write(method, path, token, &body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} {token:?}: {answer}");
            assert_eq!(answer["error"], "wrong write token");
        }
    }
    for zk in [&read_only.zk, &console.zk] {
        assert_eq!(read(zk, "/services/shop/rules").await, None);
        assert_eq!(read(zk, "/config/app/db").await, None);
    }
    // The right token passes (the same routes, in an order that works).
    for (method, path, body) in write_routes() {
        let (status, answer) = console.write(method, path, Some(TOKEN), &body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn provider_switches_publish_with_compare_and_set_and_a_stale_page_gets_the_conflict() {
    let console = writable("switch").await;
    let path = "/api/services/shop/providers/10.0.0.1:80";
    let (status, answer) = console
        .write("POST", &format!("{path}/disable"), Some(TOKEN), &json!({ "expect_version": null }))
        .await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(0)), "{answer}");
    let (_, shop) = console.get("/api/services/shop").await;
    assert_eq!(shop["providers"][0]["disabled"], true, "{shop}");
    // A page that still shows no rules document.
    let (status, conflict) = console
        .write(
            "POST",
            &format!("{path}/weight"),
            Some(TOKEN),
            &json!({ "weight": 5, "expect_version": null }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["current_version"], 0);
    assert!(conflict["current_text"].as_str().is_some_and(|t| t.contains("disabled = true")), "{conflict}");
    assert!(conflict["diff"].is_string(), "{conflict}");
    assert_eq!(read(&console.zk, "/services/shop/rules").await.map(|(_, v)| v), Some(0), "nothing written");
    let body = json!({ "weight": 5, "expect_version": 0 });
    let (status, answer) = console.write("POST", &format!("{path}/weight"), Some(TOKEN), &body).await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(1)), "{answer}");
    let (_, shop) = console.get("/api/services/shop").await;
    assert_eq!(
        (&shop["providers"][0]["effective_weight"], &shop["providers"][0]["disabled"]),
        (&json!(5), &json!(false))
    );
    let (status, answer) =
        console.write("POST", &format!("{path}/enable"), Some(TOKEN), &json!({ "expect_version": 1 })).await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(2)), "{answer}");

    for (route, body) in [
        ("/api/services/shop/providers/10.0.0.1/disable", json!({})),
        ("/api/services/shop/providers/%3Cscript%3E:80/disable", json!({})),
        ("/api/services/bad%20name/providers/10.0.0.1:80/disable", json!({})),
        ("/api/services/shop/providers/10.0.0.1:80/weight", json!({ "weight": -1 })),
        ("/api/services/shop/providers/10.0.0.1:80/weight", json!({})),
        ("/api/services/shop/providers/10.0.0.1:80/disable", json!({ "expect_version": "2" })),
    ] {
        let (status, answer) = console.write("POST", route, Some(TOKEN), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{route} {body}: {answer}");
    }
    // Disabling two of three is more than the check allows, unless forced.
    let disable = |address: &str| format!("/api/services/shop/providers/{address}/disable");
    console.write("POST", &disable("10.0.0.2:80"), Some(TOKEN), &json!({})).await;
    let (status, refused) = console.write("POST", &disable("10.0.0.3:80"), Some(TOKEN), &json!({})).await;
    assert_eq!((status, &refused["refused"]), (StatusCode::BAD_REQUEST, &json!(true)), "{refused}");
    let (status, _) =
        console.write("POST", &disable("10.0.0.3:80"), Some(TOKEN), &json!({ "force": true })).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rules_put_checks_the_document_refuses_stale_versions_and_rolls_back_from_history() {
    let console = writable("rules").await;
    let put = |text: &str, expect: Value| json!({ "text": text, "expect_version": expect });
    let (status, invalid) = console
        .write("PUT", "/api/services/shop/rules", Some(TOKEN), &put("[tags]\nstrict = \n", Value::Null))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{invalid}");
    assert_eq!((&invalid["line"], invalid["column"].is_number()), (&json!(2), true), "{invalid}");
    assert_eq!(read(&console.zk, "/services/shop/rules").await, None);
    let first = "# v0\n[tags]\nstrict = false\n";
    let (status, answer) =
        console.write("PUT", "/api/services/shop/rules", Some(TOKEN), &put(first, Value::Null)).await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(0)), "{answer}");
    let second = "# v1\n[tags]\nstrict = true\n";
    console.write("PUT", "/api/services/shop/rules", Some(TOKEN), &put(second, json!(0))).await;
    let (status, conflict) =
        console.write("PUT", "/api/services/shop/rules", Some(TOKEN), &put("# mine\n", json!(0))).await;
    assert_eq!((status, &conflict["current_version"]), (StatusCode::CONFLICT, &json!(1)), "{conflict}");
    assert_eq!(conflict["current_text"], second);
    assert_eq!(conflict["diff"], "- # v1\n- [tags]\n- strict = true\n+ # mine");
    let (status, history) = console.get("/api/services/shop/rules/history").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let versions: Vec<i64> =
        history.as_array().expect("array").iter().filter_map(|e| e["version"].as_i64()).collect();
    assert!(versions.contains(&0) && versions.contains(&1), "{history}");
    let rollback = json!({ "to_version": 0, "expect_version": 1 });
    let (status, answer) =
        console.write("POST", "/api/services/shop/rules/rollback", Some(TOKEN), &rollback).await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(2)), "{answer}");
    assert_eq!(read(&console.zk, "/services/shop/rules").await, Some((first.to_owned(), 2)));
    let (status, _) =
        console.write("POST", "/api/services/shop/rules/rollback", Some(TOKEN), &rollback).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let missing = json!({ "to_version": 99 });
    let (status, _) = console.write("POST", "/api/services/shop/rules/rollback", Some(TOKEN), &missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn config_edits_are_checked_compared_and_set_diffed_and_rolled_back() {
    let console = writable("config").await;
    let url = "/api/config/app/db";
    let put = |text: &str, expect: Value| json!({ "text": text, "expect_version": expect, "author": "ops" });
    let (status, answer) = console.write("PUT", url, Some(TOKEN), &put("pool = 4\n", Value::Null)).await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(0)), "{answer}");
    let (status, invalid) =
        console.write("PUT", url, Some(TOKEN), &put("pool = 4\nhost = \"a\n", json!(0))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{invalid}");
    assert_eq!(invalid["line"], 2, "{invalid}");
    assert!(invalid["column"].as_u64().is_some_and(|c| c > 0), "{invalid}");
    assert_eq!(read(&console.zk, "/config/app/db").await, Some(("pool = 4\n".to_owned(), 0)), "unchanged");
    console.write("PUT", url, Some(TOKEN), &put("pool = 8\n", json!(0))).await;
    let (status, conflict) = console.write("PUT", url, Some(TOKEN), &put("pool = 16\n", json!(0))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!((&conflict["current_version"], &conflict["current_text"]), (&json!(1), &json!("pool = 8\n")));
    assert_eq!(conflict["diff"], "- pool = 8\n+ pool = 16");
    let (status, diff) =
        console.write("POST", &format!("{url}/diff"), None, &json!({ "text": "pool = 9\n" })).await;
    assert_eq!(
        (status, &diff["diff"], &diff["version"]),
        (StatusCode::OK, &json!("- pool = 8\n+ pool = 9"), &json!(1))
    );

    let (status, doc) = console.get(url).await;
    assert_eq!((status, &doc["version"], &doc["text"]), (StatusCode::OK, &json!(1), &json!("pool = 8\n")));
    assert!(doc["status"].as_array().is_some_and(Vec::is_empty), "{doc}");
    let (_, history) = console.get(&format!("{url}/history")).await;
    assert_eq!((&history[0]["version"], &history[0]["author"]), (&json!(1), &json!("ops")), "{history}");
    let rollback = json!({ "to_version": 0, "expect_version": 1 });
    let (status, answer) = console.write("POST", &format!("{url}/rollback"), Some(TOKEN), &rollback).await;
    assert_eq!((status, &answer["version"]), (StatusCode::OK, &json!(2)), "{answer}");
    assert_eq!(read(&console.zk, "/config/app/db").await, Some(("pool = 4\n".to_owned(), 2)));
    let (status, list) = console.get("/api/config").await;
    assert_eq!((status, list), (StatusCode::OK, json!([{ "namespace": "app", "names": ["db"] }])));
    let (status, _) = console.get("/api/config/app/nosuch").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = console.get("/api/config/app/..").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_config_document_shows_which_version_each_watcher_runs() {
    let console = writable("fleet").await;
    create(&console.zk, "/config/app/db", b"pool = 4\n").await;
    let session = registry::Session::connect(&console.connect).await.expect("session");
    let center = config_center::ConfigCenter::builder().instance("web-1").build(session).expect("center");
    let _watch = center.watch::<toml::Table>("app", "db").await.expect("watch");
    local_zk::support::eventually(std::time::Duration::from_secs(20), "the watcher's status", || async {
        console.get("/api/config/app/db").await.1["status"].as_array().is_some_and(|s| !s.is_empty())
    })
    .await;
    let (_, doc) = console.get("/api/config/app/db").await;
    let watcher = &doc["status"][0];
    assert_eq!(
        (&watcher["instance"], &watcher["version"], &watcher["state"]),
        (&json!("web-1"), &json!(0), &json!("accepted"))
    );
}

#[tokio::test]
async fn bodies_over_the_limit_or_not_json_objects_are_refused() {
    let console =
        TestConsole::start_with("limits", |b| b.write_token(Some(TOKEN.into())).max_body(1024)).await;
    let big = json!({ "text": "x".repeat(2000) });
    let (status, _) = console.write("PUT", "/api/config/app/db", Some(TOKEN), &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for body in ["not json", "[1]"] {
        let response =
            send(console.addr(), "PUT", "/api/config/app/db", Some(TOKEN), Some(body.into())).await;
        let (status, _, text) = text_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
    }
    let (status, _) = console.write("DELETE", "/api/config/app/db", Some(TOKEN), &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(read(&console.zk, "/config/app/db").await, None);
}
