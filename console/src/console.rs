//! [`Console`], its builder and the handle of a running console.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use config_center::{ConfigCenter, RulesStore};
use registry::{Layout, Registry, Session};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// The default address: loopback only, port 9090.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";

/// The default largest request body the API reads (bytes): a config document near
/// ZooKeeper's 1 MiB limit, JSON-escaped, fits.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// The roots the recipes crate keeps its recipes under (watched for `recipes` events).
const RECIPE_ROOTS: [&str; 7] =
    ["/election", "/locks", "/queues", "/barriers", "/jobs", "/semaphores", "/groups"];

/// The web console: see [`Console::builder`].
#[derive(Debug)]
pub struct Console(());

impl Console {
    /// A builder with the defaults: loopback port 9090, read-only, the zkmesh layout under
    /// `/services`, config under `/config`.
    pub fn builder() -> ConsoleBuilder {
        ConsoleBuilder::default()
    }
}

/// Builder for a console: [`ConsoleBuilder::serve`] starts it.
#[derive(Debug, Clone)]
pub struct ConsoleBuilder {
    listen: SocketAddr,
    write_token: Option<String>,
    root: Option<String>,
    layout: Layout,
    config_root: String,
    recipes: Vec<String>,
    max_body: usize,
    keep_alive: Duration,
}

impl Default for ConsoleBuilder {
    fn default() -> Self {
        ConsoleBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            write_token: None,
            root: None,
            layout: Layout::Zkmesh,
            config_root: config_center::DEFAULT_ROOT.to_owned(),
            recipes: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            keep_alive: crate::events::KEEP_ALIVE,
        }
    }
}

impl ConsoleBuilder {
    /// The address to listen on (port 0: any free port, see [`ConsoleHandle::local_addr`]).
    /// Default: `127.0.0.1:9090`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The token every write must carry as `Authorization: Bearer <token>`; `None` makes the
    /// console read-only (every write is refused with 403). Default: `None`.
    pub fn write_token(mut self, token: Option<String>) -> Self {
        self.write_token = token;
        self
    }

    /// The root services live under. Default: the layout's own (`/services`, or `/dubbo`).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = Some(root.into());
        self
    }

    /// The layout the root is read in. Default: [`Layout::Zkmesh`].
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// The root of the config tree. Default: `/config`.
    pub fn config_root(mut self, root: impl Into<String>) -> Self {
        self.config_root = root.into();
        self
    }

    /// Where the recipes live: paths scanned for elections, locks, queues, barriers and jobs
    /// (see `console/API.md`). Default: none (the recipes' conventional roots).
    pub fn recipes(mut self, paths: Vec<String>) -> Self {
        self.recipes = paths;
        self
    }

    /// The largest request body read, in bytes (larger ones get 413). Default:
    /// [`DEFAULT_MAX_BODY`].
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How often an idle event stream (`GET /api/events`) gets a keep-alive comment.
    /// Default: 15 s.
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = every;
        self
    }

    /// Binds the listen address and serves the console on `session` until the handle is shut
    /// down or dropped.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address cannot be bound; [`Error::InvalidSetting`] for an
    /// empty write token or a root that is not an absolute ZooKeeper path.
    pub async fn serve(self, session: Session) -> Result<ConsoleHandle> {
        let state = Arc::new(self.state(session)?);
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| Error::Bind { addr: self.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind { addr: self.listen, source })?;
        let (stop, stopped) = watch::channel(false);
        let roots = crate::events::Roots {
            services: state.registry.root().to_owned(),
            config: state.config.root().to_owned(),
            recipes: RECIPE_ROOTS
                .iter()
                .map(|r| (*r).to_owned())
                .chain(self.recipes.iter().cloned())
                .collect(),
        };
        let events = tokio::spawn(crate::events::watch(
            state.session.clone(),
            roots,
            state.events.clone(),
            state.live.clone(),
        ));
        let accept = tokio::spawn(crate::server::accept_loop(listener, state, stopped));
        tracing::info!(%local_addr, "zkmesh console serving");
        Ok(ConsoleHandle { local_addr, stop, accept: Some(accept), events })
    }

    /// What the request handlers share.
    fn state(&self, session: Session) -> Result<State> {
        if self.write_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            let reason = "an empty token would let anyone write".to_owned();
            return Err(Error::InvalidSetting { setting: "write_token", reason });
        }
        let invalid =
            |setting, e: &dyn std::fmt::Display| Error::InvalidSetting { setting, reason: e.to_string() };
        let mut builder = Registry::builder().register_consumers(false).layout(self.layout);
        if let Some(root) = &self.root {
            registry::validate_path(root).map_err(|e| invalid("root", &e))?;
            builder = builder.root(root);
        }
        let registry = builder.build(session.clone()).map_err(|e| invalid("root", &e))?;
        let rules =
            RulesStore::with_root(session.clone(), registry.root()).map_err(|e| invalid("root", &e))?;
        let config = ConfigCenter::builder()
            .root(self.config_root.clone())
            .fleet_status(false)
            .build(session.clone())
            .map_err(|e| invalid("config_root", &e))?;
        // The rules documents are config documents under the registry root (see RulesStore).
        let rules_history = ConfigCenter::builder()
            .root(registry.root())
            .fleet_status(false)
            .build(session.clone())
            .map_err(|e| invalid("root", &e))?;
        for path in &self.recipes {
            registry::validate_path(path).map_err(|e| invalid("recipes", &e))?;
        }
        Ok(State {
            session,
            registry,
            rules,
            rules_history,
            config,
            write_token: self.write_token.clone(),
            recipes: self.recipes.clone(),
            max_body: self.max_body,
            keep_alive: self.keep_alive,
            events: crate::events::channel(),
            live: Arc::default(),
        })
    }
}

/// What every request handler reads: the session, the stores on it and the settings.
#[derive(Debug)]
pub(crate) struct State {
    /// The console's own ZooKeeper session (its credentials never leave it).
    pub session: Session,
    /// The services root, read in the configured layout.
    pub registry: Registry,
    /// The services' rules documents.
    pub rules: RulesStore,
    /// The rules documents read as config documents (service = namespace, `rules` = name),
    /// for their history with the current version.
    pub rules_history: ConfigCenter,
    /// The config tree.
    pub config: ConfigCenter,
    /// The write token, if writes are allowed.
    pub write_token: Option<String>,
    /// Where the recipes live (empty: their conventional roots).
    pub recipes: Vec<String>,
    /// The largest request body read.
    pub max_body: usize,
    /// How often an idle event stream gets a keep-alive comment.
    pub keep_alive: Duration,
    /// What the console's watches saw, for the event streams.
    pub events: tokio::sync::broadcast::Sender<crate::events::Event>,
    /// Whether the watches that feed `events` are armed.
    pub live: Arc<std::sync::atomic::AtomicBool>,
}

/// A running console: its address, and [`ConsoleHandle::shutdown`]. Dropping it stops the
/// console too (without waiting).
#[derive(Debug)]
pub struct ConsoleHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    events: JoinHandle<()>,
}

impl ConsoleHandle {
    /// The address the console listens on (the port chosen when the builder asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, ends every open connection (event streams included) and waits until
    /// the server task is gone.
    pub async fn shutdown(mut self) {
        self.events.abort();
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

impl Drop for ConsoleHandle {
    fn drop(&mut self) {
        self.events.abort();
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
    }
}
