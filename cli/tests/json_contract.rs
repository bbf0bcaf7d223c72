//! The `--json` contract: every command that prints JSON is run against a real ZooKeeper and
//! its output must hold each field the README's "JSON output" table documents for it. The
//! table is read from README.md, so a field removed from the output, or documented and never
//! printed, fails here.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use local_zk::support::{chroot, eventually};
use recipes::{Job, JobScheduler, RunContext, Schedule};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(20);
const README: &str = include_str!("../../README.md");

/// The README's table: each command (`config put`) and the fields documented for it.
fn documented() -> BTreeMap<String, Vec<String>> {
    let table = README
        .split("**JSON output.**")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").nth(1))
        .expect("README.md has the JSON output table");
    let mut documented = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let fields = ticked(cells[2]);
        for command in ticked(cells[1]) {
            documented.insert(command, fields.clone());
        }
    }
    documented
}

/// The `backticked` words of a table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// Whether `doc` holds the field at `path` (`a[].b`: `b` in every element of the non-empty
/// array `a`; `a.b`: `b` in the object `a`). A field may be null, never missing.
fn check(doc: &Value, path: &str) -> Result<(), String> {
    let Some((head, rest)) = path.split_once('.') else { return field(doc, path).map(|_| ()) };
    match head.strip_suffix("[]") {
        Some(array) => {
            let items = field(doc, array)?.as_array().ok_or(format!("`{array}` is not an array"))?;
            if items.is_empty() {
                return Err(format!("`{array}` is empty: nothing to check `{rest}` on"));
            }
            items.iter().try_for_each(|item| check(item, rest))
        }
        None => check(field(doc, head)?, rest),
    }
}

fn field<'a>(doc: &'a Value, name: &str) -> Result<&'a Value, String> {
    let name = name.trim_end_matches("[]");
    doc.as_object().and_then(|o| o.get(name)).ok_or(format!("no `{name}` in {doc}"))
}

/// What the commands printed, by the README's command names.
#[derive(Default)]
struct Printed(BTreeMap<String, Value>);

impl Printed {
    /// Runs `zkmesh --json <args>` and keeps its document under `command`.
    fn run(&mut self, zk: &str, command: &str, args: &[&str]) -> Value {
        let args: Vec<&str> = ["--json"].iter().chain(args).copied().collect();
        let doc = parse(&stdout(&zkmesh(zk, &args)));
        self.0.insert(command.to_owned(), doc.clone());
        doc
    }

