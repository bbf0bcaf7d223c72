//! One ZooKeeper server: its directory, its ports and, while it runs, its JVM.

use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::config::{render_config, PeerPorts, SecurePort, Settings, CONFIG_FILE};
use crate::error::{Error, Result};
use crate::launch::Launch;
use crate::log::{log_mentions_port_conflict, log_tail, LOG_FILE, LOG_TAIL_LINES};
use crate::probe::{self, POLL_INTERVAL};
use crate::watchdog::{describe, Watchdog};

/// How many times `start` picks new ports when the JVM could not bind the ones it was given.
pub(crate) const START_ATTEMPTS: usize = 5;
/// Main class of a standalone server.
pub(crate) const STANDALONE_MAIN: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// Main class of an ensemble member.
pub(crate) const QUORUM_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
const DATA_DIR: &str = "data";

/// Why a start did not succeed: the error, and whether new ports may help.
#[derive(Debug)]
pub(crate) struct StartFailure {
    pub(crate) error: Error,
    pub(crate) port_conflict: bool,
}

impl From<Error> for StartFailure {
    fn from(error: Error) -> Self {
        StartFailure { error, port_conflict: false }
    }
}

/// One ZooKeeper server: its directory (config, data, log), its client port and, while it runs,
/// its JVM.
#[derive(Debug)]
pub(crate) struct Node {
    /// `myid` for an ensemble member, 0 for a standalone server.
    id: usize,
    dir: PathBuf,
    /// What the watchdog removes if our process dies: the temporary directory this node is in.
    cleanup: PathBuf,
    main_class: &'static str,
    client_port: u16,
    /// The TLS client port, if the node serves TLS (besides the plain client port).
    secure: Option<SecurePort>,
    /// Every port this node listens on: client, TLS client, and for a member its peer and
    /// election ports.
    ports: Vec<u16>,
    process: Option<Watchdog>,
}

impl Node {
    pub(crate) fn new(id: usize, dir: PathBuf, cleanup: PathBuf, main_class: &'static str) -> Self {
        Node { id, dir, cleanup, main_class, client_port: 0, secure: None, ports: Vec::new(), process: None }
    }

    pub(crate) fn client_port(&self) -> u16 {
        self.client_port
    }

