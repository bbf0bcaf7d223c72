//! The crate's one error type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::publish::Expect;

/// Everything that can go wrong in `config_center`.
///
/// Variants are named by cause and carry the context a user needs to act on them. The type is
/// `Clone` (sources are shared through `Arc`) so that one refusal can be reported to every handle
/// of a watched config.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A namespace or config name outside `[A-Za-z0-9._-]{1,255}` (or `.` / `..`).
    #[error("invalid config {kind} {name:?}: {reason}")]
    InvalidName {
        /// What was named: `"namespace"` or `"name"`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// TOML text that does not parse, or does not deserialize into the config type.
    ///
    /// `path` names where the offending text lives: the ZooKeeper path of the document, the
    /// defaults file, `<defaults>` for defaults given as a value or text, or `$VAR` for an
    /// environment override. `line` and `column` (1-based, columns in characters) point into
    /// that text.
    #[error("cannot load {path}{}{}: {message}", show_version(.version), show_position(.line, .column))]
    ConfigParse {
        /// Where the text lives (ZooKeeper path, file, `<defaults>`, `$VAR`).
        path: String,
        /// The ZooKeeper data version of the document, when the text is a ZooKeeper document.
        version: Option<i32>,
        /// The line of the error (1-based), when known.
        line: Option<usize>,
        /// The column of the error (1-based, in characters), when known.
        column: Option<usize>,
        /// What the parser or the deserializer said.
        message: String,
    },
    /// The document parsed, but the validator refused the value.
    #[error("{path}{} refused by the validator: {reason} (the value set by {layer})", show_version(.version))]
    Validation {
        /// The ZooKeeper path of the document.
        path: String,
        /// Its ZooKeeper data version (`None` for a document not written yet, or for defaults).
        version: Option<i32>,
        /// What the validator said.
        reason: String,
        /// The layer that set the refused value: the highest one without which the value
        /// passes (an environment override is blamed by its variable, not the document).
        layer: Layer,
    },
    /// A compare-and-set write found another version than the one expected.
    #[error("version conflict on {path}: expected {expected}, found {}", show_actual(.actual))]
    VersionConflict {
        /// The ZooKeeper path of the document.
        path: String,
        /// What the writer expected.
        expected: Expect,
        /// What was there: `None` when the node does not exist.
        actual: Option<i32>,
    },
    /// A document larger than the configured limit, refused before any write.
    #[error("document for {path} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The ZooKeeper path of the document.
        path: String,
        /// Its size in bytes.
        size: usize,
        /// The limit ([`crate::ConfigCenterBuilder::max_document_size`]).
        limit: usize,
    },
    /// A rollback or history read of a version the history does not hold.
    #[error("no version {version} in the history of {path}")]
    NoSuchVersion {
        /// The ZooKeeper path of the document.
        path: String,
        /// The version asked for.
        version: i32,
    },
    /// A history entry that stands for a document too large to archive (written by a foreign
    /// client near ZooKeeper's request limit; see [`crate::HistoryEntry::archived`]): there is
    /// no document to read or roll back to.
    #[error("version {version} of {path} was not archived: {size} bytes did not fit in one ZooKeeper request with its history entry's path (at most {limit} bytes)")]
    NotArchived {
        /// The ZooKeeper path of the document.
        path: String,
        /// The version asked for.
        version: i32,
        /// The size the document had, in bytes.
        size: usize,
        /// The request limit ([`crate::ConfigCenterBuilder::max_request_size`]).
        limit: usize,
    },
    /// A value that cannot be written as a TOML document (for example not a table at the top).
    #[error("cannot write {path} as TOML: {message}")]
    Serialize {
        /// The ZooKeeper path it was meant for.
        path: String,
        /// What the serializer said.
        message: String,
    },
    /// An environment override that cannot be applied (empty key segment, a key set both as a
    /// value and as a table).
    #[error("environment override {var}: {reason}")]
    EnvOverride {
        /// The variable's name.
        var: String,
        /// Why it was refused.
        reason: String,
    },
    /// A local cache file that cannot be used (truncated, edited, another config's); it is
    /// ignored.
    #[error("corrupt config cache {}: {reason}", file.display())]
    CorruptCache {
        /// The cache file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A local cache file written for another environment (another ZooKeeper ensemble or
    /// chroot, [`registry::Environment::key`]); it is ignored.
    #[error("config cache {} was written for {written_for}, not for this session's environment {expected}; ignored", file.display())]
    ForeignCache {
        /// The cache file.
        file: PathBuf,
        /// The environment it records.
        written_for: String,
        /// This session's environment.
        expected: String,
    },
    /// Writers kept changing the document between our read and our write (only with
    /// [`Expect::Any`], which retries).
    #[error("gave up writing {path} after {attempts} attempts: other writers kept changing it")]
    Contention {
        /// The ZooKeeper path of the document.
        path: String,
        /// How many compare-and-set attempts were made.
        attempts: u32,
    },
    /// No value could be served at start: ZooKeeper did not answer within the start-up timeout,
    /// and neither the local cache nor the defaults gave a valid value.
    #[error("no value for {path}: no answer from ZooKeeper within {waited:?}, and {cause}")]
    Unavailable {
        /// The ZooKeeper path of the document.
        path: String,
        /// How long ZooKeeper was waited for.
        waited: Duration,
        /// Why the fallbacks failed (the defaults' error).
        #[source]
        cause: Box<Error>,
    },
    /// An I/O operation failed (defaults file, cache).
    #[error("{context}: {source}")]
    Io {
        /// What was being done (with the file name).
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A publish's author or message that cannot be recorded (too long, a NUL byte).
    #[error("cannot record the {field} of a publish to {path}: {reason}")]
    InvalidMeta {
        /// The ZooKeeper path of the document.
        path: String,
        /// `"author"` or `"message"`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A watcher instance name outside `[A-Za-z0-9._-]{1,255}`, or labels or a zone that cannot
    /// be recorded.
    #[error("invalid watcher {what} {value:?}: {reason}")]
    InvalidInstance {
        /// What was given: `"instance"`, `"label"` or `"zone"`.
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A canary selector that cannot select anything (a percentage outside 0..=100, an empty
    /// label key), refused before any write.
    #[error("invalid canary selector for {path}: {reason}")]
    InvalidSelector {
        /// The ZooKeeper path of the document.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A canary selector that matches none of the live watchers (their status nodes), refused
    /// before any write.
    #[error("canary selector {selector} matches none of the {live} live watchers of {path}")]
    NoWatcherSelected {
        /// The ZooKeeper path of the document.
        path: String,
        /// The selector, as text.
        selector: String,
        /// How many live watchers there are.
        live: usize,
    },
    /// A canary is already published (running or halted): promote or abort it first.
    #[error("a canary ({id}) is already published for {path}{}; promote or abort it first", show_halted(.halted))]
    CanaryInProgress {
        /// The ZooKeeper path of the document.
        path: String,
        /// The canary's id.
        id: u64,
        /// Why it halted, when it did.
        halted: Option<String>,
    },
    /// A promote or abort with no canary published.
    #[error("no canary is published for {path}")]
    NoCanary {
        /// The ZooKeeper path of the document.
        path: String,
    },
    /// A promote of a canary that halted because a selected watcher refused it.
    #[error("canary {id} of {path} halted: {reason}; abort it")]
    CanaryHalted {
        /// The ZooKeeper path of the document.
        path: String,
        /// The canary's id.
        id: u64,
        /// Who refused it and why.
        reason: String,
    },
    /// A layer document that was deleted while watched: its last good text stays in the value.
    #[error("layer {layer} was deleted; its last good version{} stays in the merged value", show_version(.version))]
    LayerDeleted {
        /// The ZooKeeper path of the layer.
        layer: String,
        /// The version of the text kept.
        version: Option<i32>,
    },
    /// A wait for the fleet (see [`crate::ConfigCenter::wait_for_version`]) timed out.
    #[error("the watchers of {path} did not get there within {waited:?}: {}", show_watchers(.watchers))]
    WaitTimedOut {
        /// The ZooKeeper path of the document.
        path: String,
        /// How long it waited.
        waited: Duration,
        /// The live watchers when it gave up.
        watchers: Vec<crate::WatcherStatus>,
    },
    /// Traffic rules refused before publishing: they would leave consumers with no provider
    /// (named in `reason`) or disable too many providers. `force` publishes them anyway.
    #[error("rules for {path} refused: {reason} (nothing was written; --force publishes anyway)")]
    RulesRefused {
        /// The ZooKeeper path of the rules document.
        path: String,
        /// What the rules would do: the consumers stranded, the share of providers disabled.
        reason: String,
    },
    /// The session layer or ZooKeeper failed (connection loss, closed session, ...).
    #[error(transparent)]
    Registry(#[from] registry::Error),
}

/// The layer a value comes from (defaults < ZooKeeper document < environment), as
/// [`Error::Validation`] names it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The defaults: `<defaults>` (a value or TOML text) or the defaults file's path.
    Defaults {
        /// Where they come from.
        source: String,
    },
    /// The ZooKeeper document (or the document being published).
    Document,
    /// Another ZooKeeper document merged with it (see [`crate::ConfigSpec::layers`]).
    Zookeeper {
        /// Its ZooKeeper path.
        path: String,
        /// Its version.
        version: Option<i32>,
    },
    /// Environment overrides.
    Environment {
        /// The variables whose values make the validator refuse (`SHOP_DB__POOL`); all the
        /// overrides when no single one does.
        vars: Vec<String>,
    },
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Defaults { source } => write!(f, "the defaults ({source})"),
            Layer::Document => f.write_str("the document"),
            Layer::Zookeeper { path, version } => write!(f, "the layer {path}{}", show_version(version)),
            Layer::Environment { vars } => {
                let vars: Vec<String> = vars.iter().map(|v| format!("${v}")).collect();
                let s = if vars.len() == 1 { "" } else { "s" };
                write!(f, "the environment override{s} {}", vars.join(", "))
            }
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn show_version(version: &Option<i32>) -> String {
    version.map(|v| format!(" (version {v})")).unwrap_or_default()
}

fn show_position(line: &Option<usize>, column: &Option<usize>) -> String {
    match (*line, *column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

fn show_watchers(watchers: &[crate::WatcherStatus]) -> String {
    if watchers.is_empty() {
        return "no live watcher".to_owned();
    }
    let shown: Vec<String> = watchers
        .iter()
        .map(|w| {
            let version = w.version.map_or("-".to_owned(), |v| v.to_string());
            let canary = w.canary.map(|c| format!(" canary {c}")).unwrap_or_default();
            let error = w.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
            format!("{} {} version {version}{canary}{error}", w.instance, w.state)
        })
        .collect();
    shown.join("; ")
}

fn show_halted(halted: &Option<String>) -> String {
    halted.as_ref().map(|h| format!(" (halted: {h})")).unwrap_or_default()
}

fn show_actual(actual: &Option<i32>) -> String {
    match *actual {
        Some(v) => format!("version {v}"),
        None => "no node".to_owned(),
    }
}

impl Error {
    pub(crate) fn zk(op: &'static str, path: impl Into<String>, source: zookeeper_client::Error) -> Self {
        Error::Registry(registry::Error::from_zookeeper(op, path, source))
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source: Arc::new(source) }
    }

    /// The ZooKeeper error behind this one, if any.
    pub fn zookeeper_error(&self) -> Option<&zookeeper_client::Error> {
        match self {
            Error::Registry(e) => e.zookeeper_error(),
            _ => None,
        }
    }

    /// Whether trying the same thing again later may succeed (connection loss, an expired
    /// session being replaced, contention, I/O, ZooKeeper unreachable at start).
    ///
    /// A failed publish that is retryable may or may not have been applied (the answer was
    /// lost): read the current version before trying again, or publish with a version.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Registry(e) => e.is_retryable(),
            Error::Contention { .. } | Error::Io { .. } | Error::Unavailable { .. } => true,
            _ => false,
        }
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync + Clone + 'static>() {}
    is::<Error>();
}
