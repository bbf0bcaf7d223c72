//! Real ZooKeeper JVMs: standalone, ensemble, and no orphans.
//!
//! Every test holds permits of [`JVMS`] for the JVMs it runs, so that no more than three run at
//! once whatever `--test-threads` says.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};
use zkmesh_local_zk::{Error, LocalEnsemble, LocalZooKeeper};
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

static JVMS: Semaphore = Semaphore::const_new(3);

async fn jvms(n: u32) -> SemaphorePermit<'static> {
    JVMS.acquire_many(n).await.unwrap()
}

fn persistent() -> zookeeper_client::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// Whether `pid` is a live (not zombie) process whose command line mentions `what`.
fn alive(pid: u32, what: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the parenthesised command name.
    let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
    String::from_utf8_lossy(&cmdline).contains(what) && state != "Z" && state != "X"
}

/// Live processes whose command line mentions `needle` (the watchdog shell, its guard subshell
/// and the JVM all name the server's directory).
fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id() && alive(*pid, &needle))
        .collect()
}

fn parent_pid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn fd_targets(pid: u32) -> Vec<(String, PathBuf)> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            Some((e.file_name().to_string_lossy().into_owned(), std::fs::read_link(e.path()).ok()?))
        })
        .collect()
}

async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn standalone_serves_and_restart_after_kill_keeps_data() {
    let _permit = jvms(1).await;
    let started = Instant::now();
    let mut zk = LocalZooKeeper::start().await.unwrap();
    eprintln!("standalone ready in {:?}", started.elapsed());
    let port = zk.port();
    assert_eq!(zk.connect_string(), format!("127.0.0.1:{port}"));
    assert!(zk.is_running());
    assert_eq!(zk.four_letter("ruok").await.unwrap(), "imok");
    assert!(zk.four_letter("srvr").await.unwrap().contains("Mode: standalone"));
    assert!(zk.four_letter("mntr").await.unwrap().contains("zk_server_state\tstandalone"));
    assert!(zk.log_path().ends_with("zookeeper.log") && zk.log_path().exists());

    let client = Client::connect(&zk.connect_string()).await.unwrap();
    client.create("/x", b"1", &persistent()).await.unwrap();
    drop(client);

    let pid = zk.pid().unwrap();
    zk.kill().await.unwrap();
    assert!(!zk.is_running());
    let dir = zk.log_path().parent().unwrap().to_path_buf();
    assert_eq!(processes_mentioning(&dir), Vec::<u32>::new(), "kill() ends the watchdog and its guard too");
    assert!(!alive(pid, "ZooKeeperServerMain"));
    assert!(zk.four_letter("ruok").await.is_err());
    zk.kill().await.unwrap(); // killing a dead server is a no-op

    zk.restart().await.unwrap();
    assert_eq!(zk.port(), port);
    assert_ne!(zk.pid(), Some(pid));
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    assert_eq!(client.get_data("/x").await.unwrap().0, b"1");
    drop(client);

    // restart() on a running server stops it first.
    let pid = zk.pid().unwrap();
    zk.restart().await.unwrap();
    assert!(!alive(pid, "ZooKeeperServerMain"));
    let client = Client::connect(&zk.connect_string()).await.unwrap();
    assert_eq!(client.get_data("/x").await.unwrap().0, b"1");
    drop(client);

    let dir = zk.log_path().parent().unwrap().to_path_buf();
    assert_eq!(processes_mentioning(&dir).len(), 3, "watchdog, guard and JVM");
    zk.stop().await.unwrap();
    assert!(!zk.is_running());
    assert_eq!(processes_mentioning(&dir), Vec::<u32>::new(), "stop() ends the watchdog and its guard too");
    zk.stop().await.unwrap(); // stopping a stopped server is a no-op
}

