//! SASL GSSAPI (Kerberos) end to end: a loopback MIT KDC (Debian's `krb5-kdc`) with a realm made
//! at test time, a `LocalZooKeeper` that logs in as `zookeeper/localhost`, a client with a
//! ticket from `kinit`, and ACL entries `sasl:<principal>` that let it register and refuse an
//! anonymous client.
//!
//! The KDC runs under `/bin/sh`, which kills it when our end of its stdin closes (the test ends
//! in any way).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::init_logging;
use local_zk::LocalZooKeeper;
use registry::{AccessPolicy, AccessTarget, Error, Identity, NodeAcl, Registry, ServiceUrl, Session};

const REALM: &str = "ZKMESH.TEST";
const WAIT: Duration = Duration::from_secs(20);

/// A KDC on a free loopback port, its realm, and keytabs for the server and the client.
struct Kdc {
    dir: tempfile::TempDir,
    _process: tokio::process::Child,
}

impl Kdc {
    fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    fn keytab(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.keytab"))
    }
}

/// `program` from `/usr/sbin` (where Debian puts the KDC's tools, not always on `PATH`), else `PATH`.
fn sbin(program: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(program);
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from(program)
    }
}

fn tool(dir: &Path, program: &str, args: &[&str]) {
    let out = std::process::Command::new(sbin(program))
        .args(args)
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .env("KRB5CCNAME", format!("FILE:{}", dir.join("cc").display()))
        .output()
        .unwrap_or_else(|e| panic!("{program} (apt-get install krb5-kdc krb5-admin-server krb5-user): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn start_kdc() -> Kdc {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let d = dir.path().display();
    let krb5 = format!(
        "[libdefaults]\n default_realm = {REALM}\n dns_lookup_realm = false\n dns_lookup_kdc = false\n \
         rdns = false\n dns_canonicalize_hostname = false\n udp_preference_limit = 1\n\
         [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
    );
    let kdc = format!(
        "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n[realms]\n {REALM} = {{\n  \
         database_name = {d}/principal\n  key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  \
         kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n }}\n"
    );
    std::fs::write(dir.path().join("krb5.conf"), krb5).expect("krb5.conf");
    std::fs::write(dir.path().join("kdc.conf"), kdc).expect("kdc.conf");
    std::fs::write(dir.path().join("kadm5.acl"), "").expect("acl");
    tool(dir.path(), "kdb5_util", &["create", "-s", "-r", REALM, "-P", "test-master-key"]);
    for (principal, keytab) in [("zookeeper/localhost", "zookeeper"), ("alice", "alice")] {
        tool(dir.path(), "kadmin.local", &["-q", &format!("addprinc -randkey {principal}@{REALM}")]);
        let ktadd = format!("ktadd -k {d}/{keytab}.keytab {principal}@{REALM}");
        tool(dir.path(), "kadmin.local", &["-q", &ktadd]);
    }
    let process = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{} -n & k=$!; read _; kill $k; wait $k", sbin("krb5kdc").display()))
        .env("KRB5_CONFIG", dir.path().join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.path().join("kdc.conf"))
        // No `kill_on_drop`: a killed shell would leave the KDC behind. Dropping the child closes
        // our end of its stdin, and the shell then kills the KDC.
        .stdin(Stdio::piped())
        .spawn()
        .expect("krb5kdc");
    local_zk::support::eventually(WAIT, "the KDC listens", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    Kdc { dir, _process: process }
}

#[tokio::test]
async fn a_kerberos_principal_registers_where_granted() {
    init_logging();
    let kdc = start_kdc().await;
    // The client library reads these from the process's environment: this binary's one test.
    let cache = kdc.dir.path().join("cc");
    std::env::set_var("KRB5_CONFIG", kdc.krb5_conf());
    std::env::set_var("KRB5CCNAME", format!("FILE:{}", cache.display()));
    let alice_keytab = kdc.keytab("alice");
    tool(
        kdc.dir.path(),
        "kinit",
        &["-k", "-t", alice_keytab.to_str().expect("utf-8"), &format!("alice@{REALM}")],
    );

    let zk = LocalZooKeeper::builder()
        .sasl_kerberos(&format!("zookeeper/localhost@{REALM}"), kdc.keytab("zookeeper"), kdc.krb5_conf())
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a Kerberized ZooKeeper: {e}"));
    let connect = format!("{}/krb", zk.connect_string());
    let alice = Session::builder()
        .connect_timeout(WAIT)
        .sasl_gssapi(Some("localhost"))
        .acl(NodeAcl::CreatorAllWorldRead)
        .connect(&connect)
        .await
        .unwrap_or_else(|e| {
            panic!("GSSAPI session: {e}; ZooKeeper log: {:?}", std::fs::read_to_string(zk.log_path()))
        });
    assert_eq!(alice.identity().await, format!("sasl:alice@{REALM}"));

    let target = AccessTarget::service("ledger").expect("name");
    let policy = AccessPolicy::grant(&alice, &target, &[]).await.expect("grant");
    let names: Vec<String> = policy.writers.iter().map(Identity::name).collect();
    assert_eq!(names, [format!("sasl:alice@{REALM}")]);
    let provider = Registry::builder().build(alice).expect("registry");
    let url = |u: &str| ServiceUrl::parse(u).expect("url");
    let _registration = provider.register(&url("http://10.10.0.1:80/ledger")).await.expect("alice registers");

    let anonymous = Registry::builder().connect(&connect).await.expect("anonymous");
    match anonymous.register(&url("http://10.10.0.66:80/ledger")).await {
        Err(Error::NotAuthorized { path, identity, .. }) => {
            assert!(path.starts_with("/services/ledger/providers/"), "{path}");
            assert_eq!(identity, "anonymous (no credentials)");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
    let ledger = anonymous.subscribe("ledger").await.expect("subscribe");
    ledger.wait_for(WAIT, |s| s.len() == 1).await.expect("alice's provider");
}
