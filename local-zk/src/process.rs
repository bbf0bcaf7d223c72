//! What a standalone server and an ensemble member share: finding Java and the ZooKeeper jars,
//! picking free loopback ports, writing `zoo.cfg`, running a JVM under a watchdog that cannot
//! outlive us, readiness, and four-letter words.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::TlsMaterial;
use crate::error::{Error, Result};

/// Where Debian's `zookeeper` package (and its dependencies) put their jars.
pub(crate) const DEFAULT_JAR_DIR: &str = "/usr/share/java";
/// ZooKeeper's `tickTime` unless the builder says otherwise: short, for fast tests.
pub(crate) const DEFAULT_TICK_TIME: Duration = Duration::from_millis(500);
/// How long a start or restart may take before it is given up.
pub(crate) const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often readiness and leadership are polled.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long `stop` waits after SIGTERM before it sends SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
/// How many times `start` picks new ports when the JVM could not bind the ones it was given.
pub(crate) const START_ATTEMPTS: usize = 5;
/// Main class of a standalone server.
pub(crate) const STANDALONE_MAIN: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// Main class of an ensemble member.
pub(crate) const QUORUM_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

const LOG_FILE: &str = "zookeeper.log";
const CONFIG_FILE: &str = "zoo.cfg";
const DATA_DIR: &str = "data";
const LOG_TAIL_LINES: usize = 20;
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time limit of one readiness or leadership probe, so that a JVM's exit is noticed quickly.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const WATCHDOG_PID_TIMEOUT: Duration = Duration::from_secs(10);

const INSTALL_ZOOKEEPER: &str =
    "install Debian's package: `apt-get update && apt-get install -y --no-install-recommends zookeeper`";
const INSTALL_JAVA: &str = "install Debian's package: \
     `apt-get update && apt-get install -y --no-install-recommends default-jre-headless`";

/// The jars a server needs, out of `/usr/share/java`. Naming them (rather than `/usr/share/java/*`,
/// several hundred jars on a developer machine) starts the JVM faster and lets us pick the
/// logging binding.
const SERVER_JARS: &[&str] = &[
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "netty-handler.jar",
    "netty-common.jar",
    "netty-buffer.jar",
    "netty-transport.jar",
    "netty-resolver.jar",
    "netty-codec.jar",
    "netty-transport-native-epoll.jar",
    "netty-transport-native-unix-common.jar",
    "slf4j-api.jar",
    "metrics-core.jar",
    "snappy-java.jar",
    "commons-cli.jar",
];
/// slf4j's simple binding: one line per event on stderr (our log file), level set below.
const LOG_BINDING: &str = "slf4j-simple.jar";

/// The watchdog, run as `sh -c WATCHDOG local-zk-watchdog DIR JAVA ARGS...` with a pipe from us
/// on its stdin (the "lifeline") and its stdout piped to us. `DIR` is the server's temporary
/// directory (an ensemble's, for a member).
///
/// It moves the lifeline to fd 3 and starts the JVM in the background with stdin from /dev/null,
/// stdout and stderr to the log (the shell's stderr) and fd 3 closed, so the JVM holds no end of
/// the lifeline. A guard subshell blocks on `read` from the lifeline. We never write to it but a
/// final newline when we let go of the JVM deliberately (drop): `read` then succeeds and the
/// guard SIGKILLs the JVM. If our process dies in any way (panic, abort, SIGKILL, exit with the
/// server in a `static`) the kernel closes the lifeline, `read` hits end-of-file, and the guard
/// SIGKILLs the JVM and removes `DIR`, which no destructor of ours will remove then.
///
/// The shell prints the JVM's pid (so that we signal the JVM itself), closes its stdout, waits
/// for the JVM, ends the guard, waits for it and exits with the JVM's status: our child (the
/// shell) lives exactly as long as the JVM and its guard, so once it has exited, nothing of the
/// server is left running.
const WATCHDOG: &str = r#"dir=$1
shift
exec 3<&0 0</dev/null
"$@" >&2 3<&- &
jvm=$!
(
  if read -r _ <&3; then
    kill -9 "$jvm"
  else
    trap '' TERM
    kill -9 "$jvm"
    [ -n "$dir" ] && rm -rf "$dir"
  fi
) >/dev/null 2>&1 &
guard=$!
exec 3<&-
echo "$jvm"
exec 1>&-
wait "$jvm"
status=$?
kill "$guard" 2>/dev/null
wait "$guard" 2>/dev/null
exit "$status"
"#;

