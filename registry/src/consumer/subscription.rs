//! The consumer side: a [`Subscription`] follows one service's providers and keeps a lock-free,
//! load-balanced [`ProviderSet`] of them.
//!
//! A push-then-pull children watch on `/services/<service>/providers` feeds every read into
//! [`apply`]: node names are decoded (undecodable ones skipped and reported), filtered, and the
//! new set is stored with one `arc-swap` store. Readers (`select()`) never lock. Nothing is
//! removed because ZooKeeper is unreachable: only a read from ZooKeeper changes the set.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::cache::{LoadBalance, Provider, ProviderSet, RejectedNode, SetParts, Source};
use crate::changes::ProviderChanges;
use crate::current::{CurrentSet, Selected};
use crate::session::EphemeralNode;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::selector::Selector;
use crate::session::{lock, Session};
use crate::url::ServiceUrl;
use crate::session::{run, Read, WatchKind};

/// How a [`Subscription`] behaves; given to [`crate::Registry::subscribe_with`].
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    pub(crate) filter: Filter,
    pub(crate) balance: LoadBalance,
    pub(crate) empty_protection: bool,
    pub(crate) register_consumer: Option<bool>,
    pub(crate) consumer_url: Option<ServiceUrl>,
    pub(crate) startup_timeout: Duration,
    pub(crate) snapshot_dir: Option<PathBuf>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            filter: Filter::default(),
            balance: LoadBalance::default(),
            empty_protection: true,
            register_consumer: None,
            consumer_url: None,
            startup_timeout: Duration::from_secs(3),
            snapshot_dir: None,
        }
    }
}

impl SubscribeOptions {
    /// Which providers to use. Default: all.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// How to pick among them. Default: [`LoadBalance::Random`].
    pub fn balance(mut self, balance: LoadBalance) -> Self {
        self.balance = balance;
        self
    }

    /// Dubbo's `enable-empty-protection`: when on, an empty provider list from ZooKeeper never
    /// replaces a non-empty one (the set is then marked [`ProviderSet::is_empty_protected`] and
    /// [`Subscription::empty_refusals`] counts it). Default: on.
    pub fn empty_protection(mut self, on: bool) -> Self {
        self.empty_protection = on;
        self
    }

    /// Whether to register this consumer under `/services/<service>/consumers`. Default: the
    /// registry's setting (on).
    pub fn register_consumer(mut self, on: bool) -> Self {
        self.register_consumer = Some(on);
        self
    }

    /// The URL to register as this consumer. Default:
    /// `consumer://<host>/<service>?pid=<pid>&timestamp=<ms>` with the registry's consumer host.
    pub fn consumer_url(mut self, url: ServiceUrl) -> Self {
        self.consumer_url = Some(url);
        self
    }

    /// How long `subscribe` waits for the first read from ZooKeeper before it falls back to the
    /// disk snapshot (when there is one) and returns. Default: 3 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Where the provider list is saved on every change and read from when ZooKeeper cannot be
    /// reached at start. Default: the registry's snapshot directory (none unless set).
    pub fn snapshot_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.snapshot_dir = Some(dir.into());
        self
    }
}

/// State the watch loop, the warm-up ticker and the subscription share.
pub(crate) struct Directory {
    service: String,
    options: SubscribeOptions,
    cache: Arc<CurrentSet>,
    updates: watch::Sender<Arc<ProviderSet>>,
    /// Decoded providers by node name, reused across reads (keeps in-flight counters).
    known: Mutex<HashMap<Arc<str>, Provider>>,
    version: AtomicU64,
    empty_refusals: AtomicU64,
    snapshot_error: Mutex<Option<Error>>,
    to_disk: watch::Sender<Option<Arc<Vec<String>>>>,
    /// Wakes the warm-up ticker; notified only when a set with a warming provider is stored,
    /// so that ordinary updates cost no extra task wake-up.
    warming: tokio::sync::Notify,
}

