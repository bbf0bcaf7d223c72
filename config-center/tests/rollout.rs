//! Config rollout against a real ZooKeeper (one per test binary, a chroot per test): history
//! with authors, fleet status, canary publish.

mod common;

use common::*;
use std::time::Duration;

use zkmesh_config::{ConfigCenter, Error, Expect, PublishMeta, Selector, WatcherState};

// === History with authors ===

#[tokio::test]
async fn the_history_keeps_who_published_each_version_and_why() {
    let connect = chroot("authors");
    let center = center(&connect).await;
    let alice = PublishMeta::new().author("alice").message("first pool\nwith a second line");
    center.publish_toml_with("shop", "db", "pool = 4\n", Expect::Absent, &alice).await.expect("publish 0");
    // A client that records nothing, then a plain setData by a foreign client.
    center.publish_toml("shop", "db", "pool = 6\n", Expect::Version(0)).await.expect("publish 1");
    let raw = raw(&connect).await;
    raw.set_data("/config/shop/db", b"pool = 7\n", Some(1)).await.expect("foreign write");
    let bob = PublishMeta::new().author("bob");
    center.publish_toml_with("shop", "db", "pool = 8\n", Expect::Version(2), &bob).await.expect("publish 3");

    let revisions = center.revisions("shop", "db").await.expect("revisions");
    let seen: Vec<_> = revisions
        .iter()
        .map(|e| (e.version, e.current, e.author.as_deref(), e.message.as_deref(), e.size))
        .collect();
    assert_eq!(
        seen,
        [
            (3, true, Some("bob"), None, 9),
            (2, false, None, None, 9),
            (1, false, None, None, 9),
            (0, false, Some("alice"), Some("first pool\nwith a second line"), 9),
        ],
        "the current version first; versions written without authors show as unknown"
    );
    let history = center.history("shop", "db").await.expect("history");
    assert_eq!(history.iter().map(|e| e.version).collect::<Vec<_>>(), [2, 1, 0], "history() as before");

    // The entry stays a TOML document for any reader, and zkmesh reads the document back whole.
    let (entry, _) = raw.get_data("/config/shop/db/history/v-0000000000").await.expect("entry");
    let entry = String::from_utf8(entry).expect("utf-8");
    assert!(entry.starts_with("#zkmesh-meta {"), "{entry}");
    assert_eq!(entry.parse::<toml::Table>().expect("TOML").get("pool"), Some(&toml::Value::Integer(4)));
    assert_eq!(center.history_document("shop", "db", 0).await.expect("read"), "pool = 4\n");
    let (current, _) = raw.get_data("/config/shop/db").await.expect("document");
    assert_eq!(current, b"pool = 8\n", "the document node carries no metadata");

    // A rollback records who and, by default, what it restored; the document is the old one.
    let carol = PublishMeta::new().author("carol");
    let rolled = center.rollback_with("shop", "db", 0, Expect::Version(3), &carol).await.expect("rollback");
    assert_eq!(
        center.current("shop", "db").await.expect("read"),
        Some(("pool = 4\n".to_owned(), rolled.version))
    );
    let newest = &center.revisions("shop", "db").await.expect("revisions")[0];
    assert_eq!(
        (newest.version, newest.author.as_deref(), newest.message.as_deref()),
        (4, Some("carol"), Some("rollback to version 0"))
    );

    let err = center
        .publish_toml_with(
            "shop",
            "db",
            "pool = 9\n",
            Expect::Any,
            &PublishMeta::new().author("x".repeat(300)),
        )
        .await
        .expect_err("author too long");
    assert!(matches!(err, Error::InvalidMeta { field: "author", .. }), "{err:?}");
    assert_eq!(center.current("shop", "db").await.expect("read").map(|c| c.1), Some(4), "nothing written");
}

#[tokio::test]
async fn a_document_that_starts_like_the_metadata_line_comes_back_whole() {
    let connect = chroot("metalike");
    let center = center(&connect).await;
    let odd = "#zkmesh-meta { author = \"mallory\" }\npool = 1\n";
    center.publish_toml("shop", "db", odd, Expect::Absent).await.expect("publish");
    center.publish_toml("shop", "db", "pool = 2\n", Expect::Any).await.expect("publish");
    assert_eq!(center.history_document("shop", "db", 0).await.expect("read"), odd);
    let history = center.history("shop", "db").await.expect("history");
    assert_eq!(history[0].author, None, "the document's own first line is no metadata");
}