/// How to run a JVM with ZooKeeper on its class path.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    java: PathBuf,
    classpath: OsString,
}

impl Launch {
    /// Reads `JAVA`, `ZOOKEEPER_CLASSPATH` and `PATH`, and checks that Java and the jars exist.
    pub(crate) fn from_env() -> Result<Self> {
        Self::resolve(
            std::env::var_os("JAVA"),
            std::env::var_os("ZOOKEEPER_CLASSPATH"),
            Path::new(DEFAULT_JAR_DIR),
            std::env::var_os("PATH"),
        )
    }

    /// [`Launch::from_env`] with the environment given, for tests.
    pub(crate) fn resolve(
        java: Option<OsString>,
        classpath: Option<OsString>,
        jar_dir: &Path,
        path_var: Option<OsString>,
    ) -> Result<Self> {
        let java = find_java(java.filter(|j| !j.is_empty()), path_var)?;
        let classpath = match classpath.filter(|c| !c.is_empty()) {
            Some(classpath) => classpath,
            None => default_classpath(jar_dir)?,
        };
        Ok(Launch { java, classpath })
    }

    /// The java binary.
    pub(crate) fn java(&self) -> &Path {
        &self.java
    }

    /// The command line after the java binary.
    fn jvm_args(&self, main_class: &str, config: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-Xmx256m",
            // Start-up and footprint matter here, peak throughput does not: one GC thread, and
            // the quick C1 compiler only (a 3-member ensemble forms ~15% sooner on 2 cores).
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push("-cp".into());
        args.push(self.classpath.clone());
        args.push(main_class.into());
        args.push(config.into());
        args
    }
}

pub(crate) fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn find_java(java: Option<OsString>, path_var: Option<OsString>) -> Result<PathBuf> {
    let name = java.clone().unwrap_or_else(|| OsString::from("java"));
    let found = if Path::new(&name).components().count() > 1 {
        Some(PathBuf::from(&name)).filter(|p| is_executable_file(p))
    } else {
        path_var
            .as_deref()
            .map(std::env::split_paths)
            .into_iter()
            .flatten()
            .map(|dir| dir.join(&name))
            .find(|candidate| is_executable_file(candidate))
    };
    found.ok_or_else(|| {
        let what = match &java {
            Some(java) => format!("JAVA={} is not an executable", Path::new(java).display()),
            None => "no `java` on PATH".to_owned(),
        };
        Error::not_installed(format!("Java not found ({what}): {INSTALL_JAVA}, or set JAVA to a java binary"))
    })
}

fn default_classpath(jar_dir: &Path) -> Result<OsString> {
    if !jar_dir.join("zookeeper.jar").is_file() {
        return Err(Error::not_installed(format!(
            "ZooKeeper jars not found in {} (no zookeeper.jar): {INSTALL_ZOOKEEPER}, or set ZOOKEEPER_CLASSPATH",
            jar_dir.display()
        )));
    }
    let mut jars: Vec<PathBuf> = SERVER_JARS.iter().map(|jar| jar_dir.join(jar)).collect();
    if !jars.iter().all(|jar| jar.is_file()) {
        // Some other layout: let the JVM take everything (slower, and noisier logging).
        let mut all = jar_dir.as_os_str().to_owned();
        all.push("/*");
        return Ok(all);
    }
    let binding = jar_dir.join(LOG_BINDING);
    if binding.is_file() {
        jars.push(binding);
    }
    std::env::join_paths(jars).map_err(|e| Error::start(format!("cannot build a class path: {e}")))
}