#[tokio::test]
async fn session_survives_stop_and_restart_within_its_timeout() {
    let _permit = jvms(1).await;
    let mut zk = LocalZooKeeper::start().await.unwrap();
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(8))
        .connect(&zk.connect_string())
        .await
        .unwrap();
    let session = client.session_id();
    client.create("/eph", b"mine", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();

    let stopped = Instant::now();
    zk.stop().await.unwrap();
    wait_until("the client to notice", Duration::from_secs(5), || {
        client.state() == SessionState::Disconnected
    })
    .await;
    zk.restart().await.unwrap();
    wait_until("the client to reconnect", Duration::from_secs(8), || {
        client.state() == SessionState::SyncConnected
    })
    .await;
    eprintln!("client back {:?} after stop", stopped.elapsed());
    assert_eq!(client.session_id(), session, "same session");
    assert_eq!(client.get_data("/eph").await.unwrap().0, b"mine");

    let other = Client::connect(&zk.connect_string()).await.unwrap();
    let stat = other.check_stat("/eph").await.unwrap().expect("the ephemeral node survived");
    assert_eq!(stat.ephemeral_owner, session.0);
}

#[tokio::test]
async fn restart_on_a_taken_port_fails_with_the_log_tail_then_succeeds() {
    let _permit = jvms(1).await;
    let mut zk = LocalZooKeeper::start().await.unwrap();
    zk.stop().await.unwrap();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", zk.port())).unwrap();
    let err = zk.restart().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Start { .. }), "{err:?}");
    assert!(text.contains("Address already in use"), "{text}");
    assert!(!zk.is_running());
    drop(squatter);
    zk.restart().await.unwrap();
    assert_eq!(zk.four_letter("ruok").await.unwrap(), "imok");
}

#[tokio::test]
async fn builder_settings_reach_the_server() {
    let _permit = jvms(1).await;
    let zk = LocalZooKeeper::builder()
        .tick_time(Duration::from_millis(200))
        .min_session_timeout(Duration::from_millis(600))
        .max_session_timeout(Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let conf = zk.four_letter("conf").await.unwrap();
    for line in ["tickTime=200", "minSessionTimeout=600", "maxSessionTimeout=3000"] {
        assert!(conf.lines().any(|l| l == line), "no {line} in\n{conf}");
    }
    // Asking for more than the maximum gets the maximum.
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&zk.connect_string())
        .await
        .unwrap();
    assert_eq!(client.session_timeout(), Duration::from_secs(3));

    let err =
        LocalZooKeeper::builder().max_session_timeout(Duration::from_millis(100)).start().await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(matches!(zk.four_letter("RUOK").await, Err(Error::InvalidArgument { .. })));
}

#[tokio::test]
async fn a_production_like_server_fsyncs_and_ticks_every_2_s() {
    let _permit = jvms(2).await;
    let zk = LocalZooKeeper::builder().production_like().start().await.unwrap();
    let conf = zk.four_letter("conf").await.unwrap();
    assert!(conf.lines().any(|l| l == "tickTime=2000"), "{conf}");
    let cfg = std::fs::read_to_string(zk.data_dir().parent().unwrap().join("zoo.cfg")).unwrap();
    assert!(cfg.lines().any(|l| l == "forceSync=yes"), "{cfg}");
    let tuned = LocalZooKeeper::start().await.unwrap();
    let cfg = std::fs::read_to_string(tuned.data_dir().parent().unwrap().join("zoo.cfg")).unwrap();
    assert!(cfg.lines().any(|l| l == "forceSync=no"), "{cfg}");
}