// === Fleet status ===

fn named(connect: &str, instance: &str) -> impl std::future::Future<Output = zkmesh_config::ConfigCenter> {
    let (connect, instance) = (connect.to_owned(), instance.to_owned());
    async move {
        zkmesh_config::ConfigCenter::builder()
            .instance(instance)
            .status_delay(Duration::from_millis(5))
            .build(session(&connect).await)
            .expect("center")
    }
}

#[tokio::test]
async fn every_watcher_reports_the_version_it_runs_and_what_it_refused() {
    init_logging();
    let connect = chroot("status");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let mut watchers = Vec::new();
    for i in 0..3 {
        let center = named(&connect, &format!("w-{i}")).await;
        let config = center.watch::<toml::Table>("shop", "db").await.expect("watch");
        watchers.push((center, config));
    }
    eventually(WAIT, "three status nodes", || async {
        publisher.status("shop", "db").await.expect("status").len() == 3
    })
    .await;
    let statuses = publisher.wait_for_version("shop", "db", 0, WAIT).await.expect("all on 0");
    let names: Vec<_> = statuses.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(names, ["w-0", "w-1", "w-2"]);
    assert!(statuses.iter().all(|s| s.pid == std::process::id() && s.error.is_none()), "{statuses:?}");

    // A document nobody accepts: every status says so, with the error and what was refused.
    publisher.publish_toml("shop", "db", "pool = [1,\n", Expect::Any).await.expect_err("not TOML");
    let raw = raw(&connect).await;
    raw.set_data("/config/shop/db", b"pool = [1,\n", None).await.expect("foreign write");
    let err = publisher
        .wait_for_version("shop", "db", 1, Duration::from_secs(2))
        .await
        .expect_err("nobody runs version 1");
    let Error::WaitTimedOut { watchers: seen, .. } = &err else { panic!("{err:?}") };
    assert_eq!(seen.len(), 3, "{err}");
    for status in seen {
        assert_eq!((status.state, status.version), (WatcherState::Refused, Some(0)), "{status:?}");
        assert_eq!(status.refused.as_deref(), Some("version 1"));
        assert!(status.error.as_deref().is_some_and(|e| e.contains("line 1")), "{status:?}");
    }
    assert!(err.to_string().contains("w-1 refused version 0"), "{err}");

    // Fixed: everyone on the new version, their states since the fix.
    publisher.publish_toml("shop", "db", "pool = 2\n", Expect::Version(1)).await.expect("fix");
    let statuses = publisher.wait_for_version("shop", "db", 2, WAIT).await.expect("all on 2");
    assert!(statuses.iter().all(|s| s.error.is_none() && s.refused.is_none()), "{statuses:?}");

    // A watcher that stops takes its status node with it.
    let (_, config) = watchers.pop().expect("a watcher");
    drop(config);
    eventually(WAIT, "w-2's status node goes", || async {
        publisher.status("shop", "db").await.expect("status").len() == 2
    })
    .await;
}

#[tokio::test]
async fn status_nodes_come_back_after_session_expiry_with_the_current_state() {
    let connect = chroot("statusexpiry");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let watcher = named(&connect, "survivor").await;
    let config = watcher.watch::<toml::Table>("shop", "db").await.expect("watch");
    publisher.wait_for_version("shop", "db", 0, WAIT).await.expect("on 0");
    // A newer state than the one the node was created with.
    publisher.publish_toml("shop", "db", "pool = 2\n", Expect::Any).await.expect("publish");
    publisher.wait_for_version("shop", "db", 1, WAIT).await.expect("on 1");

    let before = watcher.session().session_id().expect("session");
    let info = watcher.session().session_info().expect("live session");
    local_zk::expire_session(&connect, &info).await.expect("expire");
    let raw = raw(&connect).await;
    eventually(WAIT, "the status node is back, owned by the new session, saying version 1", || async {
        let Ok((data, stat)) = raw.get_data("/config/shop/db/status/survivor").await else { return false };
        let text = String::from_utf8_lossy(&data).into_owned();
        stat.ephemeral_owner != before
            && text.contains("version = 1")
            && text.contains("state = \"accepted\"")
    })
    .await;
    assert!(watcher.session().generation() >= 2, "the session was really replaced");
    assert_eq!(config.version(), Some(1));
}

