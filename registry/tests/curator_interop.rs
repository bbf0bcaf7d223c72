//! zkmesh and Apache Curator's own x-discovery (Debian's libcurator-discovery-java 5.4) on one
//! ZooKeeper: `tests/fixtures/curator/CuratorInterop.java`, compiled here with javac, registers
//! and queries instances with Curator's `ServiceDiscovery`. Curator finds zkmesh's provider in
//! the curator layout; zkmesh finds Curator's instance with its address, port and payload; and
//! Curator fails on zkmesh's own layout, the collision `zkmesh doctor` reports.
//! `scripts/install-zookeeper` installs the jars and javac.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use zkmesh_registry::{Layout, Registry, SubscribeOptions};

const WAIT: Duration = Duration::from_secs(20);
const JARS: [&str; 11] = [
    "curator-x-discovery",
    "curator-framework",
    "curator-client",
    "zookeeper",
    "zookeeper-jute",
    "guava",
    "jackson-core",
    "jackson-databind",
    "jackson-annotations",
    "slf4j-api",
    "slf4j-nop",
];

/// The classpath of Curator's x-discovery and the compiled fixture (compiled once per binary).
fn classpath() -> String {
    static COMPILED: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    let (_, cp) = COMPILED.get_or_init(|| {
        let jars: Vec<PathBuf> =
            JARS.iter().map(|j| Path::new("/usr/share/java").join(format!("{j}.jar"))).collect();
        if let Some(missing) = jars.iter().find(|j| !j.exists()) {
            panic!(
                "{} is missing: run scripts/install-zookeeper (Debian's libcurator-discovery-java)",
                missing.display()
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let jars = jars.iter().map(|j| j.display().to_string()).collect::<Vec<_>>().join(":");
        let source = format!("{}/tests/fixtures/curator/CuratorInterop.java", env!("CARGO_MANIFEST_DIR"));
        let javac = Command::new("javac").args(["-cp", &jars, "-d"]).arg(dir.path()).arg(&source).output();
        let javac = javac
            .unwrap_or_else(|e| panic!("javac: {e} (run scripts/install-zookeeper: default-jdk-headless)"));
        assert!(javac.status.success(), "javac {source}: {}", String::from_utf8_lossy(&javac.stderr));
        let cp = format!("{jars}:{}", dir.path().display());
        (dir, cp)
    });
    cp.clone()
}

/// `CuratorInterop query`: Curator's `queryForInstances(name)`, one line per instance.
async fn curator_query(connect: &str, name: &str) -> Vec<String> {
    let (cp, connect, name) = (classpath(), connect.to_owned(), name.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("java")
            .args(["-cp", &cp, "CuratorInterop", "query", &connect, "/services", &name])
            .output()
    })
    .await
    .expect("join")
    .expect("java");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// `CuratorInterop register`: an instance held until the child's stdin closes; returns the
/// child and the JSON Curator wrote.
async fn curator_register(connect: &str, args: &[&str]) -> (Child, String) {
    let mut command = Command::new("java");
    command.args(["-cp", &classpath(), "CuratorInterop", "register", connect, "/services"]).args(args);
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("java");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("read");
    let json =
        line.trim().strip_prefix("registered ").unwrap_or_else(|| panic!("Curator said {line:?}")).to_owned();
    (child, json)
}

#[tokio::test]
async fn curator_finds_zkmesh_s_provider_and_zkmesh_finds_curator_s_instance() {
    let connect = chroot("curator-interop");
    let zkmesh = Registry::builder().layout(Layout::Curator).connect(&connect).await.expect("connect");
    let me =
        zkmesh.register(&url("http://10.0.0.5:8080/greeter?version=1.2&weight=100")).await.expect("register");
    me.wait_registered(WAIT).await.expect("registered");
    let id = me.path().rsplit('/').next().expect("id").to_owned();
    let found = curator_query(&connect, "greeter").await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with(&format!("instance {id} 10.0.0.5 8080 null {{")), "{found:?}");
    assert!(found[0].contains("version=1.2") && found[0].contains("weight=100"), "the payload: {found:?}");

    let (mut child, json) = curator_register(
        &connect,
        &["springapp", "5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10", "10.0.0.9", "8081", "version=1.2", "zone=eu"],
    )
    .await;
    assert!(json.starts_with(r#"{"name":"springapp","id":"5b1c8f1e-2c3a-4f0e-9d6a-0c2f4f6b7a10","address":"10.0.0.9","port":8081,"sslPort":null,"payload":{"@class":"java.util.LinkedHashMap""#), "{json}");
    let options = SubscribeOptions::default().empty_protection(false);
    let spring = zkmesh.subscribe_with("springapp", options).await.expect("subscribe");
    let set = spring.wait_for(WAIT, |s| s.len() == 1).await.expect("Curator's instance");
    let url = set.providers()[0].url();
    assert_eq!(
        (url.address(), url.version(), url.zone()),
        ("10.0.0.9:8081".to_owned(), Some("1.2"), Some("eu"))
    );
    assert_eq!(
        url.param("payload"),
        Some(r#"{"@class":"java.util.LinkedHashMap","version":"1.2","zone":"eu"}"#)
    );

    drop(child.stdin.take()); // Curator closes its session: the instance goes with it
    spring.wait_for(WAIT, |s| s.is_empty()).await.expect("Curator's instance gone");
    let _ = child.wait();
}

#[tokio::test]
async fn curator_cannot_read_zkmesh_s_own_layout_under_the_same_root() {
    let connect = chroot("curator-collision");
    let zkmesh = Registry::builder().connect(&connect).await.expect("connect");
    let me = zkmesh.register(&url("http://10.0.0.5:8080/greeter")).await.expect("register");
    me.wait_registered(WAIT).await.expect("registered");
    let found = curator_query(&connect, "greeter").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("error com.fasterxml.jackson.databind.exc.MismatchedInputException"),
        "{found:?}"
    );
    let listed = zkmesh.services().await.expect("services");
    assert_eq!(listed[0].layouts, [Layout::Zkmesh]);
}