#[tokio::test]
async fn drop_kills_the_jvm_and_the_jvm_holds_no_lifeline() {
    let _permit = jvms(1).await;
    let zk = LocalZooKeeper::start().await.unwrap();
    let jvm = zk.pid().unwrap();
    assert!(alive(jvm, "ZooKeeperServerMain"));

    // The JVM reads /dev/null, and no fd of it is the lifeline, the pipe that the watchdog's
    // guard (the watchdog's other child) reads on fd 3.
    let watchdog = parent_pid(jvm);
    assert!(alive(watchdog, "local-zk-watchdog"), "the JVM's parent is the watchdog");
    let jvm_fds = fd_targets(jvm);
    let stdin = jvm_fds.iter().find(|(fd, _)| fd == "0").unwrap();
    assert_eq!(stdin.1, Path::new("/dev/null"));
    let children = std::fs::read_to_string(format!("/proc/{watchdog}/task/{watchdog}/children")).unwrap();
    let guard: u32 = children.split_whitespace().map(|p| p.parse().unwrap()).find(|p| *p != jvm).unwrap();
    let lifeline = fd_targets(guard).into_iter().find(|(fd, _)| fd == "3").unwrap().1;
    assert!(lifeline.to_string_lossy().starts_with("pipe:"), "{lifeline:?}");
    assert!(jvm_fds.iter().all(|(_, target)| *target != lifeline), "the JVM holds the lifeline {lifeline:?}");

    let dir = zk.log_path().parent().unwrap().to_path_buf();
    let port = zk.port();
    drop(zk);
    assert!(!alive(jvm, "ZooKeeperServerMain"), "drop kills and reaps the JVM");
    assert!(!alive(watchdog, "local-zk-watchdog"), "the watchdog is gone too");
    assert!(!alive(guard, "local-zk-watchdog"), "and its guard");
    assert!(!dir.exists(), "the directory is removed");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn ensemble_elects_a_new_leader_and_the_old_one_rejoins() {
    let _permit = jvms(3).await;
    let started = Instant::now();
    let mut ensemble = LocalEnsemble::start(3).await.unwrap();
    eprintln!("3-member ensemble ready in {:?}", started.elapsed());
    assert_eq!(ensemble.len(), 3);
    let connect = ensemble.connect_string();
    assert_eq!(connect.split(',').count(), 3);
    assert!(connect.split(',').enumerate().all(|(i, c)| c == ensemble.member_connect_string(i)));
    let modes: Vec<String> = {
        let mut modes = Vec::new();
        for i in 0..3 {
            let srvr = ensemble.four_letter(i, "srvr").await.unwrap();
            modes.push(srvr.lines().find(|l| l.starts_with("Mode:")).unwrap().to_owned());
        }
        modes
    };
    assert_eq!(modes.iter().filter(|m| *m == "Mode: leader").count(), 1, "{modes:?}");
    assert_eq!(modes.iter().filter(|m| *m == "Mode: follower").count(), 2, "{modes:?}");

    let old = ensemble.leader().await.unwrap();
    assert_eq!(modes[old], "Mode: leader");
    let client = Client::connect(&connect).await.unwrap();
    client.create("/before", b"1", &persistent()).await.unwrap();

    let killed = Instant::now();
    ensemble.kill(old).await.unwrap();
    assert!(!ensemble.is_running(old));
    let new = ensemble.wait_for_leader(Duration::from_secs(30)).await.unwrap();
    eprintln!("new leader {new} (was {old}) after {:?}", killed.elapsed());
    assert_ne!(new, old);

    // A client on the full connect string still works.
    let client = Client::connect(&connect).await.unwrap();
    assert_eq!(client.get_data("/before").await.unwrap().0, b"1");
    client.create("/after", b"2", &persistent()).await.unwrap();

    ensemble.restart(old).await.unwrap();
    let srvr = ensemble.four_letter(old, "srvr").await.unwrap();
    assert!(srvr.contains("Mode: follower"), "{srvr}");
    assert_eq!(ensemble.leader().await.unwrap(), new);
    let direct = Client::connect(&ensemble.member_connect_string(old)).await.unwrap();
    direct.sync("/after").await.unwrap();
    assert_eq!(direct.get_data("/after").await.unwrap().0, b"2");

    assert!(matches!(ensemble.stop(3).await, Err(Error::InvalidArgument { .. })));
}

#[tokio::test]
async fn ensemble_stop_all_and_restart_all_keep_data() {
    let _permit = jvms(3).await;
    let mut ensemble = LocalEnsemble::start(3).await.unwrap();
    let client = Client::connect(&ensemble.connect_string()).await.unwrap();
    client.create("/kept", b"yes", &persistent()).await.unwrap();
    drop(client);
    ensemble.stop_all().await.unwrap();
    assert!((0..3).all(|i| !ensemble.is_running(i)));
    assert!(ensemble.wait_for_leader(Duration::from_millis(300)).await.is_err());
    ensemble.restart_all().await.unwrap();
    ensemble.leader().await.unwrap();
    let client = Client::connect(&ensemble.connect_string()).await.unwrap();
    assert_eq!(client.get_data("/kept").await.unwrap().0, b"yes");
    assert!(matches!(LocalEnsemble::start(8).await, Err(Error::InvalidArgument { .. })));
    assert!(matches!(LocalEnsemble::start(0).await, Err(Error::InvalidArgument { .. })));
    drop(ensemble);

    // One member runs standalone and is its own leader.
    let mut one = LocalEnsemble::start(1).await.unwrap();
    assert_eq!(one.leader().await.unwrap(), 0);
    one.kill(0).await.unwrap();
    one.restart(0).await.unwrap();
    let client = Client::connect(&one.connect_string()).await.unwrap();
    client.create("/one", b"", &persistent()).await.unwrap();
}

const CHILD_ENV: &str = "LOCAL_ZK_TEST_CHILD";
static KEPT: OnceLock<LocalZooKeeper> = OnceLock::new();

/// Not a test of its own: run by the two `no_orphan_*` tests in a child process (this test
/// binary again), where it starts a server, reports it on stdout and then ends the process
/// without dropping the server. Without the environment variable it does nothing.
#[tokio::test]
async fn child_process_helper() {
    let Ok(mode) = std::env::var(CHILD_ENV) else { return };
    let zk = LocalZooKeeper::start().await.unwrap();
    let dir = zk.log_path().parent().unwrap().to_path_buf();
    println!("LOCAL_ZK_CHILD pid={} port={} dir={}", zk.pid().unwrap(), zk.port(), dir.display());
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    match mode.as_str() {
        "abort" => std::process::abort(),
        // The parent SIGKILLs us.
        "sigkill" => {
            std::thread::sleep(Duration::from_secs(60));
            panic!("the parent did not kill this process within 60 s");
        }
        // The server lives in a static, never dropped; the test binary exits normally.
        "static" => assert!(KEPT.set(zk).is_ok()),
        other => panic!("unknown mode {other}"),
    }
}

/// Runs [`child_process_helper`] in a child process ending as `mode` says, and checks that the
/// JVM it started dies and its directory goes within a few seconds.
async fn no_orphan(mode: &str) {
    let _permit = jvms(1).await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_helper", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read to the end (closing the pipe early would fail the child's later prints). The harness
    // prints "test child_process_helper ... " before our line, on the same line.
    let mut line = None;
    for text in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        if let Some(at) = text.find("LOCAL_ZK_CHILD") {
            line = Some(text[at..].to_owned());
            if mode == "sigkill" {
                child.kill().unwrap();
            }
        }
    }
    let status = child.wait().unwrap();
    let line = line.unwrap_or_else(|| panic!("the child reported no server ({status})"));
    let field = |name: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).unwrap().to_owned()
    };
    let pid: u32 = field("pid").parse().unwrap();
    let port: u16 = field("port").parse().unwrap();
    let dir = PathBuf::from(field("dir"));
    use std::os::unix::process::ExitStatusExt as _;
    match mode {
        "abort" => assert_eq!(status.signal(), Some(6), "the child aborted: {status}"),
        "sigkill" => assert_eq!(status.signal(), Some(9), "the child was killed: {status}"),
        _ => assert!(status.success(), "{status}"),
    }
    let gone = Instant::now();
    wait_until("the orphaned JVM to die", Duration::from_secs(5), || !alive(pid, "ZooKeeperServerMain"))
        .await;
    eprintln!("{mode}: JVM {pid} gone {:?} after its owner exited", gone.elapsed());
    wait_until("the port to close", Duration::from_secs(5), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    })
    .await;
    wait_until("the directory to be removed", Duration::from_secs(5), || !dir.exists()).await;
}

#[tokio::test]
async fn no_orphan_when_the_owner_aborts() {
    no_orphan("abort").await;
}

#[tokio::test]
async fn no_orphan_when_the_owner_is_sigkilled() {
    no_orphan("sigkill").await;
}

#[tokio::test]
async fn no_orphan_when_the_server_lives_in_a_static() {
    no_orphan("static").await;
}