/// Picks `n` distinct free ports on 127.0.0.1 (all bound at once, then released).
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io("binding 127.0.0.1:0 to pick a free port", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io("reading the port of a bound socket", e))
}

/// Server settings shared by every member.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) tick_time: Duration,
    pub(crate) min_session_timeout: Option<Duration>,
    pub(crate) max_session_timeout: Option<Duration>,
    pub(crate) startup_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick_time: DEFAULT_TICK_TIME,
            min_session_timeout: None,
            max_session_timeout: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl Settings {
    /// Refuses what ZooKeeper would refuse, before a JVM is started.
    pub(crate) fn validate(&self) -> Result<()> {
        let ms = |d: Duration| d.as_millis();
        if ms(self.tick_time) == 0 || ms(self.tick_time) > i32::MAX as u128 {
            return Err(Error::invalid(format!(
                "tick time {:?} is not between 1 ms and i32::MAX ms",
                self.tick_time
            )));
        }
        // ZooKeeper's defaults: 2 and 20 ticks.
        let min = self.min_session_timeout.unwrap_or(self.tick_time * 2);
        let max = self.max_session_timeout.unwrap_or(self.tick_time * 20);
        if ms(min) == 0 || ms(max) > i32::MAX as u128 || min > max {
            return Err(Error::invalid(format!(
                "session timeouts must satisfy 1 ms <= min <= max <= i32::MAX ms, got min {min:?} and max {max:?} \
                 (unset ones default to 2 and 20 ticks)"
            )));
        }
        if self.startup_timeout.is_zero() {
            return Err(Error::invalid("the start-up timeout must not be zero"));
        }
        Ok(())
    }
}

/// One member's quorum ports, for the `server.N` lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerPorts {
    pub(crate) id: usize,
    pub(crate) peer: u16,
    pub(crate) election: u16,
}

/// A TLS client port (ZooKeeper's `secureClientPort`) and the store it serves.
#[derive(Debug, Clone)]
pub(crate) struct SecurePort {
    pub(crate) port: u16,
    pub(crate) tls: TlsMaterial,
}

/// The text of a `zoo.cfg`.
pub(crate) fn render_config(
    settings: &Settings,
    data_dir: &Path,
    client_port: u16,
    secure: Option<&SecurePort>,
    peers: &[PeerPorts],
) -> String {
    let mut cfg = format!(
        "tickTime={tick}\n\
         initLimit=10\n\
         syncLimit=5\n\
         dataDir={data}\n\
         clientPort={client_port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         maxCnxns=0\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=*\n\
         forceSync=no\n",
        tick = settings.tick_time.as_millis(),
        data = data_dir.display(),
    );
    if let Some(min) = settings.min_session_timeout {
        cfg.push_str(&format!("minSessionTimeout={}\n", min.as_millis()));
    }
    if let Some(max) = settings.max_session_timeout {
        cfg.push_str(&format!("maxSessionTimeout={}\n", max.as_millis()));
    }
    if let Some(secure) = secure {
        cfg.push_str(&secure.tls.config_lines(secure.port));
    }
    for peer in peers {
        cfg.push_str(&format!("server.{}=127.0.0.1:{}:{}\n", peer.id, peer.peer, peer.election));
    }
    cfg
}

/// A running JVM under its watchdog shell.
#[derive(Debug)]
struct Watchdog {
    /// The `sh` running [`WATCHDOG`]; it exits when (and only when) the JVM has exited.
    shell: Child,
    /// Our end of the pipe on the shell's stdin; closing it makes the guard SIGKILL the JVM.
    lifeline: Option<ChildStdin>,
    /// The JVM itself, which is what we signal.
    jvm: Pid,
    /// The shell's (= the JVM's) exit status, once seen.
    exited: Option<ExitStatus>,
}