    /// The TLS client port and its store, if the node serves TLS.
    pub(crate) fn secure(&self) -> Option<&SecurePort> {
        self.secure.as_ref()
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Watchdog::pid)
    }

    /// Empties the data directory (before a retry on new ports).
    pub(crate) fn reset_data(&self) -> Result<()> {
        let data = self.data_dir();
        match fs::remove_dir_all(&data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", data.display()), e)),
        }
    }

    /// Writes `zoo.cfg` (and `myid` for an ensemble member) for `client_port` and, if given, a
    /// TLS client port. The file is private to us (mode 0600): it may hold a store password.
    pub(crate) fn configure(
        &mut self,
        settings: &Settings,
        client_port: u16,
        secure: Option<SecurePort>,
        peers: &[PeerPorts],
    ) -> Result<()> {
        let data = self.data_dir();
        fs::create_dir_all(&data).map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
        if self.id > 0 {
            let myid = data.join("myid");
            fs::write(&myid, format!("{}\n", self.id))
                .map_err(|e| Error::io(format!("writing {}", myid.display()), e))?;
        }
        let cfg = self.dir.join(CONFIG_FILE);
        write_private(&cfg, &render_config(settings, &data, client_port, secure.as_ref(), peers))
            .map_err(|e| Error::io(format!("writing {}", cfg.display()), e))?;
        if !settings.sasl.is_empty() {
            settings.sasl.write(&self.dir)?;
        }
        self.client_port = client_port;
        self.ports = std::iter::once(client_port)
            .chain(secure.as_ref().map(|s| s.port))
            .chain(peers.iter().filter(|p| p.id == self.id).flat_map(|p| [p.peer, p.election]))
            .collect();
        self.secure = secure;
        Ok(())
    }

    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(process) => process.try_exit().is_none(),
            None => false,
        }
    }

    /// Starts the JVM (which must not be running).
    pub(crate) async fn spawn(&mut self, launch: &Launch) -> Result<()> {
        debug_assert!(!self.is_running());
        self.process = None;
        tracing::debug!(dir = %self.dir.display(), port = self.client_port, "starting ZooKeeper");
        self.process = Some(Watchdog::spawn(launch, self.main_class, &self.dir, &self.cleanup).await?);
        Ok(())
    }

    /// Polls `ruok` until `imok` or `deadline`; a standalone server must also serve (its `srvr`
    /// has a `Mode:`), because it answers `imok` while it is still loading its database, and
    /// accept connections on its TLS port if it has one, which it opens after the plain one. On
    /// failure the JVM is killed and the error carries the tail of its log.
    pub(crate) async fn wait_ready(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), StartFailure> {
        loop {
            if let Some(status) = self.process.as_mut().and_then(Watchdog::try_exit) {
                return Err(self.failure(format!(
                    "ZooKeeper on 127.0.0.1:{} exited ({}) before it was ready",
                    self.client_port,
                    describe(status)
                )));
            }
            if self.process.is_none() {
                return Err(Error::start(format!(
                    "ZooKeeper on 127.0.0.1:{} is not running",
                    self.client_port
                ))
                .into());
            }
            // `imok` must come from this JVM: on a port someone else holds, another server
            // answers while ours fails to bind.
            if probe::answers_ruok(self.client_port).await
                && probe::listens(self.pid(), self.client_port).await
                && (self.id > 0 || probe::serves(self.client_port).await)
                && self.accepts_on_secure_port().await
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if let Some(process) = &mut self.process {
                    process.kill_now();
                }
                let secure = match &self.secure {
                    Some(secure) => format!(", TLS port {} accepting", secure.port),
                    None => String::new(),
                };
                return Err(self.failure(format!(
                    "ZooKeeper on 127.0.0.1:{} was not ready (`ruok` answered `imok`, `srvr` a mode{secure}) within {timeout:?}",
                    self.client_port
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Whether the JVM accepts connections on the TLS port (true if there is none).
    async fn accepts_on_secure_port(&self) -> bool {
        match &self.secure {
            Some(secure) => probe::listens(self.pid(), secure.port).await,
            None => true,
        }
    }

    /// A start failure with the log's tail, and whether it was a port conflict.
    pub(crate) fn failure(&self, what: String) -> StartFailure {
        let tail = log_tail(&self.log_path(), LOG_TAIL_LINES);
        let port_conflict = self.port_conflict();
        let reason = if tail.is_empty() {
            format!("{what}; its log {} is empty", self.log_path().display())
        } else {
            format!("{what}; last lines of {}:\n{tail}", self.log_path().display())
        };
        StartFailure { error: Error::start(reason), port_conflict }
    }

    /// Whether a port could not be bound: the log says so (with a logging binding that prints),
    /// or, once our JVM is gone, something else holds one of its ports.
    pub(crate) fn port_conflict(&self) -> bool {
        log_mentions_port_conflict(&self.log_path())
            || (self.process.as_ref().is_none_or(Watchdog::has_exited)
                && self.ports.iter().any(|&port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()))
    }

    /// Starts the JVM and waits for `imok`.
    pub(crate) async fn start(&mut self, launch: &Launch, timeout: Duration) -> Result<(), StartFailure> {
        let deadline = Instant::now() + timeout;
        self.spawn(launch).await?;
        self.wait_ready(deadline, timeout).await
    }

    /// SIGTERM, wait (SIGKILL after [`STOP_GRACE`](crate::watchdog::STOP_GRACE)). A no-op if not running.
    pub(crate) async fn stop(&mut self) -> Result<()> {
        if let Some(process) = &mut self.process {
            let status = process.stop().await?;
            tracing::debug!(port = self.client_port, status = %describe(status), "ZooKeeper stopped");
        }
        Ok(())
    }

    /// Sends SIGTERM without waiting (so that several members stop in parallel); [`Node::stop`]
    /// then waits.
    pub(crate) fn request_stop(&mut self) -> Result<()> {
        match &mut self.process {
            Some(process) => process.signal(Signal::SIGTERM),
            None => Ok(()),
        }
    }

    /// SIGKILL, wait. A no-op if not running.
    pub(crate) async fn kill(&mut self) -> Result<()> {
        if let Some(process) = &mut self.process {
            let status = process.kill().await?;
            tracing::debug!(port = self.client_port, status = %describe(status), "ZooKeeper killed");
        }
        Ok(())
    }

    /// Kills the JVM synchronously (failed starts, retries).
    pub(crate) fn kill_now(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill_now();
        }
    }

    /// A separator in the log between starts, so a tail shows the latest run.
    pub(crate) fn mark_log(&self, what: &str) {
        if let Ok(mut log) = OpenOptions::new().create(true).append(true).open(self.log_path()) {
            use std::io::Write as _;
            let _ = writeln!(log, "----- local-zk: {what} -----");
        }
    }
}

/// Writes `path` with mode 0600 (when it creates it).
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::launch::{DEFAULT_JAR_DIR, SERVER_JARS};
    use crate::tls::TlsMaterial;

    #[test]
    fn config_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node::new(0, dir.path().into(), dir.path().into(), STANDALONE_MAIN);
        node.configure(&Settings::default(), 2181, None, &[]).unwrap();
        let mode = fs::metadata(dir.path().join(CONFIG_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(node.ports, [2181]);
        let secure = SecurePort { port: 2182, tls: TlsMaterial::fake(Path::new("/k"), "pw", "") };
        node.configure(&Settings::default(), 2181, Some(secure), &[]).unwrap();
        assert_eq!(node.ports, [2181, 2182], "the TLS port counts for port conflicts");
        assert_eq!(node.secure().map(|s| s.port), Some(2182));
    }

    /// With a silent logging binding the log says nothing, yet a taken port is recognised (and
    /// so retried by `start`).
    #[tokio::test]
    async fn port_conflict_is_recognised_without_a_log() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let jar_dir = Path::new(DEFAULT_JAR_DIR);
        let jars = SERVER_JARS.iter().chain(["slf4j-nop.jar"].iter()).map(|jar| jar_dir.join(jar));
        let classpath = std::env::join_paths(jars).unwrap();
        let launch = Launch::resolve(None, Some(classpath), jar_dir, std::env::var_os("PATH")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node::new(0, dir.path().into(), dir.path().into(), STANDALONE_MAIN);
        node.configure(&Settings::default(), port, None, &[]).unwrap();
        let failure = node.start(&launch, Duration::from_secs(30)).await.unwrap_err();
        assert!(failure.port_conflict, "{:?}", failure.error);
        let log = fs::read_to_string(node.log_path()).unwrap();
        assert!(!log.contains("Address already in use"), "{log}");
    }
}
