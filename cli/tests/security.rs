//! `zkmesh` on a secured ensemble: credentials from `--auth-file` and `ZKMESH_AUTH` (never from
//! the command line: the argv of a running `zkmesh register` holds no secret), `zkmesh acl`,
//! clear refusals naming the path and the identity, reads without credentials, SASL and
//! mutual TLS.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use local_zk::support::chroot;
use local_zk::LocalZooKeeper;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `zkmesh --zk <zk> <args>` with `ZKMESH_AUTH` set to `auth` (or unset), and `stdin`.
fn zkmesh(zk: &str, auth: Option<&str>, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"));
    // A generous time-out: a fresh JVM's first SASL or TLS session can be slow on a busy machine.
    command
        .arg("--zk")
        .arg(zk)
        .args(["--timeout", "30"])
        .args(args)
        .env_remove("ZKMESH_ZK")
        .env_remove("ZKMESH_AUTH_FILE");
    match auth {
        Some(auth) => command.env("ZKMESH_AUTH", auth),
        None => command.env_remove("ZKMESH_AUTH"),
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zkmesh");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("zkmesh output")
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "zkmesh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one-line error of a failed run.
fn refused(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "zkmesh succeeded: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

fn private_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn writers(json: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(json.trim()).expect("json");
    value["writers"]
        .as_array()
        .expect("writers")
        .iter()
        .map(|w| w.as_str().expect("str").to_owned())
        .collect()
}

#[tokio::test]
async fn digest_credentials_from_a_file_and_the_environment() {
    let connect = chroot("sec", "digest");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Some("digest:admin:adm1n-pw");
    let team_id = ok(&zkmesh(&connect, None, &["acl", "digest", "team"], "t3am-pw\n")).trim().to_owned();
    assert!(team_id.starts_with("digest:team:") && !team_id.contains("t3am-pw"), "{team_id}");

    let granted =
        ok(&zkmesh(&connect, admin, &["--json", "acl", "grant", "service", "payments", &team_id], ""));
    assert_eq!(writers(&granted), ["digest:admin", "digest:team"]);
    assert!(!granted.contains("adm1n-pw") && !granted.contains(&team_id), "no secret, no digest: {granted}");

    // The team registers with its credentials in a file; `ps` shows no secret.
    let auth_file = private_file(dir.path(), "team.auth", "# the payments team\ndigest:team:t3am-pw\n");
    let mut register = tokio::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .arg("--zk")
        .arg(&connect)
        .args(["--timeout", "30", "--auth-file"])
        .arg(&auth_file)
        .args(["--json", "register", "payments", "http://10.9.0.1:80/payments"])
        .env_remove("ZKMESH_AUTH")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn register");
    let mut lines = BufReader::new(register.stdout.take().expect("stdout")).lines();
    let line =
        tokio::time::timeout(WAIT, lines.next_line()).await.expect("in time").expect("read").expect("line");
    let event: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(event["event"], "registered", "{line}");
    assert!(!line.contains("t3am-pw"), "{line}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", register.id().expect("pid"))).expect("cmdline");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("--auth-file") && !cmdline.contains("t3am-pw"), "{cmdline}");

    // Outsiders are refused, naming the node and who they are; no secret in the message.
    let anonymous =
        refused(&zkmesh(&connect, None, &["register", "payments", "http://10.9.0.66:80/payments"], ""));
    assert!(anonymous.contains("not authorized to create /services/payments/providers/"), "{anonymous}");
    assert!(anonymous.contains("as anonymous (no credentials)"), "{anonymous}");
    let eve = Some("digest:eve:3ve-pw");
    let eve_err =
        refused(&zkmesh(&connect, eve, &["register", "payments", "http://10.9.0.67:80/payments"], ""));
    assert!(eve_err.contains("as digest:eve") && !eve_err.contains("3ve-pw"), "{eve_err}");

    // Reads need nothing.
    let providers = ok(&zkmesh(&connect, None, &["providers", "payments"], ""));
    assert!(providers.contains("10.9.0.1:80"), "{providers}");
    let shown = ok(&zkmesh(&connect, None, &["acl", "show", "service", "payments"], ""));
    assert!(
        shown.contains("read:   anyone") && shown.contains("write:  digest:admin, digest:team"),
        "{shown}"
    );

    // A config namespace: only the team publishes; everyone reads.
    let carol_id = ok(&zkmesh(&connect, None, &["acl", "digest", "carol"], "c4rol-pw\n")).trim().to_owned();
    ok(&zkmesh(&connect, admin, &["acl", "grant", "namespace", "billing", &team_id, &carol_id], ""));
    let doc = private_file(dir.path(), "app.toml", "limit = 3\n");
    let doc = doc.to_str().expect("utf-8");
    let denied = refused(&zkmesh(&connect, eve, &["config", "put", "billing", "app", doc], ""));
    assert!(denied.contains("/config/billing") && denied.contains("digest:eve"), "{denied}");
    eprintln!("refused: {anonymous}\nrefused: {eve_err}\nrefused: {denied}");
    ok(&zkmesh(&connect, Some("digest:team:t3am-pw"), &["config", "put", "billing", "app", doc], ""));
    let got = ok(&zkmesh(&connect, None, &["config", "get", "billing", "app"], ""));
    assert!(got.contains("limit = 3"), "{got}");
    // Another writer of the namespace updates the team's document (it carries the
    // namespace's rights, not its creator's alone).
    let newer = private_file(dir.path(), "app2.toml", "limit = 4\n");
    let newer = newer.to_str().expect("utf-8");
    ok(&zkmesh(&connect, Some("digest:carol:c4rol-pw"), &["config", "put", "billing", "app", newer], ""));
    let got = ok(&zkmesh(&connect, None, &["config", "get", "billing", "app"], ""));
    assert!(got.contains("limit = 4"), "{got}");

    register.start_kill().expect("stop register");
    let _ = register.wait().await;
}

#[tokio::test]
async fn malformed_or_missing_credentials_are_named_never_quoted() {
    let connect = chroot("sec", "malformed");
    let err = refused(&zkmesh(&connect, Some("s3cret-only"), &["services"], ""));
    assert!(err.contains("ZKMESH_AUTH, line 1") && !err.contains("s3cret-only"), "{err}");
    let err = refused(&zkmesh(&connect, None, &["--sasl", "alice", "services"], ""));
    assert!(err.contains("--sasl alice: no password for alice"), "{err}");
    let err = refused(&zkmesh(&connect, None, &["acl", "grant", "service", "p", "sasl:bob"], ""));
    assert!(err.contains("no credentials"), "{err}");
}

/// A server without SASL refuses ACL entries `sasl:<user>` (ZooKeeper says only "invalid
/// acls"): the refusal names the identity and what the server lacks.
#[tokio::test]
async fn a_sasl_identity_on_a_server_without_sasl_is_refused_by_name() {
    let connect = chroot("sec", "no-sasl");
    let admin = Some("digest:admin:adm1n-pw");
    let err = refused(&zkmesh(&connect, admin, &["acl", "grant", "service", "greeter", "sasl:bob"], ""));
    assert!(err.contains("/services/greeter") && err.contains("no sasl:bob identity"), "{err}");
    assert!(err.contains("SASL enabled on the server"), "{err}");
}

#[tokio::test]
async fn sasl_and_mutual_tls_credentials() {
    let zk = LocalZooKeeper::builder()
        .sasl_users(&[("alice", "al1ce-pw")])
        .tls_client_auth(true)
        .start()
        .await
        .unwrap_or_else(|e| panic!("a SASL and mutual-TLS ZooKeeper: {e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = format!("{}/secured", zk.connect_string());

    // SASL: the password from the file, the user from --sasl.
    let file = private_file(dir.path(), "alice.auth", "sasl:alice:al1ce-pw\n");
    let file = file.to_str().expect("utf-8");
    let sasl =
        ["--json", "--sasl", "alice", "--auth-file", file, "acl", "grant", "service", "pay", "sasl:bob"];
    assert_eq!(writers(&ok(&zkmesh(&plain, None, &sasl, ""))), ["sasl:alice", "sasl:bob"]);
    let revoke =
        ["--json", "--sasl", "alice", "--auth-file", file, "acl", "revoke", "service", "pay", "sasl:bob"];
    assert_eq!(writers(&ok(&zkmesh(&plain, None, &revoke, ""))), ["sasl:alice"]);
    // A digest administrator grants and revokes a SASL identity as well.
    let digest = Some("digest:admin:adm1n-pw");
    let grant = ["--json", "acl", "grant", "service", "greeter", "sasl:bob"];
    assert_eq!(writers(&ok(&zkmesh(&plain, digest, &grant, ""))), ["digest:admin", "sasl:bob"]);
    let revoke = ["--json", "acl", "revoke", "service", "greeter", "sasl:bob"];
    assert_eq!(writers(&ok(&zkmesh(&plain, digest, &revoke, ""))), ["digest:admin"]);
    let wrong = refused(&zkmesh(&plain, Some("sasl:alice:wr0ng"), &["services"], ""));
    assert!(wrong.contains("refused the credentials of sasl:alice") && !wrong.contains("wr0ng"), "{wrong}");

    // Mutual TLS: the x509 subject is the identity.
    let secure = format!("{}/secured", zk.secure_connect_string().expect("TLS port"));
    let ca = private_file(dir.path(), "ca.pem", &zk.tls_ca_pem().expect("CA"));
    let (cert, key) = zk.tls_client_files().expect("client files");
    let tls = [
        "--tls-ca",
        ca.to_str().expect("utf-8"),
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ];
    let grant = [&tls[..], &["--json", "acl", "grant", "service", "tlsd", "sasl:bob"]].concat();
    assert_eq!(writers(&ok(&zkmesh(&secure, None, &grant, ""))), ["x509:CN=zkmesh-client", "sasl:bob"]);
    let no_cert = ["--tls-ca", ca.to_str().expect("utf-8"), "register", "tlsd", "http://10.9.1.66:80/tlsd"];
    let err = refused(&zkmesh(&secure, None, &no_cert, ""));
    assert!(
        err.contains("not authorized to create /services/tlsd/providers/") && err.contains("anonymous"),
        "{err}"
    );
}
