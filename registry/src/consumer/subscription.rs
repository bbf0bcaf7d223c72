//! The consumer side: a [`Subscription`] follows one service's providers and keeps a lock-free,
//! load-balanced [`ProviderSet`] of them (see [`Directory`] for how a read becomes a set).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::{Directory, ProviderChanges, ProviderSet, ProviderSource, Selected, Selector, SubscribeOptions};
use crate::error::{Error, Result};
use crate::layout::{Layout, Source};
use crate::session::{lock, EphemeralNode, Session};
use crate::url::ServiceUrl;

/// A live, load-balanced view of one service's providers. Dropping it stops the watch (and
/// deregisters the consumer node).
///
/// The streams and pickers made from it ([`Subscription::changes`], [`Subscription::selector`],
/// [`Subscription::discover`]) keep it running: the watch stops when the last of them and the
/// subscription are gone, so a balancer built from `discover()` never freezes because the
/// `Subscription` went out of scope.
pub struct Subscription {
    dir: Arc<Directory>,
    running: Arc<Running>,
}

/// What keeps a subscription's watch running: its tasks (aborted on drop), its consumer node
/// and its session.
pub(crate) struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    consumer: Option<EphemeralNode>,
    /// The consumer nodes in the other sources of a union.
    _more_consumers: Vec<EphemeralNode>,
    _session: Session,
}

/// A handle that keeps a subscription's watch running (held by its streams and pickers).
pub(crate) type KeepAlive = Arc<dyn std::any::Any + Send + Sync>;

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("service", &self.dir.service)
            .field("providers", &self.dir.cache.load().len())
            .finish()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Subscription {
    /// The service followed.
    pub fn service(&self) -> &str {
        &self.dir.service
    }

    /// The current provider set.
    pub fn current(&self) -> Arc<ProviderSet> {
        self.dir.cache.load_full()
    }

    /// Picks a provider by the subscription's balancer, or `None` when there is none.
    ///
    /// Lock-free and without a write to shared memory: the thread picks from its own copy of
    /// the current set, checked with one atomic load. After each update, a thread's first pick
    /// takes the new set (one small allocation); the picks after it allocate nothing. The
    /// [`Selected`] it returns is not `Send`: clone the [`Provider`](super::Provider) to keep it across an
    /// `.await` in a spawned task.
    #[inline]
    pub fn select(&self) -> Option<Selected> {
        self.dir.cache.select(None)
    }

    /// Picks a provider for `key` (sticky with [`LoadBalance::ConsistentHash`](super::LoadBalance::ConsistentHash)).
    #[inline]
    pub fn select_by_key(&self, key: &[u8]) -> Option<Selected> {
        self.dir.cache.select(Some(key))
    }

    /// Picks a provider for a request with this context, following the service's traffic
    /// rules: a tagged request goes to the providers of its tag (see [`crate::TagRouting`]),
    /// a keyed one stays in the same group of the rules' [`crate::Split`] and, with
    /// [`LoadBalance::ConsistentHash`](super::LoadBalance::ConsistentHash), on the same
    /// provider. Without routing rules it costs what [`Subscription::select_by_key`] costs.
    /// `None` when the request's route has no provider.
    ///
    /// ```no_run
    /// # fn f(sub: &zkmesh_registry::Subscription) {
    /// use zkmesh_registry::RequestContext;
    /// let picked = sub.select_with(&RequestContext::new().tag("canary").key(b"user-42"));
    /// # }
    /// ```
    #[inline]
    pub fn select_with(&self, context: &crate::RequestContext<'_>) -> Option<Selected> {
        self.dir.cache.select_with(context)
    }

    /// The traffic rules this subscription's sets are built with: the last good document
    /// read from `<root>/<service>/rules` (empty when there is none). A subscription that
    /// booted from its disk snapshot uses the rules saved with it until ZooKeeper answers.
    pub fn rules(&self) -> Arc<crate::Rules> {
        lock(&self.dir.rules).rules.clone()
    }

    /// The ZooKeeper version of the rules document in force (`None`: no document).
    pub fn rules_version(&self) -> Option<i32> {
        lock(&self.dir.rules).version
    }

    /// Why the latest rules document read was refused ([`Error::InvalidRules`] with its path,
    /// version, line and column) or could not be read; `None` once a good one is read. The
    /// last good rules stay in force meanwhile.
    pub fn rules_error(&self) -> Option<Error> {
        lock(&self.dir.rules).error.clone()
    }

    /// A picker owned by one thread or task: [`Selector::select`] checks the current set with
    /// one atomic load, like [`Subscription::select`], and returns a plain borrow instead of a
    /// [`Selected`] (no per-thread table lookup). It sees every update the subscription applies.
    pub fn selector(&self) -> Selector {
        Selector::new(self.dir.cache.clone(), self.keep_alive())
    }

    /// A watch of the provider set: every update the subscription applies. Unlike
    /// [`Subscription::changes`], it does not keep the subscription running: once the
    /// subscription is dropped, `changed()` returns an error.
    pub fn updates(&self) -> watch::Receiver<Arc<ProviderSet>> {
        self.dir.updates.subscribe()
    }

    /// Waits until `pred` holds for the provider set, and returns that set.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`, naming the service.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&ProviderSet) -> bool,
    ) -> Result<Arc<ProviderSet>> {
        let mut rx = self.updates();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await;
        match waited {
            Ok(Ok(set)) => Ok(set.clone()),
            _ => Err(Error::Timeout {
                what: format!(
                    "providers of {} to reach a state (now {})",
                    self.dir.service,
                    self.current().len()
                ),
                after: timeout,
            }),
        }
    }

    /// Additions and removals, as a stream; the first items add every current provider.
    pub fn changes(&self) -> ProviderChanges {
        ProviderChanges::new(self.updates(), self.keep_alive())
    }

    /// A handle that keeps this subscription's watch running.
    pub(crate) fn keep_alive(&self) -> KeepAlive {
        self.running.clone()
    }

    /// Times empty protection kept the last list instead of an empty one.
    pub fn empty_refusals(&self) -> u64 {
        self.dir.empty_refusals.load(Ordering::Relaxed)
    }

    /// The error met reading or writing the disk snapshot, if any (it was ignored).
    pub fn snapshot_error(&self) -> Option<Error> {
        lock(&self.dir.snapshot_error).clone()
    }

    /// The layout the providers are read in (the first source's, for a union).
    pub fn layout(&self) -> Layout {
        self.dir.layout
    }

    /// This consumer's node under `<root>/<service>/consumers`, when registered (the first
    /// source's, for a union).
    pub fn consumer_node(&self) -> Option<&EphemeralNode> {
        self.running.consumer.as_ref()
    }
}

