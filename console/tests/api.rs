//! The console's JSON API against a real ZooKeeper (one per test binary, a chroot per test),
//! with plain HTTP requests: the page, the overview.

mod api_support;

use api_support::{create, member, send, text_of, TestConsole};
use hyper::StatusCode;
use serde_json::json;

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

#[tokio::test]
async fn services_are_listed_with_their_layout_counts_and_disabled_providers() {
    let console = TestConsole::start("services").await;
    for url in ["http://10.0.0.1:80/shop", "http://10.0.0.2:80/shop"] {
        member(&console.zk, "providers", url).await;
    }
    member(&console.zk, "consumers", "consumer://10.0.1.1:9/shop").await;
    member(&console.zk, "providers", "http://10.0.0.9:80/cart").await;
    create(
        &console.zk,
        "/services/shop/rules",
        b"[[override]]\naddress = \"10.0.0.2:80\"\ndisabled = true\n",
    )
    .await;
    let (status, list) = console.get("/api/services").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> =
        list.as_array().expect("array").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["cart", "shop"]);
    let shop = &list[1];
    assert_eq!(
        (&shop["layout"], &shop["providers"], &shop["consumers"], &shop["disabled"]),
        (&json!("zkmesh"), &json!(2), &json!(1), &json!(1)),
        "{shop}"
    );
    assert_eq!(list[0]["disabled"], 0);
}

#[tokio::test]
async fn a_service_shows_its_providers_weights_and_state_its_consumers_and_rules() {
    let console = TestConsole::start("service").await;
    member(&console.zk, "providers", "http://10.0.0.1:80/shop?weight=50&zone=az1&version=1.2&tag=canary")
        .await;
    member(&console.zk, "providers", "http://10.0.0.2:80/shop").await;
    member(&console.zk, "providers", "http://10.0.0.3:80/shop").await;
    member(&console.zk, "consumers", "consumer://10.0.1.1:9/shop").await;
    let rules = "# ops\n[[override]]\naddress = \"10.0.0.1:80\"\nweight = 7\n\n[[override]]\naddress = \"10.0.0.2:80\"\ndisabled = true\n";
    create(&console.zk, "/services/shop/rules", rules.as_bytes()).await;
    let (status, shop) = console.get("/api/services/shop").await;
    assert_eq!(status, StatusCode::OK, "{shop}");
    assert_eq!((&shop["name"], &shop["layout"]), (&json!("shop"), &json!("zkmesh")));
    let providers = shop["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 3, "{shop}");
    let first = &providers[0];
    assert_eq!(first["address"], "10.0.0.1:80");
    assert_eq!((&first["registered_weight"], &first["effective_weight"]), (&json!(50), &json!(7)));
    assert_eq!(
        (&first["zone"], &first["version"], &first["tags"]),
        (&json!("az1"), &json!("1.2"), &json!(["canary"]))
    );
    assert_eq!((&first["disabled"], &first["ejected"]), (&json!(false), &json!(false)));
    assert!(first["age_ms"].as_i64().is_some_and(|age| age >= 0), "{first}");
    assert_eq!((&providers[1]["disabled"], &providers[1]["effective_weight"]), (&json!(true), &json!(0)));
    assert_eq!(providers[2]["effective_weight"], 100);
    assert_eq!(shop["consumers"][0]["address"], "10.0.1.1:9");
    assert_eq!((&shop["rules"]["version"], &shop["rules"]["text"]), (&json!(0), &json!(rules)));

    let (status, body) = console.get("/api/services/nosuch").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = console.get("/api/services/bad%20name!").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("invalid service name")), "{body}");
}

