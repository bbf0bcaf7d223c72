//! [`LocalZooKeeper`]: one standalone server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::config::{SecurePort, Settings};
use crate::error::{Error, Result};
use crate::launch::Launch;
use crate::node::{Node, STANDALONE_MAIN, START_ATTEMPTS};
use crate::ports::{free_ports, port_is_free};
use crate::probe;
use crate::tls::{self, TlsMaterial};

/// A real standalone ZooKeeper server (a JVM running `ZooKeeperServerMain`) on 127.0.0.1, with
/// its configuration, data and log in a temporary directory.
///
/// Dropping it SIGKILLs the JVM, reaps it and removes the directory. If it is never dropped (a
/// `static`, a panic that aborts, a test binary killed with SIGKILL) the JVM still dies with our
/// process: it runs under a small shell watchdog that SIGKILLs it when the pipe from us closes.
///
/// Its methods need no particular Tokio runtime, so one server in a `static` (behind a mutex for
/// the `&mut self` methods) can serve every `#[tokio::test]` of a test binary.
///
/// ```no_run
/// # async fn demo() -> zkmesh_local_zk::Result<()> {
/// use zkmesh_local_zk::LocalZooKeeper;
///
/// let zk = LocalZooKeeper::start().await?;
/// let client = zookeeper_client::Client::connect(&zk.connect_string()).await.expect("connect");
/// # drop(client);
/// # Ok(())
/// # }
/// ```
///
/// With [`LocalZooKeeperBuilder::tls`] it also serves TLS on a second port (feature `tls` of
/// `registry` for the client side):
///
/// ```ignore
/// let zk = LocalZooKeeper::builder().tls(true).start().await?;
/// let ca = zk.tls_ca_pem().expect("a TLS server has a certificate");
/// let session = Session::builder()
///     .tls(registry::TlsOptions::new().with_pem_ca(&ca)?)
///     .connect(&zk.secure_connect_string().expect("a TLS server has a TLS port"))
///     .await?;
/// ```
#[derive(Debug)]
pub struct LocalZooKeeper {
    // Declared before `_dir` so the JVM is killed before its directory is removed.
    node: Node,
    launch: Launch,
    settings: Settings,
    _dir: TempDir,
}

/// Options for [`LocalZooKeeper`]; from [`LocalZooKeeper::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct LocalZooKeeperBuilder {
    settings: Settings,
    port: Option<u16>,
    tls: bool,
    tls_client_auth: bool,
    /// Tests only: the port of the first attempt (to provoke a conflict).
    #[cfg(test)]
    first_port: Option<u16>,
}

impl LocalZooKeeperBuilder {
    /// ZooKeeper's `tickTime` (default 500 ms, so sessions may last 1 s to 10 s unless the
    /// session time-outs are set).
    pub fn tick_time(mut self, tick_time: Duration) -> Self {
        self.settings.tick_time = tick_time;
        self
    }

    /// The shortest session time-out the server grants (default 2 ticks).
    pub fn min_session_timeout(mut self, timeout: Duration) -> Self {
        self.settings.min_session_timeout = Some(timeout);
        self
    }

    /// The longest session time-out the server grants (default 20 ticks).
    pub fn max_session_timeout(mut self, timeout: Duration) -> Self {
        self.settings.max_session_timeout = Some(timeout);
        self
    }