// === Canary ===

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct Pool {
    pool: u32,
}

/// The documented percentage hash: `fnv1a64(path + "\n" + instance) >> 1`.
fn instance_hash(path: &str, instance: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{path}\n{instance}").bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    (hash >> 1) as i64
}

/// A watcher of `shop/db` named `name`, with labels and zone.
async fn watcher(
    connect: &str,
    name: &str,
    zone: Option<&str>,
    labels: &[(&str, &str)],
) -> zkmesh_config::Config<Pool> {
    let mut builder =
        zkmesh_config::ConfigCenter::builder().instance(name).status_delay(Duration::from_millis(5));
    if let Some(zone) = zone {
        builder = builder.zone(zone);
    }
    for (k, v) in labels {
        builder = builder.label(*k, *v);
    }
    let center = builder.build(session(connect).await).expect("center");
    center.watch::<Pool>("shop", "db").await.expect("watch")
}

/// Waits until `n` watchers have a status node.
async fn live(center: &zkmesh_config::ConfigCenter, n: usize) {
    eventually(WAIT, &format!("{n} status nodes"), || async {
        center.status("shop", "db").await.expect("status").len() == n
    })
    .await;
}

/// The instances that run canary `id`, once `selected` of the `n` watchers do and the others
/// run `version`.
async fn on_canary(
    center: &ConfigCenter,
    id: u64,
    version: i32,
    (selected, n): (usize, usize),
) -> Vec<String> {
    let all = center
        .wait_for("shop", "db", WAIT, |all| {
            let on = all.iter().filter(|w| w.canary == Some(id) && w.state == WatcherState::Accepted).count();
            all.len() == n && on == selected && all.iter().all(|w| w.canary == Some(id) || w.runs(version))
        })
        .await
        .expect("settled");
    all.into_iter().filter(|w| w.canary == Some(id)).map(|w| w.instance).collect()
}

#[tokio::test]
async fn a_canary_by_percentage_selects_a_stable_exactly_sized_subset_across_restarts() {
    let connect = chroot("percent");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let names: Vec<String> = (0..20).map(|i| format!("web-{i}")).collect();
    let mut watchers = Vec::new();
    for name in &names {
        watchers.push(watcher(&connect, name, None, &[]).await);
    }
    live(&publisher, 20).await;

    let canary =
        publisher.publish_canary("shop", "db", "pool = 2\n", &Selector::percent(10)).await.expect("canary");
    let selected = on_canary(&publisher, canary.id, 0, (2, 20)).await;
    let mut expected = names.clone();
    expected.sort_by_key(|n| instance_hash("/config/shop/db", n));
    expected.truncate(2);
    expected.sort();
    assert_eq!(selected, expected, "10 % of 20: the two lowest hashes");
    for (name, config) in names.iter().zip(&watchers) {
        let want = if selected.contains(name) { 2 } else { 1 };
        assert_eq!(config.load().pool, want, "{name}");
        assert_eq!(config.status().canary, selected.contains(name).then_some(canary.id), "{name}");
    }

    // Restarted (a selected one and another), they land where they were.
    let restarted: Vec<usize> = vec![
        names.iter().position(|n| *n == selected[0]).expect("selected"),
        names.iter().position(|n| !selected.contains(n)).expect("not selected"),
    ];
    for i in &restarted {
        // The old process is gone (its status node with it) before the new one starts.
        let stopped = std::mem::replace(&mut watchers[*i], watcher(&connect, "placeholder", None, &[]).await);
        drop(stopped);
        eventually(WAIT, "the stopped watcher's node goes", || async {
            !publisher.status("shop", "db").await.expect("status").iter().any(|w| w.instance == names[*i])
        })
        .await;
        watchers[*i] = watcher(&connect, &names[*i], None, &[]).await;
    }
    // The placeholders are gone with the watchers they stood for.
    live(&publisher, 20).await;
    assert_eq!(on_canary(&publisher, canary.id, 0, (2, 20)).await, expected, "the same subset");
    assert_eq!(watchers[restarted[0]].load().pool, 2);
    assert_eq!(watchers[restarted[1]].load().pool, 1);

    // Aborted: everyone back on version 0.
    assert_eq!(publisher.abort("shop", "db").await.expect("abort").id, canary.id);
    publisher.wait_for_version("shop", "db", 0, WAIT).await.expect("all on 0");
    assert!(watchers.iter().all(|w| w.load().pool == 1 && w.status().canary.is_none()));
    assert_eq!(publisher.canary("shop", "db").await.expect("read"), None);
}

