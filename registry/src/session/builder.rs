//! [`SessionBuilder`]: how a logical session connects.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use zookeeper_client::Acl;

use super::environment::split_connect_string;
use super::handle::OwnerGuard;
use super::supervisor::supervise;
use super::{NodeAcl, Session, SessionCore, SessionState};
use crate::error::{Error, Result};

/// Builder for [`Session`]. Its `Debug` never shows credentials.
#[derive(Clone)]
pub struct SessionBuilder {
    pub(crate) session_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) auth: Vec<(String, Vec<u8>)>,
    pub(crate) create_chroot: bool,
    pub(crate) detached: bool,
    pub(crate) acl: NodeAcl,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<zookeeper_client::TlsOptions>,
    /// Whether the TLS options carry a client certificate (for messages only).
    pub(crate) tls_identity: bool,
    /// SASL DIGEST-MD5 user and password.
    #[cfg(feature = "sasl")]
    pub(crate) sasl: Option<(String, String)>,
    /// SASL GSSAPI (Kerberos): `Some(host)` on, with the service principal's host if given.
    #[cfg(feature = "gssapi")]
    pub(crate) gssapi: Option<Option<String>>,
}

impl std::fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let schemes: Vec<&str> = self.auth.iter().map(|(scheme, _)| scheme.as_str()).collect();
        f.debug_struct("SessionBuilder")
            .field("session_timeout", &self.session_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("auth_schemes", &schemes)
            .field("sasl_user", &self.sasl_user())
            .field("acl", &self.acl)
            .field("detached", &self.detached)
            .field("tls", &self.uses_tls())
            .finish_non_exhaustive()
    }
}