impl Directory {
    /// Applies one list of provider node names read from ZooKeeper (or loaded from disk).
    fn apply(&self, names: &[String], source: Source) {
        let mut known = lock(&self.known);
        let current = self.cache.load_full();
        if source == Source::DiskSnapshot && current.source() != Source::Empty {
            return; // ZooKeeper answered first: the snapshot is older than what we have.
        }
        let mut fresh = HashMap::with_capacity(names.len());
        let mut decoded = Vec::with_capacity(names.len());
        let mut rejected = Vec::new();
        for name in names {
            let provider = match known.get(name.as_str()) {
                Some(p) => p.clone(),
                None => match decode(name, &self.service) {
                    Ok(url) => Provider::new(url, name),
                    Err(error) => {
                        tracing::warn!(service = %self.service, node = %name, %error, "skipping a provider node");
                        rejected.push(RejectedNode { node: name.clone(), error });
                        continue;
                    }
                },
            };
            fresh.insert(provider.node_arc().clone(), provider.clone());
            decoded.push(provider);
        }
        let unfiltered = decoded.len();
        let mut providers = self.options.filter.apply(decoded, |p| p.url());
        let mut protected = false;
        let mut source = source;
        if names.is_empty() && self.options.empty_protection && !current.is_empty() {
            self.empty_refusals.fetch_add(1, Ordering::Relaxed);
            crate::metrics::empty_refused(&self.service);
            tracing::warn!(
                service = %self.service,
                kept = current.len(),
                "ZooKeeper lists no providers; empty protection keeps the last known ones"
            );
            providers = current.providers().to_vec();
            protected = true;
            source = current.source();
        } else {
            *known = fresh;
        }
        let version = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        let parts = SetParts { providers, version, source, protected, rejected, unfiltered };
        let set = Arc::new(ProviderSet::build(parts, self.options.balance, SystemTime::now()));
        let warming = set.is_warming();
        crate::metrics::providers(&self.service, set.len(), set.rejected().len());
        self.cache.store(set.clone());
        self.updates.send_replace(set);
        drop(known);
        if warming {
            self.warming.notify_one();
        }
        if source == Source::ZooKeeper && !protected && self.options.snapshot_dir.is_some() {
            self.to_disk.send_replace(Some(Arc::new(names.to_vec())));
        }
        tracing::debug!(service = %self.service, version, "provider set updated");
    }

    /// Rebuilds the current set with the weights of now (warm-up ramp).
    fn rebuild_weights(&self) {
        let _known = lock(&self.known);
        let current = self.cache.load_full();
        let parts = SetParts {
            providers: current.providers().to_vec(),
            version: self.version.fetch_add(1, Ordering::Relaxed) + 1,
            source: current.source(),
            protected: current.is_empty_protected(),
            rejected: current.rejected().to_vec(),
            unfiltered: current.unfiltered_len(),
        };
        let set = Arc::new(ProviderSet::build(parts, self.options.balance, SystemTime::now()));
        self.cache.store(set.clone());
        self.updates.send_replace(set);
    }
}

fn decode(name: &str, service: &str) -> Result<ServiceUrl> {
    let url = ServiceUrl::from_node_name(name)?;
    if url.service() != service {
        return Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: format!("registered under service {service:?} but names service {:?}", url.service()),
        });
    }
    Ok(url)
}

/// A live, load-balanced view of one service's providers. Dropping it stops the watch (and
/// deregisters the consumer node).
pub struct Subscription {
    dir: Arc<Directory>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    consumer: Option<EphemeralNode>,
    _session: Session,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("service", &self.dir.service)
            .field("providers", &self.dir.cache.load().len())
            .finish()
    }
}

impl Drop for Subscription {
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
    pub fn snapshot(&self) -> Arc<ProviderSet> {
        self.dir.cache.load_full()
    }

    /// Picks a provider by the subscription's balancer, or `None` when there is none.
    ///
    /// Lock-free and without a write to shared memory: the thread picks from its own copy of
    /// the current set, checked with one atomic load. After each update, a thread's first pick
    /// takes the new set (one small allocation); the picks after it allocate nothing. The
    /// [`Selected`] it returns is not `Send`: clone the [`Provider`] to keep it across an
    /// `.await` in a spawned task.
    #[inline]
    pub fn select(&self) -> Option<Selected> {
        self.dir.cache.select(None)
    }

    /// Picks a provider for `key` (sticky with [`LoadBalance::ConsistentHash`]).
    #[inline]
    pub fn select_by_key(&self, key: &[u8]) -> Option<Selected> {
        self.dir.cache.select(Some(key))
    }

    /// A picker owned by one thread or task: [`Selector::select`] checks the current set with
    /// one atomic load, like [`Subscription::select`], and returns a plain borrow instead of a
    /// [`Selected`] (no per-thread table lookup). It sees every update the subscription applies.
    pub fn selector(&self) -> Selector {
        Selector::new(self.dir.cache.clone())
    }

    /// A watch of the provider set: every update the subscription applies.
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
                    self.snapshot().len()
                ),
                after: timeout,
            }),
        }
    }

    /// Additions and removals, as a stream; the first items add every current provider.
    pub fn changes(&self) -> ProviderChanges {
        ProviderChanges::new(self.updates())
    }

    /// Times empty protection kept the last list instead of an empty one.
    pub fn empty_refusals(&self) -> u64 {
        self.dir.empty_refusals.load(Ordering::Relaxed)
    }

    /// The error met reading or writing the disk snapshot, if any (it was ignored).
    pub fn snapshot_error(&self) -> Option<Error> {
        lock(&self.dir.snapshot_error).clone()
    }

    /// This consumer's node under `/services/<service>/consumers`, when registered.
    pub fn consumer_node(&self) -> Option<&EphemeralNode> {
        self.consumer.as_ref()
    }
}

/// Settings the [`crate::Registry`] passes down.
pub(crate) struct RegistryDefaults {
    pub(crate) root: String,
    pub(crate) register_consumers: bool,
    pub(crate) consumer_host: String,
    pub(crate) snapshot_dir: Option<PathBuf>,
}