#[tokio::test]
async fn label_and_zone_canaries_select_their_watchers_and_promote_makes_it_everyones() {
    let connect = chroot("labels");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let a = watcher(&connect, "a", Some("az1"), &[("team", "x")]).await;
    let b = watcher(&connect, "b", Some("az1"), &[]).await;
    let c = watcher(&connect, "c", Some("az2"), &[("team", "x")]).await;
    let d = watcher(&connect, "d", Some("az2"), &[]).await;
    live(&publisher, 4).await;

    let zone =
        publisher.publish_canary("shop", "db", "pool = 2\n", &Selector::zone("az1")).await.expect("canary");
    assert_eq!(on_canary(&publisher, zone.id, 0, (2, 4)).await, ["a", "b"]);
    let err = publisher
        .publish_canary("shop", "db", "pool = 3\n", &Selector::percent(50))
        .await
        .expect_err("one canary at a time");
    assert!(matches!(err, Error::CanaryInProgress { id, .. } if id == zone.id), "{err:?}");
    publisher.abort("shop", "db").await.expect("abort");

    let meta = PublishMeta::new().author("dana").message("bigger pool for team x");
    let team = publisher
        .publish_canary_with("shop", "db", "pool = 3\n", &Selector::label("team", "x"), &meta)
        .await
        .expect("canary");
    assert!(team.id > zone.id, "ids grow: {} then {}", zone.id, team.id);
    assert_eq!(on_canary(&publisher, team.id, 0, (2, 4)).await, ["a", "c"]);
    assert_eq!((a.load().pool, b.load().pool, c.load().pool, d.load().pool), (3, 1, 3, 1));

    let promoted = publisher.promote("shop", "db").await.expect("promote");
    assert_eq!(promoted.version, 1);
    publisher.wait_for_version("shop", "db", 1, WAIT).await.expect("everyone on the canary's document");
    assert_eq!((a.load().pool, b.load().pool, c.load().pool, d.load().pool), (3, 3, 3, 3));
    let newest = &publisher.revisions("shop", "db").await.expect("history")[0];
    let expected_message = format!("promote canary {}: bigger pool for team x", team.id);
    assert_eq!(
        (newest.author.as_deref(), newest.message.as_deref()),
        (Some("dana"), Some(expected_message.as_str()))
    );
    let err = publisher.promote("shop", "db").await.expect_err("nothing left to promote");
    assert!(matches!(err, Error::NoCanary { .. }), "{err:?}");
}

