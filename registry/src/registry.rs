//! The facade: a [`Registry`] is a session plus the service layout, for providers and consumers.

use std::path::PathBuf;
use std::time::Duration;

use crate::consumer::{RegistryDefaults, SubscribeOptions, Subscription};
use crate::error::{Error, Result};
use crate::layout::{Layout, ServiceListing};
use crate::registration::Registration;
use crate::session::{Session, SessionBuilder};
use crate::url::ServiceUrl;

/// The root under which services live (`/services/<service>/providers`, ...) by default, in the
/// zkmesh and Curator layouts (Dubbo's is `/dubbo`: [`Layout::default_root`]).
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
    /// `None`: the layout's default root.
    root: Option<String>,
    layout: Layout,
    register_consumers: bool,
    consumer_host: String,
    snapshot_dir: Option<PathBuf>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            session: SessionBuilder::default(),
            session_settings: Vec::new(),
            root: None,
            layout: Layout::default(),
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

    /// The root under which services are registered and read (`<root>/<service>/...`),
    /// relative to the connect string's chroot. Default: the layout's own root, `/services`
    /// for zkmesh and Curator, `/dubbo` for Dubbo ([`Layout::default_root`]).
    pub fn root(mut self, root: &str) -> Self {
        self.root = Some(root.to_owned());
        self
    }

    /// How services are written under the root ([`Layout`]): registrations use it, and so do
    /// subscriptions unless they name their own sources
    /// ([`SubscribeOptions::source`](crate::SubscribeOptions::source)). Default: [`Layout::Zkmesh`].
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
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
        self.check_root()?;
        let session = self.session.clone().connect(connect).await?;
        self.attach(session)
    }

    /// Returns at once and keeps connecting in the background: subscriptions then start from
    /// their disk snapshot while ZooKeeper is down.
    ///
    /// # Errors
    /// As [`SessionBuilder::connect_lazy`].
    pub fn connect_lazy(self, connect: &str) -> Result<Registry> {
        self.check_root()?;
        let session = self.session.clone().connect_lazy(connect)?;
        self.attach(session)
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
        self.attach(session)
    }

    /// [`Error::InvalidPath`] for a root that is no absolute ZooKeeper path.
    fn check_root(&self) -> Result<()> {
        match &self.root {
            Some(root) => crate::session::validate_path(root),
            None => Ok(()),
        }
    }

    fn attach(self, session: Session) -> Result<Registry> {
        self.check_root()?;
        let defaults = RegistryDefaults {
            root: self.root.unwrap_or_else(|| self.layout.default_root().to_owned()),
            layout: self.layout,
            register_consumers: self.register_consumers,
            consumer_host: self.consumer_host,
            snapshot_dir: self.snapshot_dir,
        };
        Ok(Registry { session, defaults: std::sync::Arc::new(defaults) })
    }
}

/// Service registry and discovery on one logical ZooKeeper session.
///
/// ```no_run
/// # async fn demo() -> zkmesh_registry::Result<()> {
/// use zkmesh_registry::{Registry, ServiceUrl};
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

    /// The root services are registered and read under.
    pub fn root(&self) -> &str {
        &self.defaults.root
    }

    /// The layout registrations are written in (and subscriptions read by default).
    pub fn layout(&self) -> Layout {
        self.defaults.layout
    }

    /// Registers a provider URL (see [`Registration`]) in the registry's layout under its root.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when a `timestamp` cannot be added; a non-retryable ZooKeeper
    /// error (such as `NoAuth`); [`Error::SessionClosed`]. While ZooKeeper is unreachable the
    /// registration is returned pending and retried.
    pub async fn register(&self, url: &ServiceUrl) -> Result<Registration> {
        crate::registration::register(&self.session, self.defaults.layout, &self.defaults.root, url).await
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

    /// Subscribes to `service` without a watch of its own: its provider node names come from
    /// the [`ProviderFeed`](crate::ProviderFeed) returned, for a follower that watches many
    /// services with one persistent recursive watch ([`crate::TreeWatch`]) on the root.
    /// Returns at once (the set is empty until the feed lists the providers); the rules are
    /// followed as by [`Registry::subscribe_with`].
    ///
    /// # Errors
    /// As [`Registry::subscribe_with`]; [`Error::InvalidArgument`] when `options` name sources
    /// other than one in the zkmesh layout.
    pub async fn subscribe_fed(
        &self,
        service: &str,
        options: SubscribeOptions,
    ) -> Result<(Subscription, crate::ProviderFeed)> {
        crate::consumer::subscribe_fed(&self.session, &self.defaults, service, options).await
    }

    /// Every service under the registry's root, sorted by name, with the layouts it is written
    /// in and its counts ([`ServiceListing`]): a Curator service shows its instances, not an
    /// empty zkmesh service. Reads each Curator instance once (concurrently).
    ///
    /// # Errors
    /// The ZooKeeper error when a list cannot be read; [`Error::SessionClosed`].
    pub async fn services(&self) -> Result<Vec<ServiceListing>> {
        let live = self.session.shared.live_now()?;
        crate::layout::list_services(&live.client, &self.defaults.root, self.defaults.layout).await
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