/// Default of [`SessionBuilder::session_timeout`].
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`SessionBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default shortest delay of [`SessionBuilder::retry_backoff`].
pub const DEFAULT_RETRY_MIN: Duration = Duration::from_millis(50);
/// Default longest delay of [`SessionBuilder::retry_backoff`].
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(2);

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff_min: DEFAULT_RETRY_MIN,
            backoff_max: DEFAULT_RETRY_MAX,
            auth: Vec::new(),
            create_chroot: true,
            detached: false,
            acl: NodeAcl::Open,
            #[cfg(feature = "tls")]
            tls: None,
            tls_identity: false,
            #[cfg(feature = "sasl")]
            sasl: None,
            #[cfg(feature = "gssapi")]
            gssapi: None,
        }
    }
}

impl SessionBuilder {
    /// Session timeout asked of ZooKeeper (which clamps it to its own min/max). Default: 10 s.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long [`SessionBuilder::connect`] waits for the first session. Default: 15 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Shortest and longest delay between attempts to open a new session while ZooKeeper is
    /// unreachable. Default: 50 ms doubling up to 2 s.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// Adds authentication (for example `("digest", b"user:password")`), sent on every session
    /// this logical session opens. Default: none.
    pub fn auth(mut self, scheme: &str, credentials: &[u8]) -> Self {
        self.auth.push((scheme.to_owned(), credentials.to_vec()));
        self
    }

    /// Whether a chroot in the connect string (`host:port/prefix`) is created when missing.
    /// Default: true.
    pub fn create_chroot(mut self, create: bool) -> Self {
        self.create_chroot = create;
        self
    }

    /// Connects over TLS with these options (CA certificates, optional client identity); every
    /// server of the connect string must then be a TLS port (ZooKeeper's `secureClientPort`).
    /// Default: plain TCP. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, options: zookeeper_client::TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// Connects over TLS presenting a client certificate (PEM certificate chain and private key)
    /// signed by a CA the server trusts, with `ca_pem` as the CA to trust: mutual TLS.
    /// ZooKeeper's `x509` scheme then knows the session by the certificate's subject (ACL entries
    /// `x509:CN=...`). Default: none. Feature `tls`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a PEM does not parse (the message never quotes the key).
    #[cfg(feature = "tls")]
    pub fn tls_client_certificate(mut self, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Self> {
        let invalid = |what: &str, e: zookeeper_client::Error| Error::InvalidArgument {
            what: what.to_owned(),
            reason: format!("does not parse as PEM ({e})"),
        };
        let options = zookeeper_client::TlsOptions::new()
            .with_pem_ca(ca_pem)
            .map_err(|e| invalid("TLS CA certificate", e))?
            .with_pem_identity(cert_pem, key_pem)
            .map_err(|_| Error::InvalidArgument {
                what: "TLS client certificate and key".into(),
                reason: "do not parse as a PEM certificate chain and a PEM private key".into(),
            })?;
        self.tls = Some(options);
        self.tls_identity = true;
        Ok(self)
    }

    /// Authenticates every ZooKeeper session with SASL DIGEST-MD5 as `user` (a user of the
    /// server's JAAS `Server` section); ACL entries then name it `sasl:<user>`. The password is
    /// kept in memory only and never shown by `Debug`. Default: none. Feature `sasl`.
    #[cfg(feature = "sasl")]
    pub fn sasl_digest_md5(mut self, user: &str, password: &str) -> Self {
        self.sasl = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Authenticates every ZooKeeper session with SASL GSSAPI (Kerberos), with the ticket of the
    /// credentials cache (`KRB5CCNAME`, as `kinit` leaves it; `KRB5_CONFIG` for the realm),
    /// for the service principal `zookeeper/<host>`: `host` if given, else the host of the
    /// connect string. ACL entries then name the client's principal, `sasl:<principal>`.
    /// Default: off. Feature `gssapi` (builds against MIT Kerberos: `libkrb5-dev`).
    #[cfg(feature = "gssapi")]
    pub fn sasl_gssapi(mut self, host: Option<&str>) -> Self {
        self.gssapi = Some(host.map(str::to_owned));
        self
    }

    /// The SASL user, if any.
    pub(crate) fn sasl_user(&self) -> Option<&str> {
        #[cfg(feature = "sasl")]
        return self.sasl.as_ref().map(|(user, _)| user.as_str());
        #[cfg(not(feature = "sasl"))]
        None
    }

    pub(crate) fn has_tls_identity(&self) -> bool {
        self.tls_identity
    }

    /// The identities this builder authenticates as, named without secrets (`digest:team`,
    /// `sasl:alice`, `TLS client certificate`); empty without credentials.
    pub fn identities(&self) -> Vec<String> {
        super::configured_identity(self)
    }

    fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The ACL of every node this session creates (registrations and their parents, config
    /// documents, recipe nodes, the chroot). Default: [`NodeAcl::Open`].
    pub fn acl(mut self, acl: NodeAcl) -> Self {
        self.acl = acl;
        self
    }

    /// Whether closing (or dropping) the session leaves the ZooKeeper session to expire on the
    /// server's timeout instead of closing it, as a crashed process would: its ephemerals stay
    /// until then. For crash drills and demos. Default: false (close, ephemerals go at once).
    pub fn detached(mut self, detached: bool) -> Self {
        self.detached = detached;
        self
    }

    /// Connects to `connect` (`host:port[,host:port…][/chroot]`) and waits for the first session.
    ///
    /// When every host refuses the connection (nothing listens there: ZooKeeper is not running,
    /// or the port is wrong), or ZooKeeper refuses the credentials (a wrong SASL password), it
    /// fails at once, saying so, rather than waiting out the connect timeout; use [`SessionBuilder::connect_lazy`] to start before ZooKeeper does.
    ///
    /// # Errors
    /// [`Error::Connect`] with the reason (connection refused at which hosts, or no session
    /// within the connect timeout, with the last client error as the source);
    /// [`Error::InvalidPath`] for a malformed connect string.
    pub async fn connect(self, connect: &str) -> Result<Session> {
        let timeout = self.connect_timeout;
        let tls = self.uses_tls();
        let session = self.connect_lazy(connect)?;
        let mut states = session.shared.state.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            tokio::select! {
                _ = states.wait_for(|s| s.is_connected()) => None,
                refused = refused_everywhere(&session.shared) => Some(refused),
            }
        })
        .await;
        let reason = match waited {
            Ok(None) => return Ok(session),
            Ok(Some(refused)) => refused,
            Err(_) => format!("no session within {timeout:?}"),
        };
        let source = session.shared.last_error().unwrap_or(zookeeper_client::Error::Timeout);
        session.close().await;
        if tls {
            tracing::warn!(
                %connect,
                "TLS connection failed: check that these are TLS ports (secureClientPort) and the CA; \
                 RUST_LOG=zookeeper_client=debug shows the handshake error"
            );
        }
        Err(Error::Connect { connect: connect.to_owned(), reason, source })
    }

    /// Returns at once with a session in state [`SessionState::Connecting`] that keeps trying to
    /// connect in the background (for booting from a disk snapshot while ZooKeeper is down).
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for a malformed chroot.
    pub fn connect_lazy(self, connect: &str) -> Result<Session> {
        let (hosts, chroot) = split_connect_string(connect)?;
        let (state, _) = watch::channel(SessionState::Connecting);
        let (live, _) = watch::channel(None);
        let (events, _) = broadcast::channel(64);
        let (closed, _) = watch::channel(false);
        let acls: Arc<[Acl]> = self.acl.entries().into();
        let environment = super::Environment::of(connect)?;
        let shared = Arc::new(SessionCore {
            connect: connect.to_owned(),
            environment,
            hosts,
            chroot,
            options: self,
            state,
            events,
            live,
            closed,
            ephemerals: Mutex::new(HashMap::new()),
            next_ephemeral: AtomicU64::new(1),
            past_sessions: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            reads: AtomicU64::new(0),
            persistent_watches_refused: std::sync::atomic::AtomicBool::new(false),
            acls,
            watch_permits: tokio::sync::Semaphore::new(crate::session::WATCHES_IN_FLIGHT),
        });
        tokio::spawn(supervise(shared.clone()));
        Ok(Session { shared: shared.clone(), _owner: Arc::new(OwnerGuard(shared)) })
    }
}

/// Resolves (with the reason) once an attempt to open a session has failed for the credentials,
/// or the first failed attempt finds every host refusing a TCP connection; never while some
/// host accepts one or does not answer (then only refused credentials end it early: a first
/// attempt may fail otherwise, e.g. a handshake cut short, and a later one on the credentials).
async fn refused_everywhere(shared: &SessionCore) -> String {
    const PROBE: Duration = Duration::from_secs(1);
    let mut probed = false;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        match shared.last_error() {
            None => continue,
            Some(zookeeper_client::Error::AuthFailed) => {
                let who = super::describe_identity(None, &shared.options);
                return format!("ZooKeeper refused the credentials of {who} (authentication failed)");
            }
            Some(_) if probed => continue,
            Some(_) => probed = true,
        }
        let hosts: Vec<&str> = shared.hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
        let mut refused = 0;
        for host in &hosts {
            match tokio::time::timeout(PROBE, tokio::net::TcpStream::connect(host)).await {
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                _ => break,
            }
        }
        if refused == hosts.len() {
            return format!("connection refused at {} (is ZooKeeper running there?)", hosts.join(", "));
        }
        // Some host listens (or does not answer): the connect timeout ends the wait, unless
        // the credentials are refused first.
    }
}
