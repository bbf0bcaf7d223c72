//! The facade: a [`Registry`] is a session plus the service layout, for providers and consumers.

use std::path::PathBuf;
use std::time::Duration;

use crate::consumer::{RegistryDefaults, SubscribeOptions, Subscription};
use crate::error::{Error, Result};
use crate::registration::Registration;
use crate::session::{Session, SessionBuilder};
use crate::url::ServiceUrl;

/// The root under which services live (`/services/<service>/providers`, ...).
pub const DEFAULT_ROOT: &str = "/services";

/// Default of [`RegistryBuilder::consumer_host`].
pub const DEFAULT_CONSUMER_HOST: &str = "127.0.0.1";

/// Builder for [`Registry`]: [`connect`](RegistryBuilder::connect) opens a session with the
/// session settings given here; [`build`](RegistryBuilder::build) attaches to an existing one
/// (spelled as `config_center::ConfigCenterBuilder::build`).
#[derive(Debug, Clone)]
pub struct RegistryBuilder {
    session: SessionBuilder,
    /// Names of the session settings given to this builder, refused by `build`.
    session_settings: Vec<&'static str>,
    root: String,
    register_consumers: bool,
    consumer_host: String,
    snapshot_dir: Option<PathBuf>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            session: SessionBuilder::default(),
            session_settings: Vec::new(),
            root: DEFAULT_ROOT.into(),
            register_consumers: true,
            consumer_host: DEFAULT_CONSUMER_HOST.into(),
            snapshot_dir: None,
        }
    }
}

impl RegistryBuilder {
    /// ZooKeeper session timeout. Default: 10 s.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_settings.push("session_timeout");
        self.session = self.session.session_timeout(timeout);
        self
    }

    /// How long `connect` waits for the first session. Default: 15 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.session_settings.push("connect_timeout");
        self.session = self.session.connect_timeout(timeout);
        self
    }

    /// ZooKeeper authentication, e.g. `("digest", b"user:password")`. Default: none.
    pub fn auth(mut self, scheme: &str, credentials: &[u8]) -> Self {
        self.session_settings.push("auth");
        self.session = self.session.auth(scheme, credentials);
        self
    }

    /// TLS to ZooKeeper (see [`SessionBuilder::tls`]). Default: plain TCP. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, options: zookeeper_client::TlsOptions) -> Self {
        self.session_settings.push("tls");
        self.session = self.session.tls(options);
        self
    }

    /// The ACL of every node the registry creates (see [`SessionBuilder::acl`]). Default: open.
    pub fn acl(mut self, acl: crate::session::NodeAcl) -> Self {
        self.session_settings.push("acl");
        self.session = self.session.acl(acl);
        self
    }

    /// Crash semantics on close/drop (see [`SessionBuilder::detached`]). Default: false.
    pub fn detached(mut self, detached: bool) -> Self {
        self.session_settings.push("detached");
        self.session = self.session.detached(detached);
        self
    }

    /// Whether subscriptions register their consumer under `/services/<s>/consumers`. Default: on.
    pub fn register_consumers(mut self, on: bool) -> Self {
        self.register_consumers = on;
        self
    }

    /// The host written in default consumer URLs. Default: `127.0.0.1`.
    pub fn consumer_host(mut self, host: &str) -> Self {
        self.consumer_host = host.to_owned();
        self
    }

    /// Directory for provider-list snapshots (see [`SubscribeOptions::snapshot_dir`]). Default: none.
    pub fn snapshot_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.snapshot_dir = Some(dir.into());
        self
    }

    /// Connects and waits for the first ZooKeeper session.
    ///
    /// # Errors
    /// As [`SessionBuilder::connect`].
    pub async fn connect(self, connect: &str) -> Result<Registry> {
        let session = self.session.clone().connect(connect).await?;
        Ok(self.attach(session))
    }

    /// Returns at once and keeps connecting in the background: subscriptions then start from
    /// their disk snapshot while ZooKeeper is down.
    ///
    /// # Errors
    /// As [`SessionBuilder::connect_lazy`].
    pub fn connect_lazy(self, connect: &str) -> Result<Registry> {
        let session = self.session.clone().connect_lazy(connect)?;
        Ok(self.attach(session))
    }

    /// A registry on an existing session (shared with a config center or recipes). The session's
    /// settings are the session's own.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when session settings (`session_timeout`, `connect_timeout`,
    /// `auth`, `tls`, `acl`, `detached`) were given to this builder: they cannot apply to a
    /// session that is already open, so give them to [`Session::builder`] instead.
    pub fn build(self, session: Session) -> Result<Registry> {
        if !self.session_settings.is_empty() {
            return Err(Error::InvalidArgument {
                what: format!("RegistryBuilder::build with {}", self.session_settings.join(", ")),
                reason:
                    "session settings cannot apply to an existing session; give them to Session::builder()"
                        .into(),
            });
        }
        Ok(self.attach(session))
    }

    fn attach(self, session: Session) -> Registry {
        let defaults = RegistryDefaults {
            root: self.root,
            register_consumers: self.register_consumers,
            consumer_host: self.consumer_host,
            snapshot_dir: self.snapshot_dir,
        };
        Registry { session, defaults: std::sync::Arc::new(defaults) }
    }
}