/// [`crate::Registry::subscribe_with`].
pub(crate) async fn subscribe(
    session: &Session,
    defaults: &RegistryDefaults,
    service: &str,
    mut options: SubscribeOptions,
) -> Result<Subscription> {
    crate::url::validate_service_name(service)?;
    if options.snapshot_dir.is_none() {
        options.snapshot_dir = defaults.snapshot_dir.clone();
    }
    let service_path = crate::session::join(&defaults.root, service);
    let providers_path = crate::session::join(&service_path, "providers");
    let empty = Arc::new(ProviderSet::empty(options.balance));
    let (updates, _) = watch::channel(empty.clone());
    let (to_disk, _) = watch::channel(None);
    let dir = Arc::new(Directory {
        service: service.to_owned(),
        options: options.clone(),
        cache: Arc::new(CurrentSet::new(empty)),
        updates,
        known: Mutex::new(HashMap::new()),
        version: AtomicU64::new(0),
        empty_refusals: AtomicU64::new(0),
        snapshot_error: Mutex::new(None),
        to_disk,
        warming: tokio::sync::Notify::new(),
    });
    let mut first = dir.updates.subscribe();

    let mut tasks = Vec::new();
    let sink_dir = dir.clone();
    tasks.push(tokio::spawn(run(session.shared.clone(), providers_path, WatchKind::Children, move |read| {
        match read {
            Ok(Read::Children(names, _)) => sink_dir.apply(&names, Source::ZooKeeper),
            Ok(Read::Absent) => sink_dir.apply(&[], Source::ZooKeeper),
            Ok(Read::Data(..)) | Err(_) => {}
        }
    })));
    tasks.push(tokio::spawn(warmup_ticker(dir.clone())));
    if let Some(snapshot_dir) = options.snapshot_dir.clone() {
        tasks.push(tokio::spawn(snapshot_writer(dir.clone(), snapshot_dir)));
    }

    tracing::info!(%service, balance = ?options.balance, "subscribed");
    // Wait for ZooKeeper's answer; fall back to the disk snapshot.
    // Only whether it timed out: the `watch::Ref` it would hold is not `Send` and must not live
    // across the awaits below (the future of `subscribe_with` would not be `Send`).
    let timed_out =
        tokio::time::timeout(options.startup_timeout, first.wait_for(|s| s.source() != Source::Empty))
            .await
            .is_err();
    if timed_out {
        if let Some(snapshot_dir) = &options.snapshot_dir {
            match crate::snapshot::load_snapshot(snapshot_dir, service) {
                Ok(Some(saved)) => {
                    tracing::warn!(
                        %service,
                        providers = saved.nodes.len(),
                        "ZooKeeper did not answer in time; serving the disk snapshot (stale)"
                    );
                    dir.apply(&saved.nodes, Source::DiskSnapshot);
                    crate::metrics::snapshot_loaded(service);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(%service, error = %e, "ignoring an unreadable disk snapshot");
                    *lock(&dir.snapshot_error) = Some(e);
                }
            }
        }
    }

    let register = options.register_consumer.unwrap_or(defaults.register_consumers);
    let consumer = if register {
        let url = match options.consumer_url.clone() {
            Some(url) => url,
            None => default_consumer_url(&defaults.consumer_host, service)?,
        };
        let path = crate::session::join(&crate::session::join(&service_path, "consumers"), &url.to_node_name());
        Some(session.create_ephemeral(&path, b"").await?)
    } else {
        None
    };
    Ok(Subscription { dir, tasks, consumer, _session: session.clone() })
}

fn default_consumer_url(host: &str, service: &str) -> Result<ServiceUrl> {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    ServiceUrl::new(crate::url::CONSUMER_SCHEME, host, 0, service)?
        .with_param("pid", std::process::id())?
        .with_param("side", "consumer")?
        .with_param("timestamp", now)
}

/// Rebuilds the set once a second while a provider warms up.
async fn warmup_ticker(dir: Arc<Directory>) {
    loop {
        if !dir.cache.load().is_warming() {
            dir.warming.notified().await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if dir.cache.load().is_warming() {
            dir.rebuild_weights();
        }
    }
}

/// Writes the latest list read from ZooKeeper to disk; bursts coalesce into one write.
async fn snapshot_writer(dir: Arc<Directory>, snapshot_dir: PathBuf) {
    let mut rx = dir.to_disk.subscribe();
    while rx.changed().await.is_ok() {
        let Some(nodes) = rx.borrow_and_update().clone() else { continue };
        let service = dir.service.clone();
        let target = snapshot_dir.clone();
        let saved =
            tokio::task::spawn_blocking(move || crate::snapshot::save_snapshot(&target, &service, &nodes))
                .await;
        crate::metrics::snapshot_written(&dir.service, matches!(saved, Ok(Ok(()))));
        match saved {
            Ok(Ok(())) => *lock(&dir.snapshot_error) = None,
            Ok(Err(e)) => {
                tracing::warn!(service = %dir.service, error = %e, "cannot write the disk snapshot");
                *lock(&dir.snapshot_error) = Some(e);
            }
            Err(_) => return,
        }
    }
}