    /// The client port; 0 (the default) picks a free one. A fixed port that is taken is an
    /// error, whereas a picked one is replaced by another.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port).filter(|p| *p != 0);
        self
    }

    /// Whether the server fsyncs its transaction log before answering a write (ZooKeeper's
    /// `forceSync`; default false: fast tests, data lost on a power cut). Production runs with
    /// it on.
    pub fn force_sync(mut self, on: bool) -> Self {
        self.settings.force_sync = on;
        self
    }

    /// The configuration production runs: `tickTime` 2000 ms (ZooKeeper's default; sessions of
    /// 4 s to 40 s) and `forceSync` on. For benchmarks that must hold where users run.
    pub fn production_like(self) -> Self {
        self.tick_time(Duration::from_millis(2000)).force_sync(true)
    }

    /// How long a start (or restart) may take before it fails (default 30 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.settings.startup_timeout = timeout;
        self
    }

    /// Whether the server also serves TLS (default false).
    ///
    /// At start, Java's `keytool` (found next to the java binary) makes a fresh EC P-256 key
    /// pair and a self-signed certificate for `CN=localhost` with the subject alternative names
    /// `IP:127.0.0.1` and `DNS:localhost`, valid 2 days, in a PKCS12 store in the server's
    /// directory. The server then serves TLS on a second free port of 127.0.0.1
    /// ([`LocalZooKeeper::secure_connect_string`]), accepting clients without a certificate;
    /// trust [`LocalZooKeeper::tls_ca_pem`] to connect. The plain client port stays open (for
    /// four-letter words and plain clients). A restart keeps both ports and the certificate.
    /// The store's random password is only in `zoo.cfg`, in the server's private directory.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Whether the TLS port also does mutual TLS (default false; implies
    /// [`LocalZooKeeperBuilder::tls`]).
    ///
    /// At start, `openssl` (Debian's `openssl` package) makes a client key and a self-signed
    /// certificate for `CN=zkmesh-client` ([`LocalZooKeeper::tls_client_identity`]); the server
    /// trusts it, asks TLS clients for a certificate (those without one still connect) and
    /// registers ZooKeeper's `X509AuthenticationProvider`, so that a session presenting the
    /// certificate is `x509:CN=zkmesh-client` in ACLs.
    pub fn tls_client_auth(mut self, on: bool) -> Self {
        self.tls_client_auth = on;
        self.tls |= on;
        self
    }

    /// SASL DIGEST-MD5 users `(name, password)` the server accepts (default: none, SASL off).
    ///
    /// The server's directory gets a JAAS file (`jaas.conf`, mode 0600) with a `Server` section
    /// of ZooKeeper's `DigestLoginModule` listing them, the JVM gets its path through
    /// `-Djava.security.auth.login.config`, and `zoo.cfg` registers ZooKeeper's
    /// `SASLAuthenticationProvider`; ACL entries `sasl:<name>` then name these users. Clients
    /// without SASL still connect. Names must be `[A-Za-z0-9._-]+`; passwords may not hold a
    /// quote, backslash or line break. The passwords are in that file only, never on a command
    /// line, in a log or in `Debug`.
    pub fn sasl_users(mut self, users: &[(&str, &str)]) -> Self {
        self.settings.sasl = crate::sasl::SaslUsers::new(users);
        self
    }

    /// SASL GSSAPI (Kerberos) instead of [`LocalZooKeeperBuilder::sasl_users`]: the server logs
    /// in as `principal` (`zookeeper/localhost@REALM`) with the key in `keytab`, from the KDC
    /// that `krb5_conf` names (copied into the server's directory and given to the JVM as
    /// `-Djava.security.krb5.conf`). Clients then authenticate with a ticket for that principal;
    /// ACL entries name them `sasl:<principal>`. Default: off.
    pub fn sasl_kerberos(
        mut self,
        principal: &str,
        keytab: impl Into<PathBuf>,
        krb5_conf: impl Into<PathBuf>,
    ) -> Self {
        self.settings.sasl = crate::sasl::SaslUsers::kerberos(crate::sasl::Kerberos {
            principal: principal.to_owned(),
            keytab: keytab.into(),
            krb5_conf: krb5_conf.into(),
        });
        self
    }

    #[cfg(test)]
    pub(crate) fn first_port(mut self, port: u16) -> Self {
        self.first_port = Some(port);
        self
    }

    /// The TLS store (and client certificate) when the server serves TLS.
    async fn tls_material(&self, launch: &Launch, dir: &std::path::Path) -> Result<Option<TlsMaterial>> {
        if !self.tls {
            return Ok(None);
        }
        let keytool = tls::find_keytool(launch.java())?;
        let timeout = self.settings.startup_timeout;
        let mut material = TlsMaterial::create(&keytool, dir, timeout).await?;
        if self.tls_client_auth {
            material.add_client(&keytool, dir, timeout).await?;
        }
        Ok(Some(material))
    }

    /// Starts the server and waits until it answers `ruok` with `imok`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the settings are invalid; [`Error::NotInstalled`] if Java
    /// or the ZooKeeper jars are missing (the message says what to install); [`Error::Start`] if
    /// the JVM exits before it is ready (with the tail of its log; a port conflict on a picked
    /// port is retried with new ports, up to 5 attempts) or it is not ready within the start-up
    /// timeout; [`Error::Io`] if the temporary directory or its files cannot be created. With
    /// [`LocalZooKeeperBuilder::tls`]: [`Error::NotInstalled`] also if `keytool` (or, with
    /// [`LocalZooKeeperBuilder::tls_client_auth`], `openssl`) is missing, [`Error::Start`] if it
    /// fails, [`Error::Timeout`] if it hangs for the start-up timeout.
    pub async fn start(self) -> Result<LocalZooKeeper> {
        self.settings.validate()?;
        if let Some(port) = self.port.filter(|p| !port_is_free(*p)) {
            return Err(Error::start(format!(
                "port {port} of 127.0.0.1 is in use (by another ZooKeeper?); choose another port"
            )));
        }
        let launch = Launch::from_env()?;
        let dir = tempfile::Builder::new()
            .prefix("local-zk-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory for ZooKeeper", e))?;
        let tls = self.tls_material(&launch, dir.path()).await?;
        let mut node = Node::new(0, dir.path().to_path_buf(), dir.path().to_path_buf(), STANDALONE_MAIN);
        // A fixed port is not replaced; with TLS, a conflict on the picked TLS port is retried.
        let attempts = if self.port.is_some() && !self.tls { 1 } else { START_ATTEMPTS };
        #[cfg(test)]
        let mut first_port = self.first_port;
        #[cfg(not(test))]
        let mut first_port: Option<u16> = None;
        for attempt in 1..=attempts {
            let picked = free_ports(2)?;
            let port = self.port.or(first_port.take()).unwrap_or(picked[0]);
            let secure = tls.as_ref().map(|tls| SecurePort {
                port: if picked[0] == port { picked[1] } else { picked[0] },
                tls: tls.clone(),
            });
            let secure_port = secure.as_ref().map(|s| s.port);
            node.configure(&self.settings, port, secure, &[])?;
            match secure_port {
                Some(secure_port) => {
                    node.mark_log(&format!("start attempt {attempt} on port {port}, TLS port {secure_port}"))
                }
                None => node.mark_log(&format!("start attempt {attempt} on port {port}")),
            }
            match node.start(&launch, self.settings.startup_timeout).await {
                Ok(()) => {
                    tracing::debug!(port, ?secure_port, attempt, "local ZooKeeper ready");
                    return Ok(LocalZooKeeper { node, launch, settings: self.settings, _dir: dir });
                }
                Err(failure) => {
                    node.kill_now();
                    let fixed_port_taken = self.port.is_some_and(|p| !port_is_free(p));
                    if failure.port_conflict && attempt < attempts && !fixed_port_taken {
                        tracing::debug!(port, attempt, "port conflict; retrying ZooKeeper on new ports");
                        continue;
                    }
                    return Err(failure.error);
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

impl LocalZooKeeper {
    /// Starts a server with the defaults: a free port, `tickTime` 500 ms, 30 s to get ready.
    ///
    /// # Errors
    ///
    /// As [`LocalZooKeeperBuilder::start`].
    pub async fn start() -> Result<Self> {
        Self::builder().start().await
    }

    /// Options: tick time, session time-outs, port, start-up timeout, TLS.
    pub fn builder() -> LocalZooKeeperBuilder {
        LocalZooKeeperBuilder::default()
    }

    /// `127.0.0.1:PORT`, for `zookeeper_client::Client::connect`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// The client port (the same across restarts).
    pub fn port(&self) -> u16 {
        self.node.client_port()
    }

    /// `127.0.0.1:TLS_PORT` if the server serves TLS ([`LocalZooKeeperBuilder::tls`]), for
    /// `SessionBuilder::tls` (feature `tls`) or zookeeper-client's `Connector::secure_connect`.
    pub fn secure_connect_string(&self) -> Option<String> {
        self.secure_port().map(|port| format!("127.0.0.1:{port}"))
    }

    /// The TLS client port (the same across restarts), if the server serves TLS.
    pub fn secure_port(&self) -> Option<u16> {
        self.node.secure().map(|secure| secure.port)
    }

    /// The server's self-signed certificate, PEM-encoded (the same across restarts), if it
    /// serves TLS: the CA for `TlsOptions::with_pem_ca`. It is also in `ca.pem` in the server's
    /// directory.
    pub fn tls_ca_pem(&self) -> Option<String> {
        self.node.secure().map(|secure| secure.tls.ca_pem().to_owned())
    }

    /// The client certificate and private key (PEM), when the server does mutual TLS
    /// ([`LocalZooKeeperBuilder::tls_client_auth`]): for `TlsOptions::with_pem_identity`. Also
    /// in `client.pem` and `client-key.pem` in the server's directory.
    pub fn tls_client_identity(&self) -> Option<(String, String)> {
        let client = self.node.secure()?.tls.client()?;
        Some((client.cert_pem.clone(), client.key_pem.clone()))
    }

    /// The files of [`LocalZooKeeper::tls_client_identity`]: certificate and private key.
    pub fn tls_client_files(&self) -> Option<(PathBuf, PathBuf)> {
        let client = self.node.secure()?.tls.client()?;
        Some((client.cert_file.clone(), client.key_file.clone()))
    }

    /// The subject of [`LocalZooKeeper::tls_client_identity`]'s certificate, as ACL entries
    /// name it after `x509:`: `CN=zkmesh-client`.
    pub fn tls_client_subject(&self) -> Option<&'static str> {
        self.node.secure()?.tls.client().map(|_| crate::client_cert::CLIENT_SUBJECT)
    }

    /// The JVM's process id while it has one (also after it exited, until the next restart).
    pub fn pid(&self) -> Option<u32> {
        self.node.pid()
    }

    /// The file that receives the JVM's stdout and stderr (ZooKeeper logs warnings and errors).
    pub fn log_path(&self) -> PathBuf {
        self.node.log_path()
    }

    /// The server's data directory (snapshots and transaction logs).
    pub fn data_dir(&self) -> PathBuf {
        self.node.data_dir()
    }

    /// Whether the JVM is running.
    pub fn is_running(&mut self) -> bool {
        self.node.is_running()
    }

    /// Stops the server: SIGTERM, then waits for the JVM to exit (SIGKILL after 5 s). Does
    /// nothing if it is not running.
    ///
    /// # Errors
    ///
    /// [`Error::Signal`] if the JVM cannot be signalled.
    pub async fn stop(&mut self) -> Result<()> {
        self.node.stop().await
    }

    /// Kills the server: SIGKILL, then waits for the JVM to exit. Does nothing if it is not
    /// running.
    ///
    /// # Errors
    ///
    /// [`Error::Signal`] if the JVM cannot be signalled.
    pub async fn kill(&mut self) -> Result<()> {
        self.node.kill().await
    }

    /// Starts the server again on the same port (and TLS port and certificate) and data
    /// directory, so that data and sessions (within their time-out) survive, and waits for
    /// `imok`. Stops it first if it is running.
    ///
    /// # Errors
    ///
    /// [`Error::Start`] if the JVM exits before it is ready (for instance because
    /// something else took the port meanwhile; there is no retry on other ports) or is not ready
    /// within the start-up timeout; the message has the tail of its log.
    pub async fn restart(&mut self) -> Result<()> {
        self.node.stop().await?;
        self.node.mark_log("restart");
        let deadline = Instant::now() + self.settings.startup_timeout;
        self.node.spawn(&self.launch).await?;
        match self.node.wait_ready(deadline, self.settings.startup_timeout).await {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.node.kill_now();
                Err(failure.error)
            }
        }
    }

    /// Sends a four-letter word (`ruok`, `srvr`, `mntr`, `cons`, `stat`, ...) and returns the
    /// whole answer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `cmd` is not four lowercase letters, [`Error::Io`] if the
    /// server cannot be reached, [`Error::Timeout`] if it does not answer within 5 s.
    pub async fn four_letter(&self, cmd: &str) -> Result<String> {
        probe::four_letter(self.port(), cmd).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A taken first port is replaced by a free one (the retry path of `start`).
    #[tokio::test]
    async fn port_conflict_on_a_picked_port_is_retried() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let zk = LocalZooKeeper::builder().first_port(port).start().await.unwrap();
        assert_ne!(zk.port(), port);
        assert_eq!(zk.four_letter("ruok").await.unwrap(), "imok");
        let log = std::fs::read_to_string(zk.log_path()).unwrap();
        assert!(log.contains("Address already in use"), "{log}");
        assert!(log.contains("start attempt 2"), "{log}");
    }

    /// The TLS store's password is in `zoo.cfg` only: not in the log, not on the JVM's command
    /// line, not in `Debug`.
    #[tokio::test]
    async fn tls_password_stays_out_of_the_log_and_the_command_line() {
        assert!(!LocalZooKeeper::builder().tls, "TLS is off by default");
        let zk = LocalZooKeeper::builder().tls(true).start().await.unwrap();
        let dir = zk.log_path().parent().unwrap().to_path_buf();
        let cfg = std::fs::read_to_string(dir.join("zoo.cfg")).unwrap();
        let password = cfg.lines().find_map(|l| l.strip_prefix("ssl.keyStore.password=")).unwrap().to_owned();
        assert_eq!(password.len(), 32, "{cfg}");
        let secure = zk.secure_port().unwrap();
        assert!(cfg.lines().any(|l| l == format!("secureClientPort={secure}")), "{cfg}");
        assert_eq!(zk.secure_connect_string(), Some(format!("127.0.0.1:{secure}")));
        assert_ne!(secure, zk.port());
        assert_eq!(zk.tls_ca_pem().unwrap(), std::fs::read_to_string(dir.join("ca.pem")).unwrap());
        let log = std::fs::read_to_string(zk.log_path()).unwrap();
        assert!(!log.contains(&password), "{log}");
        // ZooKeeper 3.8 logs this when the trust store has no trusted entry; and the readiness
        // check must not leave "Unsuccessful handshake" errors behind.
        assert!(!log.contains("trustAnchors") && !log.contains(" ERROR "), "{log}");
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", zk.pid().unwrap())).unwrap();
        assert!(!String::from_utf8_lossy(&cmdline).contains(&password));
        assert!(!format!("{zk:?}").contains(&password));
    }

    /// A taken fixed port is an error naming it, before any JVM starts (another server
    /// answering on it is never taken for ours).
    #[tokio::test]
    async fn taken_fixed_port_is_an_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = LocalZooKeeper::builder().port(port).start().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Start { .. }), "{err:?}");
        assert!(text.contains(&format!("port {port} of 127.0.0.1 is in use")), "{text}");
    }
}