/// Settings the [`crate::Registry`] passes down.
pub(crate) struct RegistryDefaults {
    pub(crate) root: String,
    pub(crate) layout: Layout,
    pub(crate) register_consumers: bool,
    pub(crate) consumer_host: String,
    pub(crate) snapshot_dir: Option<PathBuf>,
}

/// [`crate::Registry::subscribe_with`].
pub(crate) async fn subscribe(
    session: &Session,
    defaults: &RegistryDefaults,
    service: &str,
    options: SubscribeOptions,
) -> Result<Subscription> {
    Ok(start(session, defaults, service, options, false).await?.0)
}

/// [`crate::Registry::subscribe_fed`].
pub(crate) async fn subscribe_fed(
    session: &Session,
    defaults: &RegistryDefaults,
    service: &str,
    options: SubscribeOptions,
) -> Result<(Subscription, super::ProviderFeed)> {
    let (subscription, dir) = start(session, defaults, service, options, true).await?;
    Ok((subscription, super::ProviderFeed::new(dir)))
}

/// Starts a subscription; `fed`: its provider names come from a [`super::ProviderFeed`]
/// (no watch of its own, no wait for a first listing).
async fn start(
    session: &Session,
    defaults: &RegistryDefaults,
    service: &str,
    mut options: SubscribeOptions,
    fed: bool,
) -> Result<(Subscription, Arc<Directory>)> {
    crate::url::validate_service_name(service)?;
    if options.snapshot_dir.is_none() {
        options.snapshot_dir = defaults.snapshot_dir.clone();
    }
    if options.sources.is_empty() {
        options.sources.push(Source { layout: defaults.layout, root: defaults.root.clone() });
    }
    let sources = options.sources.clone();
    // The consumer's parameters, what the rules' conditions match.
    let consumer_params = match &options.consumer_url {
        Some(url) => url.params().clone(),
        None => default_consumer_url(&defaults.consumer_host, service)?.params().clone(),
    };
    let dir = Directory::new(service, session.environment().clone(), options.clone(), sources[0].layout);
    let dir = Arc::new(dir.with_consumer(consumer_params));
    let mut first = dir.updates.subscribe();
    let mut rules_read = dir.rules_read.subscribe();
    if fed && (sources.len() != 1 || sources[0].layout != Layout::Zkmesh) {
        let reason = "a fed subscription follows one zkmesh-layout source".into();
        return Err(Error::InvalidArgument { what: format!("sources of {service}"), reason });
    }
    let mut tasks = if sources.len() == 1 {
        spawn_tasks(session, &dir, sources[0].clone(), fed)
    } else {
        super::union::spawn_tasks(session, &dir, &sources)
    };
    tasks.extend(follow_rules(session, &dir, &sources));
    tasks.extend(publish_ejections(session, defaults, &options, &dir, &sources));

    tracing::info!(%service, ?sources, balance = ?options.balance, watch = ?options.watch, "subscribed");
    // Wait for ZooKeeper's answer; fall back to the disk snapshot.
    // Only whether it timed out: the `watch::Ref` it would hold is not `Send` and must not live
    // across the awaits below (the future of `subscribe_with` would not be `Send`).
    let deadline = tokio::time::Instant::now() + options.startup_timeout;
    let timed_out = !fed
        && tokio::time::timeout_at(deadline, first.wait_for(|s| s.source() != ProviderSource::Empty))
            .await
            .is_err();
    if timed_out {
        dir.boot_from_disk();
    }
    // The rules are read alongside; a consumer does not start on rules it has not read, unless
    // ZooKeeper does not answer (then it starts without), within the same start-up timeout.
    let _ = tokio::time::timeout_at(deadline, rules_read.wait_for(|read| *read)).await;
    let mut consumers = register_consumers(session, defaults, &options, service, &sources).await?.into_iter();
    let consumer = consumers.next();
    let running =
        Running { tasks, consumer, _more_consumers: consumers.collect(), _session: session.clone() };
    Ok((Subscription { dir: dir.clone(), running: Arc::new(running) }, dir))
}

