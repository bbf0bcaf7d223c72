//! Publishing traffic rules against a real ZooKeeper: validation with line and column, the
//! check that refuses rules stranding consumers (and leaves the document unchanged), two
//! operators racing, history and rollback, the provider switches.

mod common;

use common::*;
use zkmesh_config::{Error, Expect};

const DISABLE_A: &str = "[[override]]\naddress = \"10.0.0.1:80\"\ndisabled = true\n";

#[tokio::test]
async fn put_get_history_and_rollback() {
    let connect = chroot("rules-history");
    let zk = raw(&connect).await;
    members(&zk, "shop", &["http://10.0.0.1:80/shop", "http://10.0.0.2:80/shop"], &[]).await;
    let rules = store(&connect).await;
    assert_eq!(rules.get("shop").await.expect("get"), None);
    let first = rules.put("shop", DISABLE_A, Expect::Absent, false).await.expect("put");
    assert_eq!((first.path.as_str(), first.version), ("/services/shop/rules", 0));
    let second = rules.put("shop", "[tags]\n", Expect::Version(0), false).await.expect("put");
    assert_eq!(second.version, 1);
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert_eq!((doc.text.as_str(), doc.version), ("[tags]\n", 1));
    assert!(doc.rules.tags.is_some());
    let history: Vec<i32> = rules.history("shop").await.expect("history").iter().map(|e| e.version).collect();
    assert_eq!(history, [0], "the documents replaced");
    assert_eq!(rules.history_document("shop", 0).await.expect("v0"), DISABLE_A);

    let back = rules.rollback("shop", 0, Expect::Version(1), false).await.expect("rollback");
    assert_eq!(back.version, 2);
    assert_eq!(rules.get("shop").await.expect("get").expect("present").text, DISABLE_A);
}

#[tokio::test]
async fn an_invalid_document_is_refused_with_line_and_column_and_nothing_is_written() {
    let connect = chroot("rules-invalid");
    let rules = store(&connect).await;
    rules.put("shop", "[tags]\n", Expect::Any, false).await.expect("put");
    let refused = rules.put("shop", "[tags]\nstrict = 3\n", Expect::Any, false).await;
    match refused {
        Err(Error::Registry(registry::Error::InvalidRules { line, column, document, .. })) => {
            assert_eq!((line, column), (Some(2), Some(10)));
            assert!(document.contains("/services/shop/rules"), "{document}");
        }
        other => panic!("expected InvalidRules, got {other:?}"),
    }
    assert_eq!(rules.get("shop").await.expect("get").expect("present").version, 0, "unchanged");
}

#[tokio::test]
async fn a_rule_that_strands_a_consumer_is_refused_naming_it_unless_forced() {
    let connect = chroot("rules-strand");
    let zk = raw(&connect).await;
    members(
        &zk,
        "shop",
        &[
            "http://10.0.0.1:80/shop?zone=az1",
            "http://10.0.0.2:80/shop?zone=az2",
            "http://10.0.0.3:80/shop?zone=az2",
        ],
        &["consumer://10.9.0.1/shop?zone=az1", "consumer://10.9.0.2/shop?zone=az2"],
    )
    .await;
    let rules = store(&connect).await;
    rules.put("shop", "[tags]\n", Expect::Absent, false).await.expect("put");
    let strands = format!(
        "{DISABLE_A}[[condition]]\nconsumer = {{ zone = \"az1\" }}\nprovider = {{ zone = \"az1\" }}\nstrict = true\n"
    );
    match rules.put("shop", &strands, Expect::Version(0), false).await {
        Err(Error::RulesRefused { reason, .. }) => {
            assert!(reason.contains("10.9.0.1 (zone=az1)") && !reason.contains("10.9.0.2"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert_eq!(
        (doc.text.as_str(), doc.version),
        ("[tags]\n", 0),
        "the refused rule left the document unchanged"
    );

    let too_many = rules.clone().max_disabled_share(0.3);
    assert!(matches!(too_many.disable("shop", "10.0.0.2:80", false).await, Err(Error::RulesRefused { .. })));
    let forced = rules.put("shop", &strands, Expect::Version(0), true).await.expect("forced");
    assert_eq!(forced.version, 1);
}

#[tokio::test]
async fn two_operators_racing_a_put_one_gets_a_version_conflict() {
    let connect = chroot("rules-race");
    let first = store(&connect).await;
    let second = store(&connect).await;
    first.put("shop", "[tags]\n", Expect::Absent, false).await.expect("put");
    let seen_by_both = first.get("shop").await.expect("get").expect("present").version;
    let a = first.put("shop", "[tags]\nstrict = true\n", Expect::Version(seen_by_both), false);
    let b = second.put("shop", DISABLE_A, Expect::Version(seen_by_both), false);
    let (a, b) = tokio::join!(a, b);
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("exactly one wins: {other:?}"),
    };
    assert_eq!(won.version, 1);
    match lost {
        Error::VersionConflict { expected, actual, .. } => {
            assert_eq!((expected, actual), (Expect::Version(0), Some(1)));
        }
        other => panic!("expected a version conflict, got {other}"),
    }
}

#[tokio::test]
async fn provider_switches_edit_the_document_with_compare_and_set() {
    let connect = chroot("rules-switches");
    let zk = raw(&connect).await;
    members(&zk, "shop", &["http://10.0.0.1:80/shop", "http://10.0.0.2:80/shop"], &[]).await;
    let rules = store(&connect).await;
    rules.put("shop", "[tags]\n", Expect::Absent, false).await.expect("put");
    rules.disable("shop", "10.0.0.1:80", false).await.expect("disable");
    rules.set_weight("shop", "10.0.0.2:80", 40, false).await.expect("weight");
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert_eq!(doc.version, 2);
    assert!(doc.rules.tags.is_some(), "other rules stay");
    assert_eq!(doc.rules.overrides.len(), 2);
    rules.enable("shop", "10.0.0.1:80").await.expect("enable");
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert_eq!(doc.rules.overrides.len(), 1);
    assert_eq!(doc.rules.overrides[0].address.as_deref(), Some("10.0.0.2:80"));
}

#[tokio::test]
async fn provider_switches_keep_the_documents_comments() {
    let connect = chroot("rules-switch-comments");
    let zk = raw(&connect).await;
    members(&zk, "shop", &["http://10.0.0.1:80/shop", "http://10.0.0.2:80/shop"], &[]).await;
    let rules = store(&connect).await;
    let text = "# shop's rules (team-a)\n[tags]\nstrict = false # canaries fall back\n\n\
                # slow disks (OPS-7)\n[[override]]\naddress = \"10.0.0.2:80\"\nweight = 50\n";
    rules.put("shop", text, Expect::Absent, false).await.expect("put");
    rules.disable("shop", "10.0.0.1:80", false).await.expect("disable");
    rules.set_weight("shop", "10.0.0.2:80", 40, false).await.expect("weight");
    rules.enable("shop", "10.0.0.1:80").await.expect("enable");
    let doc = rules.get("shop").await.expect("get").expect("present");
    assert_eq!(doc.version, 3);
    for comment in ["# shop's rules (team-a)", "# canaries fall back", "# slow disks (OPS-7)"] {
        assert!(doc.text.contains(comment), "{comment:?} kept:\n{}", doc.text);
    }
    assert!(
        doc.text.contains("# slow disks (OPS-7)\n[[override]]\naddress = \"10.0.0.2:80\"\nweight = 40"),
        "{}",
        doc.text
    );
    assert_eq!(doc.rules.overrides.len(), 1, "{}", doc.text);
    assert!(!doc.text.contains("10.0.0.1"), "{}", doc.text);
}