    /// Checks every documented field of every command it holds, and that it holds them all.
    fn check_against_readme(&self, commands: &[&str]) {
        let documented = documented();
        let mut failures = Vec::new();
        for command in commands {
            let fields =
                documented.get(*command).unwrap_or_else(|| panic!("`{command}` is not in the table"));
            let doc = self.0.get(*command).unwrap_or_else(|| panic!("the test did not run `{command}`"));
            for path in fields {
                if let Err(e) = check(doc, path) {
                    failures.push(format!("zkmesh {command} --json: `{path}`: {e}"));
                }
            }
        }
        assert!(failures.is_empty(), "documented fields missing:\n{}", failures.join("\n"));
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"))
}

/// A long-running `zkmesh --json <args>` and its output lines.
async fn spawn(zk: &str, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", zk, "--json"])
        .args(args)
        .env_remove("ZKMESH_ZK")
        .env_remove("ZKMESH_ROOT")
        .env_remove("ZKMESH_AUTH")
        .env_remove("ZKMESH_AUTH_FILE")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn zkmesh");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

async fn next_json(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(WAIT, lines.next_line()).await.expect("a line in time");
    parse(&line.expect("read").expect("a line before the end"))
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write file");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn services_providers_consumers_watch_register_and_doctor_print_their_documented_fields() {
    let zk = chroot("cli", "json-services");
    let mut printed = Printed::default();
    let (mut register, mut registered) =
        spawn(&zk, &["register", "greeter", "http://10.0.0.5:8080/greeter?version=1.2&zone=az1"]).await;
    let doc = next_json(&mut registered).await;
    printed.0.insert("register".into(), doc);
    let (mut watch, mut watched) = spawn(&zk, &["watch", "greeter"]).await;
    let doc = next_json(&mut watched).await;
    assert_eq!(doc["event"], "added");
    printed.0.insert("watch".into(), doc);
    let registry = registry::Registry::builder().connect(&zk).await.expect("connect");
    let _consumer = registry.subscribe("greeter").await.expect("a consumer node");
    printed.run(&zk, "services", &["services"]);
    printed.run(&zk, "providers", &["providers", "greeter"]);
    printed.run(&zk, "consumers", &["consumers", "greeter"]);
    // A Curator instance beside zkmesh's services: something for the doctor to find.
    let curator = r#"{"name":"spring","id":"1","address":"10.0.0.9","port":8081,"payload":null,"registrationTimeUTC":1,"serviceType":"DYNAMIC","uriSpec":null}"#;
    let raw = local_zk::support::raw(&zk).await;
    let open = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.mkdir("/services/spring", &open).await.expect("mkdir");
    raw.create("/services/spring/1", curator.as_bytes(), &open).await.expect("instance");
    let out = zkmesh(&zk, &["--json", "doctor"]);
    printed.0.insert("doctor".into(), parse(&String::from_utf8_lossy(&out.stdout)));
    printed.check_against_readme(&["services", "providers", "consumers", "watch", "register", "doctor"]);
    register.kill().await.expect("stop register");
    watch.kill().await.expect("stop watch");
}

#[tokio::test]
async fn config_commands_print_their_documented_fields() {
    let zk = chroot("cli", "json-config");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut printed = Printed::default();
    let v1 = file(&dir, "v1.toml", "pool = 4\n[db]\nurl = \"a\"\n");
    let v2 = file(&dir, "v2.toml", "pool = 8\n[db]\nurl = \"b\"\n");
    printed.run(&zk, "config put", &["config", "put", "shop", "db", &v1, "--author", "alice", "-m", "first"]);
    printed.run(&zk, "config put", &["config", "put", "shop", "db", &v2]);
    printed.run(&zk, "config get", &["config", "get", "shop", "db"]);
    printed.run(&zk, "config diff", &["config", "diff", "shop", "db", &v1]);
    printed.run(&zk, "config history", &["config", "history", "shop", "db"]);
    printed.run(&zk, "config rollback", &["config", "rollback", "shop", "db", "0"]);
    let (mut watcher, mut lines) = spawn(&zk, &["config", "watch", "shop", "db", "--instance", "w1"]).await;
    printed.0.insert("config watch".into(), next_json(&mut lines).await);
    eventually(WAIT, "the watcher's status node", || async {
        let status = parse(&stdout(&zkmesh(&zk, &["--json", "config", "status", "shop", "db"])));
        status["watchers"].as_array().is_some_and(|w| !w.is_empty())
    })
    .await;
    printed.run(&zk, "config status", &["config", "status", "shop", "db"]);
    printed.run(&zk, "config canary", &["config", "canary", "shop", "db", &v2, "--percent", "100"]);
    printed.run(&zk, "config promote", &["config", "promote", "shop", "db"]);
    printed.run(&zk, "config canary", &["config", "canary", "shop", "db", &v1, "--percent", "100"]);
    printed.run(&zk, "config abort", &["config", "abort", "shop", "db"]);
    printed.run(&zk, "config put", &["config", "put", "shop", "base", &v1]);
    printed.run(&zk, "config explain", &["config", "explain", "shop", "db", "db", "--layers", "base,db"]);
    printed.check_against_readme(&[
        "config put",
        "config get",
        "config diff",
        "config history",
        "config rollback",
        "config watch",
        "config status",
        "config canary",
        "config promote",
        "config abort",
        "config explain",
    ]);
    watcher.kill().await.expect("stop the watcher");
}

#[tokio::test]
async fn rules_and_provider_commands_print_their_documented_fields() {
    let zk = chroot("cli", "json-rules");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut printed = Printed::default();
    let registry = registry::Registry::builder().connect(&zk).await.expect("connect");
    let mut registrations = Vec::new();
    for port in [1, 2, 3] {
        let url = registry::ServiceUrl::parse(&format!("http://10.0.0.{port}:80/greeter")).expect("url");
        registrations.push(registry.register(&url).await.expect("register"));
    }
    let _consumer = registry.subscribe("greeter").await.expect("a consumer");
    let rules = file(&dir, "rules.toml", "[[override]]\naddress = \"10.0.0.1:80\"\nfactor = 0.5\n");
    printed.run(&zk, "rules put", &["rules", "put", "greeter", &rules]);
    printed.run(&zk, "rules get", &["rules", "get", "greeter"]);
    printed.run(&zk, "rules diff", &["rules", "diff", "greeter", &rules]);
    printed.run(&zk, "provider disable", &["provider", "disable", "greeter", "10.0.0.2:80"]);
    printed.run(&zk, "provider enable", &["provider", "enable", "greeter", "10.0.0.2:80"]);
    printed.run(&zk, "provider weight", &["provider", "weight", "greeter", "10.0.0.3:80", "20"]);
    printed.run(&zk, "rules history", &["rules", "history", "greeter"]);
    printed.run(&zk, "rules rollback", &["rules", "rollback", "greeter", "0"]);
    printed.run(&zk, "rules check", &["rules", "check", "greeter", "--consumer", "zone=az1"]);
    printed.check_against_readme(&[
        "rules put",
        "rules get",
        "rules diff",
        "provider disable",
        "provider enable",
        "provider weight",
        "rules history",
        "rules rollback",
        "rules check",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_acl_commands_print_their_documented_fields() {
    let zk = chroot("cli", "json-jobs");
    let mut printed = Printed::default();
    let session = registry::Session::connect(&zk).await.expect("connect");
    let scheduler = JobScheduler::new(&session, "host-1").expect("scheduler");
    let every = Schedule::every(Duration::from_millis(200)).expect("schedule");
    let _report = scheduler
        .singleton(Job::new("report", every).expect("job"), |_: RunContext| async { Ok(()) })
        .await
        .expect("singleton");
    eventually(WAIT, "a finished run", || async {
        let status = recipes::job_status(&session, "report").await.expect("status");
        status.last_run.is_some_and(|r| r.outcome.is_some())
    })
    .await;
    printed.run(&zk, "jobs", &["jobs"]);
    printed.run(&zk, "acl show", &["acl", "show", "service", "greeter"]);
    let team = match registry::Identity::digest("team", "t3am") {
        registry::Identity::Digest { digest, .. } => format!("digest:team:{digest}"),
        other => panic!("not a digest identity: {other:?}"),
    };
    let admin = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", &zk, "--json", "acl", "grant", "service", "greeter", &team])
        .env("ZKMESH_AUTH", "digest:admin:adm1n")
        .env_remove("ZKMESH_AUTH_FILE")
        .env_remove("ZKMESH_ROOT")
        .output()
        .await
        .expect("run grant");
    printed.0.insert("acl grant".into(), parse(&stdout(&admin)));
    let revoke = Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .args(["--zk", &zk, "--json", "acl", "revoke", "service", "greeter", "digest:team"])
        .env("ZKMESH_AUTH", "digest:admin:adm1n")
        .env_remove("ZKMESH_AUTH_FILE")
        .env_remove("ZKMESH_ROOT")
        .output()
        .await
        .expect("run revoke");
    printed.0.insert("acl revoke".into(), parse(&stdout(&revoke)));
    printed.check_against_readme(&["jobs", "acl show", "acl grant", "acl revoke"]);
}

#[test]
fn the_contract_covers_every_command_of_the_table() {
    let covered = [
        "services",
        "providers",
        "consumers",
        "watch",
        "register",
        "doctor",
        "config put",
        "config get",
        "config diff",
        "config history",
        "config rollback",
        "config watch",
        "config status",
        "config canary",
        "config promote",
        "config abort",
        "config explain",
        "rules put",
        "rules get",
        "rules diff",
        "provider disable",
        "provider enable",
        "provider weight",
        "rules history",
        "rules rollback",
        "rules check",
        "jobs",
        "acl show",
        "acl grant",
        "acl revoke",
    ];
    let documented: Vec<String> = documented().into_keys().collect();
    let mut covered: Vec<String> = covered.iter().map(|c| c.to_string()).collect();
    covered.sort();
    assert_eq!(documented, covered, "every command of the README's JSON table is run by a test here");
}

#[test]
fn a_missing_field_fails_the_check() {
    let doc = serde_json::json!({ "jobs": [{ "job": "a", "last_run": null }], "root": null });
    assert!(check(&doc, "root").is_ok(), "null is present");
    assert!(check(&doc, "jobs[].job").is_ok());
    assert!(check(&doc, "jobs[].kind").is_err());
    assert!(check(&doc, "jobs[].last_run.tick_ms").is_err());
    assert!(
        check(&serde_json::json!({ "jobs": [] }), "jobs[].job").is_err(),
        "an empty array checks nothing"
    );
}