#[tokio::test]
async fn a_canary_a_selected_watcher_refuses_halts_and_says_who_and_why() {
    let connect = chroot("halt");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let a = watcher(&connect, "a", Some("az1"), &[]).await;
    let b = watcher(&connect, "b", Some("az1"), &[]).await;
    let c = watcher(&connect, "c", Some("az2"), &[]).await;
    live(&publisher, 3).await;

    // TOML, but not a `Pool`: the watchers' type refuses it (the untyped publish does not check).
    let canary = publisher
        .publish_canary("shop", "db", "pool = \"many\"\n", &Selector::zone("az1"))
        .await
        .expect("canary");
    let halted = eventually_halted(&publisher).await;
    assert!(halted.instance == "a" || halted.instance == "b", "{halted:?}");
    assert!(halted.error.contains("line 1"), "{halted:?}");
    let refusing = publisher
        .wait_for("shop", "db", WAIT, |all| {
            all.iter().any(|w| w.instance == halted.instance && w.error.is_some())
        })
        .await
        .expect("the refusal in the status");
    let status = refusing.iter().find(|w| w.instance == halted.instance).expect("its status");
    assert_eq!((status.state, status.version), (WatcherState::Refused, Some(0)));
    assert_eq!(status.refused.as_deref(), Some(format!("canary {}", canary.id).as_str()));
    assert_eq!((a.load().pool, b.load().pool, c.load().pool), (1, 1, 1), "nobody runs it");

    let err = publisher.promote("shop", "db").await.expect_err("halted");
    assert!(
        matches!(&err, Error::CanaryHalted { reason, .. } if reason.contains(&halted.instance)),
        "{err:?}"
    );
    publisher.abort("shop", "db").await.expect("abort");
    publisher.wait_for_version("shop", "db", 0, WAIT).await.expect("everyone fine on 0");
}

async fn eventually_halted(center: &zkmesh_config::ConfigCenter) -> zkmesh_config::CanaryHalt {
    for _ in 0..200 {
        if let Some(halt) = center.canary("shop", "db").await.expect("read").and_then(|c| c.halted) {
            return halt;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the canary did not halt");
}

#[tokio::test]
async fn bad_canaries_are_refused_before_any_write() {
    let connect = chroot("badcanary");
    let publisher =
        ConfigCenter::builder().max_document_size(100).build(session(&connect).await).expect("center");
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    let _a = watcher(&connect, "a", Some("az1"), &[]).await;
    live(&publisher, 1).await;

    let err = publisher
        .publish_canary("shop", "db", "pool = 2\n", &Selector::percent(101))
        .await
        .expect_err("101 %");
    assert!(matches!(&err, Error::InvalidSelector { reason, .. } if reason.contains("0..=100")), "{err:?}");
    let err = publisher
        .publish_canary("shop", "db", "pool = 2\n", &Selector::zone("az9"))
        .await
        .expect_err("nobody");
    assert!(matches!(&err, Error::NoWatcherSelected { live: 1, .. }), "{err:?}");
    let err = publisher
        .publish_canary("shop", "db", "pool = 2\n", &Selector::percent(0))
        .await
        .expect_err("0 % is nobody");
    assert!(matches!(err, Error::NoWatcherSelected { .. }), "{err:?}");
    let big = format!("pool = 2\n# {}\n", "x".repeat(200));
    let err =
        publisher.publish_canary("shop", "db", &big, &Selector::percent(100)).await.expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let err = publisher
        .publish_canary("shop", "nosuch", "pool = 2\n", &Selector::percent(100))
        .await
        .expect_err("no document");
    assert!(matches!(err, Error::VersionConflict { actual: None, .. }), "{err:?}");
    assert_eq!(publisher.canary("shop", "db").await.expect("read"), None, "nothing written");
    let raw = raw(&connect).await;
    assert!(raw.check_stat("/config/shop/db/canary").await.expect("stat").is_none());
}

#[tokio::test]
async fn a_watcher_without_a_status_node_still_halts_a_canary_it_refuses() {
    let connect = chroot("halthidden");
    let publisher = center(&connect).await;
    publisher.publish_toml("shop", "db", "pool = 1\n", Expect::Absent).await.expect("publish");
    // Visible and accepting anything; hidden (no status node) and typed.
    let visible = named(&connect, "visible").await;
    let _any = visible.watch::<toml::Table>("shop", "db").await.expect("watch");
    let hidden =
        ConfigCenter::builder().instance("hidden").fleet_status(false).build(session(&connect).await);
    let typed = hidden.expect("center").watch::<Pool>("shop", "db").await.expect("watch");
    live(&publisher, 1).await;

    publisher
        .publish_canary("shop", "db", "pool = \"many\"\n", &Selector::percent(100))
        .await
        .expect("canary");
    let halted = eventually_halted(&publisher).await;
    assert_eq!(halted.instance, "hidden");
    assert_eq!(typed.load().pool, 1);
}