/// Service registry and discovery on one logical ZooKeeper session.
///
/// ```no_run
/// # async fn demo() -> registry::Result<()> {
/// use registry::{Registry, ServiceUrl};
/// let registry = Registry::builder().connect("127.0.0.1:2181").await?;
/// let url = ServiceUrl::parse("http://10.0.0.5:8080/greeter?version=1.2&weight=100")?;
/// let registration = registry.register(&url).await?;
/// let greeter = registry.subscribe("greeter").await?;
/// if let Some(provider) = greeter.select() {
///     println!("call {}", provider.address());
/// }
/// registration.deregister().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Registry {
    session: Session,
    defaults: std::sync::Arc<RegistryDefaults>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("session", &self.session).finish()
    }
}

impl Registry {
    /// A builder with the defaults.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The logical session underneath.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Registers a provider URL (see [`Registration`]).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when a `timestamp` cannot be added; a non-retryable ZooKeeper
    /// error (such as `NoAuth`); [`Error::SessionClosed`]. While ZooKeeper is unreachable the
    /// registration is returned pending and retried.
    pub async fn register(&self, url: &ServiceUrl) -> Result<Registration> {
        crate::registration::register(&self.session, &self.defaults.root, url).await
    }

    /// Subscribes to a service with the default options.
    ///
    /// # Errors
    /// As [`Registry::subscribe_with`].
    pub async fn subscribe(&self, service: &str) -> Result<Subscription> {
        self.subscribe_with(service, SubscribeOptions::default()).await
    }

    /// Subscribes to a service: waits up to the startup timeout for ZooKeeper's list (falling
    /// back to the disk snapshot), then returns a live [`Subscription`].
    ///
    /// # Errors
    /// [`Error::InvalidServiceName`]; a non-retryable error registering the consumer node.
    pub async fn subscribe_with(&self, service: &str, options: SubscribeOptions) -> Result<Subscription> {
        crate::consumer::subscribe(&self.session, &self.defaults, service, options).await
    }

    /// Every service with a node under the services root.
    ///
    /// # Errors
    /// The ZooKeeper error when the list cannot be read.
    pub async fn services(&self) -> Result<Vec<String>> {
        let live = self.session.shared.live_now()?;
        match live.client.list_children(&self.defaults.root).await {
            Ok(mut names) => {
                names.sort();
                Ok(names)
            }
            Err(zookeeper_client::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(Error::zk("list_children", &self.defaults.root, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn build_on_a_session_refuses_session_settings_instead_of_ignoring_them() {
        let session = Session::builder().connect_lazy("127.0.0.1:1").expect("lazy session");
        let err = Registry::builder()
            .session_timeout(Duration::from_secs(3))
            .auth("digest", b"u:p")
            .build(session.clone())
            .expect_err("session settings on an existing session");
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
        assert!(text.contains("session_timeout, auth") && text.contains("Session::builder()"), "{text}");
        let registry =
            Registry::builder().register_consumers(false).build(session).expect("registry settings only");
        assert_eq!(registry.session().connect_string(), "127.0.0.1:1");
        registry.session().close().await;
    }
}
