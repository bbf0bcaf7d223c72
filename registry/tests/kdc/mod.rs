//! A loopback MIT KDC (Debian's `krb5-kdc`) with a realm made at test time, and keytabs for
//! `zookeeper/localhost` and `alice`: shared by the registry's GSSAPI test and the cli's
//! `--kerberos` test (`#[path]`-included there).
//!
//! The KDC runs under `/bin/sh`, which kills it when our end of its stdin closes (the test ends
//! in any way).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub const REALM: &str = "ZKMESH.TEST";
pub const WAIT: Duration = Duration::from_secs(20);

/// A KDC on a free loopback port, its realm, and keytabs for the server and the client.
pub struct Kdc {
    pub dir: tempfile::TempDir,
    _process: tokio::process::Child,
}

impl Kdc {
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    pub fn keytab(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.keytab"))
    }

    /// `kinit` as `user@REALM` from its keytab (into the credentials cache `KRB5CCNAME` names).
    pub fn kinit(&self, user: &str) {
        let keytab = self.keytab(user);
        tool(
            self.dir.path(),
            "kinit",
            &["-k", "-t", keytab.to_str().expect("utf-8"), &format!("{user}@{REALM}")],
        );
    }

    /// A ZooKeeper that authenticates clients with this realm (`zookeeper/localhost`).
    pub async fn zookeeper(&self) -> local_zk::LocalZooKeeper {
        local_zk::LocalZooKeeper::builder()
            .sasl_kerberos(
                &format!("zookeeper/localhost@{REALM}"),
                self.keytab("zookeeper"),
                self.krb5_conf(),
            )
            .start()
            .await
            .unwrap_or_else(|e| panic!("start a Kerberized ZooKeeper: {e}"))
    }
}

/// `program` from `/usr/sbin` (where Debian puts the KDC's tools, not always on `PATH`), else `PATH`.
pub fn sbin(program: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(program);
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from(program)
    }
}

pub fn tool(dir: &Path, program: &str, args: &[&str]) {
    let out = std::process::Command::new(sbin(program))
        .args(args)
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .env("KRB5CCNAME", format!("FILE:{}", dir.join("cc").display()))
        .output()
        .unwrap_or_else(|e| panic!("{program} (apt-get install krb5-kdc krb5-admin-server krb5-user): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub async fn start_kdc() -> Kdc {
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