impl Watchdog {
    /// Starts the JVM in `dir` (its config and log are there); `cleanup` is removed by the
    /// guard if our process dies.
    async fn spawn(launch: &Launch, main_class: &str, dir: &Path, cleanup: &Path) -> Result<Self> {
        let log_path = dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let mut shell = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("local-zk-watchdog")
            .arg(cleanup)
            .arg(&launch.java)
            .args(launch.jvm_args(main_class, &dir.join(CONFIG_FILE)))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io("starting /bin/sh for the ZooKeeper watchdog", e))?;
        let lifeline = shell.stdin.take();
        let stdout = shell.stdout.take();
        let mut watchdog = Watchdog { shell, lifeline, jvm: Pid::from_raw(0), exited: None };
        // The shell prints the pid right away; read it off the runtime's threads all the same.
        let line = tokio::time::timeout(
            WATCHDOG_PID_TIMEOUT,
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                if let Some(stdout) = stdout {
                    BufReader::new(stdout).read_line(&mut line)?;
                }
                Ok::<_, std::io::Error>(line)
            }),
        )
        .await;
        let pid = match line {
            Ok(Ok(Ok(line))) => line.trim().parse::<i32>().ok().filter(|pid| *pid > 0),
            _ => None,
        };
        match pid {
            Some(pid) => {
                watchdog.jvm = Pid::from_raw(pid);
                Ok(watchdog)
            }
            None => {
                watchdog.kill_now();
                Err(Error::start(format!(
                    "the watchdog shell did not report the JVM's pid{}",
                    tail_suffix(&log_path)
                )))
            }
        }
    }

    fn pid(&self) -> u32 {
        self.jvm.as_raw().unsigned_abs()
    }

    /// The exit status if the JVM (and so its shell) has exited.
    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.shell.try_wait().ok().flatten();
            if self.exited.is_some() {
                self.release();
            }
        }
        self.exited
    }

    /// Lets go of the lifeline deliberately: a newline, so that a guard still alive kills the
    /// JVM but leaves the directory alone, then end-of-file.
    fn release(&mut self) {
        if let Some(mut lifeline) = self.lifeline.take() {
            use std::io::Write as _;
            let _ = lifeline.write_all(b"\n");
        }
    }

    /// Sends `signal` to the JVM unless it is known to be gone.
    fn signal(&mut self, signal: Signal) -> Result<()> {
        if self.try_exit().is_some() {
            return Ok(());
        }
        match kill(self.jvm, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::signal(format!("cannot send {signal} to the JVM (pid {}): {e}", self.jvm))),
        }
    }

    /// Waits up to `timeout` for the JVM to exit.
    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILLs the JVM and waits for it.
    async fn kill(&mut self) -> Result<ExitStatus> {
        self.signal(Signal::SIGKILL)?;
        match self.wait_exit(STOP_GRACE).await {
            Some(status) => Ok(status),
            None => {
                // Cannot happen short of a wedged kernel; do not leave the shell behind either way.
                self.kill_now();
                self.try_exit().ok_or_else(|| {
                    Error::signal(format!("the JVM (pid {}) did not die on SIGKILL", self.jvm))
                })
            }
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    async fn stop(&mut self) -> Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        match self.wait_exit(STOP_GRACE).await {
            Some(status) => Ok(status),
            None => {
                tracing::warn!(pid = %self.jvm, "ZooKeeper did not stop within {STOP_GRACE:?} of SIGTERM; sending SIGKILL");
                self.kill().await
            }
        }
    }

    /// Synchronous kill and reap, for `Drop` and failed starts.
    fn kill_now(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        if self.jvm.as_raw() > 0 {
            let _ = kill(self.jvm, Signal::SIGKILL);
        }
        self.release();
        let deadline = Instant::now() + STOP_GRACE;
        while self.try_exit().is_none() {
            if Instant::now() >= deadline {
                let _ = self.shell.kill();
                self.exited = self.shell.wait().ok();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.kill_now();
    }
}

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
            if self.answers_ruok().await
                && (self.id > 0 || self.serves().await)
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

    async fn answers_ruok(&self) -> bool {
        matches!(four_letter_within(self.client_port, "ruok", PROBE_TIMEOUT).await, Ok(a) if a.trim() == "imok")
    }

    async fn serves(&self) -> bool {
        matches!(four_letter_within(self.client_port, "srvr", PROBE_TIMEOUT).await, Ok(a) if srvr_mode(&a).is_some())
    }

    /// Whether the JVM listens on the TLS port (true if there is none). Read from `/proc`: a
    /// connection closed before the TLS handshake would have ZooKeeper log an error
    /// ("Unsuccessful handshake"). Where there is no `/proc/net/tcp`, a connection it is.
    async fn accepts_on_secure_port(&self) -> bool {
        let Some(secure) = &self.secure else { return true };
        if Path::new(PROC_NET_TCP[0]).exists() {
            return self.pid().is_some_and(|pid| listens_on(pid, secure.port));
        }
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect((Ipv4Addr::LOCALHOST, secure.port))).await,
            Ok(Ok(_))
        )
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
            || (self.process.as_ref().is_none_or(|p| p.exited.is_some())
                && self.ports.iter().any(|&port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()))
    }

    /// Starts the JVM and waits for `imok`.
    pub(crate) async fn start(&mut self, launch: &Launch, timeout: Duration) -> Result<(), StartFailure> {
        let deadline = Instant::now() + timeout;
        self.spawn(launch).await?;
        self.wait_ready(deadline, timeout).await
    }

    /// SIGTERM, wait (SIGKILL after [`STOP_GRACE`]). A no-op if not running.
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