/// The watch of the service's rules: a zkmesh-layout document, the first zkmesh source's
/// `<root>/<service>/rules` (Dubbo's layout has its configurators instead, Curator's nothing;
/// without a zkmesh source there are no rules to wait for).
fn follow_rules(
    session: &Session,
    dir: &Arc<Directory>,
    sources: &[Source],
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(source) = sources.iter().find(|s| s.layout == Layout::Zkmesh) else {
        dir.rules_read.send_replace(true);
        return None;
    };
    let rules_path = crate::session::join(&crate::session::join(&source.root, &dir.service), "rules");
    Some(tokio::spawn(super::rules_watch::follow(session.core(), dir.clone(), rules_path)))
}

/// The publisher of the consumer's ejections (`health_status.rs`) under the first zkmesh
/// source, when [`SubscribeOptions::publish_ejections`] is on (default: when consumers register).
fn publish_ejections(
    session: &Session,
    defaults: &RegistryDefaults,
    options: &SubscribeOptions,
    dir: &Arc<Directory>,
    sources: &[Source],
) -> Option<tokio::task::JoinHandle<()>> {
    let registers = options.register_consumer.unwrap_or(defaults.register_consumers);
    if !options.publish_ejections.unwrap_or(registers) {
        return None;
    }
    let source = sources.iter().find(|s| s.layout == Layout::Zkmesh)?;
    let ejected = dir.outliers.ejected.subscribe();
    Some(super::health_status::spawn(session, &source.root, &dir.service, ejected))
}

/// The subscription's tasks: the watch of `source` (its layout's, `membership.rs`; none when
/// `fed`), the warm-up ticker, the settler (`one_change.rs`), the ejector and, with a snapshot
/// directory, the disk writer.
fn spawn_tasks(
    session: &Session,
    dir: &Arc<Directory>,
    source: Source,
    fed: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if !fed {
        tasks.push(tokio::spawn(super::membership::follow_source(session.core(), dir.clone(), source)));
    }
    tasks.push(tokio::spawn(super::directory::warmup_ticker(dir.clone())));
    tasks.push(tokio::spawn(super::one_change::settler(dir.clone())));
    tasks.push(tokio::spawn(super::ejector::run(dir.clone())));
    if let Some(snapshot_dir) = dir.options.snapshot_dir.clone() {
        tasks.push(tokio::spawn(super::directory::snapshot_writer(dir.clone(), snapshot_dir)));
    }
    tasks
}

/// The consumer's nodes in every source that has them ([`register_consumer`]).
async fn register_consumers(
    session: &Session,
    defaults: &RegistryDefaults,
    options: &SubscribeOptions,
    service: &str,
    sources: &[Source],
) -> Result<Vec<EphemeralNode>> {
    let mut consumers = Vec::new();
    for source in sources {
        consumers.extend(register_consumer(session, defaults, options, service, source).await?);
    }
    Ok(consumers)
}

/// The consumer's own ephemeral node under `<service>/consumers` of `source`, when consumers
/// register and the layout has consumer nodes.
async fn register_consumer(
    session: &Session,
    defaults: &RegistryDefaults,
    options: &SubscribeOptions,
    service: &str,
    source: &Source,
) -> Result<Option<EphemeralNode>> {
    if !options.register_consumer.unwrap_or(defaults.register_consumers) || !source.layout.has_consumers() {
        return Ok(None);
    }
    let url = match (options.consumer_url.clone(), source.layout) {
        (Some(url), _) => url,
        (None, Layout::Dubbo) => crate::layout::dubbo_consumer_url(&defaults.consumer_host, service)?,
        (None, _) => default_consumer_url(&defaults.consumer_host, service)?,
    };
    let Some(path) = crate::layout::consumer_registration(source.layout, &source.root, &url) else {
        return Ok(None);
    };
    Ok(Some(session.create_ephemeral(&path, b"").await?))
}

fn default_consumer_url(host: &str, service: &str) -> Result<ServiceUrl> {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    ServiceUrl::new(crate::url::CONSUMER_SCHEME, host, 0, service)?
        .with_param("pid", std::process::id())?
        .with_param("side", "consumer")?
        .with_param("timestamp", now)
}
