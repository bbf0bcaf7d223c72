//! [`SubscribeOptions`]: how a [`Subscription`](super::Subscription) behaves.

use std::path::PathBuf;
use std::time::Duration;

use super::{Filter, LoadBalance, OutlierPolicy, ProtectionThreshold};
use crate::layout::Source;
use crate::url::ServiceUrl;

/// How a [`Subscription`](super::Subscription) behaves; given to [`crate::Registry::subscribe_with`].
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    pub(crate) filter: Filter,
    pub(crate) balance: LoadBalance,
    pub(crate) empty_protection: bool,
    pub(crate) register_consumer: Option<bool>,
    pub(crate) consumer_url: Option<ServiceUrl>,
    pub(crate) startup_timeout: Duration,
    pub(crate) snapshot_dir: Option<PathBuf>,
    pub(crate) watch: WatchStrategy,
    pub(crate) outlier: OutlierPolicy,
    pub(crate) sources: Vec<Source>,
    pub(crate) protection: ProtectionThreshold,
    pub(crate) publish_ejections: Option<bool>,
}

/// How a [`Subscription`](super::Subscription) learns that its providers changed; see
/// [`SubscribeOptions::watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WatchStrategy {
    /// One persistent recursive watch on the providers directory (ZooKeeper 3.6+, `addWatch`):
    /// each event names the provider node created or deleted, and the node name is the
    /// provider's URL, so a change is applied with no read. A full read is made when the watch
    /// is armed and after every gap (a reconnection, a new session), so the cache never misses
    /// a change. When the server refuses `addWatch` (before 3.6), the subscription says so once
    /// in a log line and follows with [`WatchStrategy::OneShot`]. The default.
    #[default]
    Persistent,
    /// A one-shot child watch and a full read per change (push-then-pull, as every ZooKeeper
    /// discovery system does): a round trip per change, growing with the number of providers.
    OneShot,
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
            watch: WatchStrategy::default(),
            outlier: OutlierPolicy::default(),
            sources: Vec::new(),
            protection: ProtectionThreshold::default(),
            publish_ejections: None,
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
    /// replaces a non-empty one (the set is then marked [`ProviderSet::is_empty_protected`](super::ProviderSet::is_empty_protected) and
    /// [`Subscription::empty_refusals`](super::Subscription::empty_refusals) counts it). Default: on.
    ///
    /// The extreme case of the [`protection`](Self::protection) threshold (which leaves a
    /// listing of no provider to this setting), without its time limit: once ZooKeeper lists
    /// providers again, those it kept count as departed, and may be kept as suspects for the
    /// threshold's hold.
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

    /// How the subscription learns of changes ([`WatchStrategy`]). Default:
    /// [`WatchStrategy::Persistent`], falling back to [`WatchStrategy::OneShot`] on servers
    /// before ZooKeeper 3.6.
    ///
    /// Within one session, do not follow the same service both ways: ZooKeeper keeps one watch
    /// mode per path and connection (ZOOKEEPER-4466), so a one-shot watch on the providers
    /// directory turns the persistent one into a one-shot one.
    pub fn watch(mut self, strategy: WatchStrategy) -> Self {
        self.watch = strategy;
        self
    }

    /// When a provider is ejected from the subscription's sets after failed requests, and for
    /// how long (outcomes come from [`Balancer`](super::Balancer) by itself, or from
    /// [`Provider::report`](super::Provider::report)). Default: [`OutlierPolicy::default`]
    /// (5 failures in a row, a refused connection, or half of 20 or more requests within 10 s
    /// failing; 1 s doubling up to 60 s, at most half the set).
    pub fn outlier(mut self, policy: OutlierPolicy) -> Self {
        self.outlier = policy;
        self
    }

    /// Reads the service from `source` (a [`Layout`](crate::Layout) under a root) instead of the
    /// registry's own layout and root. Given more than once, the subscription reads every
    /// source and serves their union, one provider per address (the newest registration), so
    /// a fleet can move from one layout to another without a flag day; the union has no disk
    /// snapshot, and its consumer node is registered in every source that has consumers.
    /// Default: the registry's layout under its root.
    pub fn source(mut self, source: Source) -> Self {
        if !self.sources.contains(&source) {
            self.sources.push(source);
        }
        self
    }

    /// When more than a share of the providers vanish from ZooKeeper within a short window (a
    /// ZooKeeper-side mistake, a mass session expiry), the vanished ones stay in the set as
    /// suspects for a bounded time, dropped at their first failed request (see
    /// [`ProtectionThreshold`]; [`Provider::is_suspect`](super::Provider::is_suspect) tells
    /// them). Default: [`ProtectionThreshold::default`] (more than half within 10 s, kept up
    /// to 30 s while each answers a request every 2 s); [`ProtectionThreshold::off`] turns it
    /// off.
    pub fn protection(mut self, threshold: ProtectionThreshold) -> Self {
        self.protection = threshold;
        self
    }

    /// Whether this consumer publishes the providers its outlier detection ejects, in one
    /// ephemeral node `<root>/<service>/health/<instance>` (JSON: see
    /// [`EjectionReport`](super::EjectionReport)), for operators: `zkmesh console` shows a
    /// provider "ejected by K of N consumers". Only a zkmesh-layout source has it (the first
    /// one of a union). The instance is `$ZKMESH_INSTANCE`, else `<hostname>-<pid>` (`.2`,
    /// `.3`, ... for more subscriptions of the service in one process).
    ///
    /// Cheap: a task per subscription that writes nothing while nothing is ejected; on a
    /// change it waits 100 ms (a burst of ejections is one write), creates, rewrites or deletes
    /// the node (deleted when nothing is ejected), and never on the pick or ejection path.
    /// Default: on when the consumer registers its consumer node
    /// ([`register_consumer`](Self::register_consumer)), off otherwise: a consumer that
    /// leaves no trace in ZooKeeper keeps leaving none.
    pub fn publish_ejections(mut self, on: bool) -> Self {
        self.publish_ejections = Some(on);
        self
    }
}