/// The kernel's tables of IPv4 and IPv6 TCP sockets.
const PROC_NET_TCP: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// Whether process `pid` holds a socket listening on TCP port `port` (any address).
fn listens_on(pid: u32, port: u16) -> bool {
    let inodes: Vec<String> = PROC_NET_TCP
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
        .any(|target| inodes.iter().any(|inode| target.as_os_str() == inode.as_str()))
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp` or `tcp6` table (columns:
/// slot, local address `ADDR:PORT` in hex, remote address, state `0A` for LISTEN, ..., inode).
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            if local_port != port || *fields.get(3)? != "0A" {
                return None;
            }
            fields.get(9)?.parse().ok()
        })
        .collect()
}

/// Writes `path` with mode 0600 (when it creates it).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        // The shell reports a JVM killed by signal N as 128 + N.
        (Some(code), _) if code > 128 => match Signal::try_from(code - 128) {
            Ok(signal) => format!("killed by {signal}"),
            Err(_) => format!("exit code {code}"),
        },
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("watchdog killed by signal {signal}"),
        (None, None) => "unknown status".to_owned(),
    }
}

fn tail_suffix(path: &Path) -> String {
    let tail = log_tail(path, LOG_TAIL_LINES);
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last lines of {}:\n{tail}", path.display())
    }
}

/// The last `n` lines of a file (of its last 64 KiB), or "" if it cannot be read.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let Ok(text) = read_end(path, 64 * 1024) else { return String::new() };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read_end(path: &Path, max: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether the latest run in the log failed to bind a port.
fn log_mentions_port_conflict(path: &Path) -> bool {
    let text = read_end(path, 256 * 1024).unwrap_or_default();
    let latest = text.rsplit("----- local-zk:").next().unwrap_or_default();
    latest.contains("Address already in use") || latest.contains("BindException")
}

/// Sends a four-letter word to 127.0.0.1:`port` and returns the whole answer.
pub(crate) async fn four_letter(port: u16, cmd: &str) -> Result<String> {
    four_letter_within(port, cmd, FOUR_LETTER_TIMEOUT).await
}

/// [`four_letter`] with a time limit for the whole exchange.
pub(crate) async fn four_letter_within(port: u16, cmd: &str, timeout: Duration) -> Result<String> {
    if cmd.len() != 4 || !cmd.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(Error::invalid(format!(
            "{cmd:?} is not a four-letter word (four lowercase ASCII letters)"
        )));
    }
    let exchange = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(cmd.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => Ok(String::from_utf8_lossy(&answer).into_owned()),
        Ok(Err(e)) => Err(Error::io(format!("four-letter word `{cmd}` to 127.0.0.1:{port}"), e)),
        Err(_) => Err(Error::Timeout {
            what: format!("the answer to `{cmd}` from 127.0.0.1:{port}"),
            after: timeout,
        }),
    }
}

/// The `Mode:` of a `srvr` answer (`leader`, `follower`, `standalone`, ...), if it has one.
pub(crate) fn srvr_mode(answer: &str) -> Option<&str> {
    answer.lines().find_map(|line| line.strip_prefix("Mode:")).map(str::trim)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fake_dir(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            fs::write(dir.path().join(file), b"").unwrap();
        }
        dir
    }

    fn fake_java() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let java = dir.path().join("java");
        fs::write(&java, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&java, fs::Permissions::from_mode(0o755)).unwrap();
        (dir, java)
    }

    #[test]
    fn missing_java_says_what_to_install() {
        let jars = fake_dir(&["zookeeper.jar"]);
        let empty = tempfile::tempdir().unwrap();
        let err = Launch::resolve(None, None, jars.path(), Some(empty.path().into())).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NotInstalled { .. }), "{err:?}");
        assert!(text.contains("no `java` on PATH"), "{text}");
        assert!(text.contains("apt-get install -y --no-install-recommends default-jre-headless"), "{text}");
        assert!(text.contains("set JAVA"), "{text}");

        let err = Launch::resolve(Some("/nonexistent/java".into()), None, jars.path(), None).unwrap_err();
        assert!(err.to_string().contains("JAVA=/nonexistent/java is not an executable"), "{err}");
    }

    #[test]
    fn missing_zookeeper_jar_says_what_to_install() {
        let (_keep, java) = fake_java();
        let jars = fake_dir(&["slf4j-api.jar"]);
        let err = Launch::resolve(Some(java.into()), None, jars.path(), None).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NotInstalled { .. }), "{err:?}");
        assert!(text.contains("no zookeeper.jar"), "{text}");
        assert!(
            text.contains("`apt-get update && apt-get install -y --no-install-recommends zookeeper`"),
            "{text}"
        );
        assert!(text.contains("or set ZOOKEEPER_CLASSPATH"), "{text}");
    }

    #[test]
    fn java_is_found_on_path_and_classpath_is_narrow_when_possible() {
        let (java_dir, java) = fake_java();
        let mut files: Vec<&str> = SERVER_JARS.to_vec();
        files.push(LOG_BINDING);
        let jars = fake_dir(&files);
        let launch = Launch::resolve(None, None, jars.path(), Some(java_dir.path().into())).unwrap();
        assert_eq!(launch.java, java);
        let cp = launch.classpath.to_str().unwrap().to_owned();
        assert_eq!(cp.split(':').count(), SERVER_JARS.len() + 1, "{cp}");
        assert!(cp.contains("slf4j-simple.jar"));

        // Only zookeeper.jar: fall back to the whole directory.
        let sparse = fake_dir(&["zookeeper.jar"]);
        let launch = Launch::resolve(Some(java.clone().into()), None, sparse.path(), None).unwrap();
        assert_eq!(launch.classpath, OsString::from(format!("{}/*", sparse.path().display())));

        // ZOOKEEPER_CLASSPATH wins and is not checked.
        let launch =
            Launch::resolve(Some(java.into()), Some("/x/*".into()), Path::new("/nowhere"), None).unwrap();
        assert_eq!(launch.classpath, OsString::from("/x/*"));
    }

    #[test]
    fn config_has_what_zookeeper_needs() {
        let settings = Settings {
            max_session_timeout: Some(Duration::from_secs(4)),
            min_session_timeout: Some(Duration::from_millis(1500)),
            ..Settings::default()
        };
        let peers =
            [PeerPorts { id: 1, peer: 10, election: 11 }, PeerPorts { id: 2, peer: 12, election: 13 }];
        let cfg = render_config(&settings, Path::new("/d/data"), 2181, None, &peers);
        for line in [
            "tickTime=500",
            "initLimit=10",
            "syncLimit=5",
            "dataDir=/d/data",
            "clientPort=2181",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "minSessionTimeout=1500",
            "maxSessionTimeout=4000",
            "server.1=127.0.0.1:10:11",
            "server.2=127.0.0.1:12:13",
        ] {
            assert!(cfg.lines().any(|l| l == line), "missing {line:?} in\n{cfg}");
        }
    }

    #[test]
    fn tls_config_serves_a_secure_port_from_the_store() {
        let secure = SecurePort {
            port: 2182,
            tls: TlsMaterial::fake(Path::new("/d/keystore.p12"), "0123abcd", "-----BEGIN CERTIFICATE-----"),
        };
        let cfg = render_config(&Settings::default(), Path::new("/d/data"), 2181, Some(&secure), &[]);
        for line in [
            "clientPort=2181",
            "clientPortAddress=127.0.0.1",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "secureClientPort=2182",
            "secureClientPortAddress=127.0.0.1",
            "ssl.keyStore.location=/d/keystore.p12",
            "ssl.keyStore.password=0123abcd",
            "ssl.keyStore.type=PKCS12",
            "ssl.trustStore.location=/d/keystore.p12",
            "ssl.trustStore.password=0123abcd",
            "ssl.trustStore.type=PKCS12",
            "ssl.clientAuth=none",
        ] {
            assert!(cfg.lines().any(|l| l == line), "missing {line:?} in\n{cfg}");
        }
        // Without TLS: none of it (the default connection factory, no secure port).
        let plain = render_config(&Settings::default(), Path::new("/d/data"), 2181, None, &[]);
        assert!(
            !plain.contains("secureClientPort") && !plain.contains("ssl.") && !plain.contains("Netty"),
            "{plain}"
        );
    }

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

    #[test]
    fn listeners_are_found_in_proc() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:0885 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n\
            1: 0100007F:0885 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n";
        assert_eq!(listening_inodes(table, 2181), [4242], "only the listener, not the connection");
        assert!(listening_inodes(table, 2182).is_empty());

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_on(std::process::id(), port));
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
    }

    #[test]
    fn settings_are_validated() {
        assert!(Settings::default().validate().is_ok());
        let bad = Settings { tick_time: Duration::ZERO, ..Settings::default() };
        assert!(bad.validate().is_err());
        // max below the default min (2 ticks = 1 s)
        let bad = Settings { max_session_timeout: Some(Duration::from_millis(800)), ..Settings::default() };
        assert!(bad.validate().is_err());
        let ok = Settings { max_session_timeout: Some(Duration::from_secs(60)), ..Settings::default() };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(9).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 9);
        assert!(ports.iter().all(|p| *p > 0));
    }

    #[test]
    fn log_tail_and_port_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("zookeeper.log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, format!("java.net.BindException: Address already in use\n{text}")).unwrap();
        let tail = log_tail(&log, 20);
        assert_eq!(tail.lines().count(), 20);
        assert!(tail.starts_with("line 11") && tail.ends_with("line 30"), "{tail}");
        assert!(log_mentions_port_conflict(&log));
        // Only the latest run counts.
        fs::write(&log, "Address already in use\n----- local-zk: restart -----\nfine\n").unwrap();
        assert!(!log_mentions_port_conflict(&log));
        assert_eq!(log_tail(&dir.path().join("missing"), 20), "");
    }

    #[test]
    fn srvr_mode_is_parsed() {
        let answer =
            "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(srvr_mode(answer), Some("follower"));
        assert_eq!(srvr_mode("This ZooKeeper instance is not currently serving requests\n"), None);
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

    #[tokio::test]
    async fn four_letter_refuses_non_words() {
        assert!(matches!(four_letter(1, "ruok\n").await, Err(Error::InvalidArgument { .. })));
        assert!(matches!(four_letter(1, "RUOK").await, Err(Error::InvalidArgument { .. })));
    }
}