#[tokio::test]
async fn recipes_show_leaders_lock_holders_and_waiters_queue_depths_barriers_and_curator_paths() {
    let console = TestConsole::start_with("recipes", |b| b.recipes(vec!["/myapp".to_owned()])).await;
    let session = registry::Session::connect(&console.connect).await.expect("session");
    let _leader = recipes::LeaderElection::new(&session, "reports", b"node-a")
        .expect("election")
        .elect()
        .await
        .expect("elected");
    let _held = recipes::Lock::new(&session, "nightly")
        .expect("lock")
        .with_data(b"worker-1")
        .acquire()
        .await
        .expect("lock");
    let queue = recipes::DistributedQueue::new(&session, "mail").expect("queue");
    for item in [b"1", b"2", b"3"] {
        queue.put(item).await.expect("put");
    }
    create(&console.zk, "/barriers/start", b"3").await;
    create(&console.zk, "/jobs/nightly", b"kind=singleton\nschedule=every 60000ms\n").await;
    create(&console.zk, "/jobs/nightly/members/worker-a", b"").await;
    create(&console.zk, "/barriers/start/_c_11-member-0000000000", b"").await;
    // A Curator InterProcessMutex at a path of the application's choosing: a holder, a waiter.
    create(&console.zk, "/myapp/orders/_c_aaa-lock-0000000000", b"10.0.0.1").await;
    create(&console.zk, "/myapp/orders/_c_bbb-lock-0000000001", b"<script>alert(1)</script>").await;
    let (status, recipes) = console.get("/api/recipes").await;
    assert_eq!(status, StatusCode::OK, "{recipes}");
    let election = &recipes["elections"][0];
    assert_eq!(
        (&election["path"], &election["leader"]["data"]),
        (&json!("/election/reports"), &json!("node-a"))
    );
    let locks = recipes["locks"].as_array().expect("locks");
    assert_eq!(locks.len(), 2, "{recipes}");
    assert_eq!(
        (&locks[0]["path"], &locks[0]["holder"]["data"]),
        (&json!("/locks/nightly"), &json!("worker-1"))
    );
    assert_eq!(locks[1]["path"], "/myapp/orders");
    assert_eq!(locks[1]["holder"]["data"], "10.0.0.1");
    assert_eq!(locks[1]["waiters"][0]["data"], "<script>alert(1)</script>", "data is passed on as text");
    assert_eq!(
        (&recipes["queues"][0]["path"], &recipes["queues"][0]["depth"]),
        (&json!("/queues/mail"), &json!(3))
    );
    let barrier = &recipes["barriers"][0];
    assert_eq!((&barrier["size"], &barrier["members"].as_array().map(Vec::len)), (&json!("3"), &Some(1)));
    let job = &recipes["jobs"][0];
    assert_eq!(
        (&job["name"], &job["kind"], &job["schedule"]),
        (&json!("nightly"), &json!("singleton"), &json!("every 60000ms"))
    );
    assert_eq!(job["members"], json!(["worker-a"]), "{job}");
    assert!(job["next_run_ms"].is_i64(), "{job}");
}

#[tokio::test]
async fn recipes_show_semaphores_with_their_leases_and_groups_with_their_members() {
    let console = TestConsole::start_with("recipes-more", |b| b.recipes(vec!["/myapp".to_owned()])).await;
    let session = registry::Session::connect(&console.connect).await.expect("session");
    let semaphore = recipes::Semaphore::new(&session, "pool", 2).expect("semaphore").with_data(b"worker-1");
    let _lease = semaphore.acquire().await.expect("a lease");
    let group = recipes::Group::new(&session, "web").expect("group");
    let _a = group.join("web-1", b"10.0.0.1:80").await.expect("join");
    let _b = group.join("web-2", b"").await.expect("join");
    // A Curator InterProcessSemaphoreV2 at a path of the application's choosing.
    create(&console.zk, "/myapp/slots/leases/_c_aaa-lease-0000000000", b"java-1").await;
    create(&console.zk, "/myapp/slots/locks/_c_bbb-lock-0000000000", b"").await;
    let (status, recipes) = console.get("/api/recipes").await;
    assert_eq!(status, StatusCode::OK, "{recipes}");
    let semaphores = recipes["semaphores"].as_array().expect("semaphores");
    assert_eq!(semaphores.len(), 2, "{recipes}");
    assert_eq!(semaphores[0]["path"], "/semaphores/pool");
    assert_eq!(semaphores[0]["leases"].as_array().map(Vec::len), Some(1), "{recipes}");
    assert_eq!(semaphores[0]["leases"][0]["data"], "worker-1");
    assert_eq!(
        (&semaphores[1]["path"], &semaphores[1]["leases"][0]["data"], &semaphores[1]["acquiring"]),
        (&json!("/myapp/slots"), &json!("java-1"), &json!(1))
    );
    let groups = recipes["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{recipes}");
    assert_eq!(groups[0]["path"], "/groups/web");
    let members: Vec<(&str, &str)> = groups[0]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["node"].as_str().unwrap_or_default(), m["data"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(members, [("web-1", "10.0.0.1:80"), ("web-2", "")]);
}

#[tokio::test]
async fn a_curator_service_shows_its_instances_as_providers() {
    let console = TestConsole::start_with("curator", |b| b.layout(registry::Layout::Curator)).await;
    let instance = r#"{"name":"greeter","id":"abc","address":"10.0.0.5","port":8080,"sslPort":null,"payload":{"@class":"java.util.LinkedHashMap","version":"1.2"},"registrationTimeUTC":17,"serviceType":"DYNAMIC","uriSpec":null}"#;
    create(&console.zk, "/services/greeter/abc", instance.as_bytes()).await;
    let (status, list) = console.get("/api/services").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!((&list[0]["layout"], &list[0]["providers"]), (&json!("curator"), &json!(1)), "{list}");
    let (status, greeter) = console.get("/api/services/greeter").await;
    assert_eq!(status, StatusCode::OK, "{greeter}");
    assert_eq!(greeter["layout"], "curator");
    let provider = &greeter["providers"][0];
    assert_eq!(
        (&provider["address"], &provider["version"]),
        (&json!("10.0.0.5:8080"), &json!("1.2")),
        "{greeter}"
    );
    assert_eq!((&greeter["consumers"], &greeter["rules"]["version"]), (&json!([]), &json!(null)));
}
