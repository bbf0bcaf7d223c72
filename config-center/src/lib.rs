//! zkmesh config center: typed configuration hot-reloaded from ZooKeeper.
//!
//! Package `zkmesh-config`, on the session of `zkmesh-registry`. Applications usually depend on
//! `zkmesh` with its `config` feature, which re-exports this crate as `zkmesh::config` and its
//! main types at its top (`zkmesh::{ConfigCenter, Config}`).
//!
//! Features:
//! - [`ConfigCenter::watch`] / [`ConfigSpec::watch`]: a [`Config<T>`] whose [`Config::load`]
//!   returns the current `Arc<T>` through arc-swap (no lock, no allocation), whose
//!   [`Config::changed`] wakes on each accepted value (only on those), and whose
//!   [`Config::status_changed`] / [`Config::statuses`] wake on every change of the [`Status`],
//!   refusals included. Push-then-pull on registry's data watch:
//!   bursts fold into one read, a change made during a disconnection is read on reconnection,
//!   and after session expiry the watch is set again and the document read again.
//! - Validation: a document that is not TOML, does not deserialize into `T`, has a key `T` does
//!   not read (a typo; unless [`ConfigSpec::allow_unknown_keys`]) or fails the validator is
//!   refused; the last good value stays and the error ([`Error::ConfigParse`] with
//!   path, version, line and column, or [`Error::Validation`] naming the [`Layer`] that set
//!   the value) is in [`Config::last_error`].
//! - Layering, lowest first: defaults (a TOML file, text or a value such as `T::default()`),
//!   the ZooKeeper document, environment overrides `PREFIX__SECTION__KEY` (two underscores;
//!   see [`ConfigSpec::env_prefix`]). A node that does not exist yet serves the defaults (or
//!   the cache of an earlier run) until it is created; a deleted one keeps the last good value
//!   and its cache ([`Status::absent`]; [`ConfigSpec::keep_when_deleted`]).
//! - Local cache ([`ConfigCenterBuilder::cache_dir`]): the last accepted document of each
//!   config, written atomically in a folder per environment (ZooKeeper hosts and chroot; a
//!   file of another environment is refused, [`Error::ForeignCache`]), served at start when
//!   ZooKeeper does not answer within the start-up timeout, marked stale
//!   ([`Config::is_stale`]) until ZooKeeper answers.
//! - Publishing with compare-and-set ([`Expect::Absent`], [`Expect::Version`], [`Expect::Any`];
//!   a conflict is [`Error::VersionConflict`] with both versions), checked first like watchers
//!   check (size, TOML, type, unknown keys, validator).
//! - Fleet status: every [`Config`] keeps an ephemeral `<path>/status/<instance>` (see
//!   [`WatcherStatus`]: version in use, accepted or refused and why, since when), written off
//!   the reload path and only on change, re-created after session expiry;
//!   [`ConfigCenter::status`], [`ConfigCenter::wait_for_version`].
//! - Canary publish: [`ConfigCenter::publish_canary`] with a [`Selector`] (a percentage by a
//!   stable hash of the instance name, labels, a zone): only the selected watchers load it;
//!   [`ConfigCenter::promote`], [`ConfigCenter::abort`]; a selected watcher that refuses it halts
//!   it ([`Canary::halted`]).
//! - Layers from ZooKeeper: [`ConfigSpec::layers`] merges several documents in order (between
//!   the defaults and the environment); [`ConfigSpec::explain`] tells which layer set each value.
//! - History with authors: a publish may carry a [`PublishMeta`] (author, message), kept with
//!   its entry ([`ConfigCenter::publish_toml_with`], [`ConfigCenter::revisions`]; entries
//!   written by other clients show no author).
//! - History: each publish archives the document it writes in the same ZooKeeper transaction,
//!   bounded ([`ConfigCenterBuilder::history_limit`] documents replaced, besides the current
//!   one); [`ConfigCenter::rollback`] publishes an old document as a new version. A publisher
//!   that wrote the current version itself needs one round trip (see `publish.rs`).
//! - Traffic rules ([`RulesStore`]): a service's `registry::Rules` published at
//!   `/services/<service>/rules` with the same compare-and-set, history and rollback, validated
//!   and checked against the service's consumers first.
//!
//! ZooKeeper layout (inside the session's chroot):
//! ```text
//! <root>/<namespace>/<name>                    PERSISTENT, data = the TOML document (UTF-8);
//!                                              its data version is the config's version
//! <root>/<namespace>/<name>/status/<instance>  EPHEMERAL, TOML: what that watcher runs
//!                                              (see `fleet.rs`)
//! <root>/<namespace>/<name>/canary             PERSISTENT, TOML: the canary (see `canary.rs`);
//!                                              empty: none
//! <root>/<namespace>/<name>/history            PERSISTENT, empty
//! <root>/<namespace>/<name>/history/v-<ver>    PERSISTENT, data = the document that had data
//!                                              version <ver> (ten digits, zero-padded), written
//!                                              in the transaction that wrote that version; a
//!                                              first line `#zkmesh-meta { author = "…",
//!                                              message = "…", identity = "…" }` (a TOML
//!                                              comment; `identity`: the publishing session's,
//!                                              see [`PublishMeta::identity_name`])
//! ```
//! `<root>` is `/config` by default; names are `[A-Za-z0-9._-]{1,255}`, not `.` or `..`.
//! A writer in another language publishes by doing what [`ConfigCenter::publish_toml`] does:
//! read the document's stat and the history's children, then one `multi` with
//! `setData(path, new, stat.version)`, `create(path/history/v-<stat.version + 1>, new)`,
//! `create(path/history/v-<stat.version>, old)` when the current document has no entry
//! (creating `history` when missing) and the deletion of the oldest entries beyond the limit.
//! A plain `setData` is read by watchers too; its document is archived by the next publish.
//!
//! Two documents near the size limit do not fit in one ZooKeeper request together
//! ([`ConfigCenterBuilder::max_request_size`], ZooKeeper's `jute.maxbuffer`). For those, the
//! replaced document is archived first (when it has no entry), in a transaction guarded by its
//! version (`check(path, version)` + `create(v-<version>)`), then the write, then the new
//! document's entry, guarded the same way. An entry only ever holds the document of its
//! version; a writer that comes in between archives the version it replaces itself. A document
//! that a foreign writer left too large to travel again with its entry's path is not archived:
//! its entry records its size (see [`HistoryEntry::archived`], [`Error::NotArchived`]).
//!
//! ```no_run
//! # extern crate registry as zkmesh_registry; // the workspace's key for zkmesh-registry
//! # async fn demo() -> zkmesh_config::Result<()> {
//! use zkmesh_config::{ConfigCenter, Expect};
//! use zkmesh_registry::Session;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug)]
//! struct Db { url: String, pool: u32 }
//!
//! let session = Session::connect("127.0.0.1:2181/prod").await?; // or registry.session().clone()
//! let center = ConfigCenter::builder().cache_dir("/var/cache/myapp").build(session)?;
//! let db = center
//!     .config::<Db>("shop", "db")?
//!     .defaults(Db { url: "postgres://localhost/shop".into(), pool: 4 }) // pass the validator
//!     .env_prefix("SHOP_DB") // SHOP_DB__POOL=16 sets pool
//!     .validator(|db: &Db| if db.pool == 0 { Err("pool must be > 0".into()) } else { Ok(()) });
//!
//! let mut config = db.watch().await?;
//! println!("pool = {}", config.load().pool);
//!
//! db.publish_toml("url = \"postgres://db\"\npool = 8\n", Expect::Any).await?;
//! config.changed().await?; // the next accepted value
//! let status = config.status_changed().await?; // any change, refusals included
//! if let Some(error) = status.error {
//!     eprintln!("latest document refused: {error}");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod applier;
mod cache;
mod canary;
mod center;
mod config;
mod defaults;
mod delete;
mod diff;
mod document;
mod env;
mod error;
mod fleet;
mod history;
mod instance;
mod layers;
mod meta;
mod name;
mod plain;
mod plan;
mod provenance;
mod publish;
mod rollout;
mod rules;
mod rules_edit;
mod rules_follow;
mod schema;
mod spec;
mod status_delay;
mod status_writer;
mod unknown_keys;
mod watcher;

pub use self::canary::{Canary, CanaryHalt, Selector};
pub use self::center::{
    ConfigCenter, ConfigCenterBuilder, DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_DOCUMENT_SIZE, DEFAULT_ROOT,
    DEFAULT_STARTUP_TIMEOUT, DEFAULT_STATUS_DELAY,
};
pub use self::config::{Config, Source, Status};
pub use self::diff::{diff_lines, MAX_DIFF_CELLS};
pub use self::error::{Error, Layer, Result};
pub use self::fleet::{WatcherState, WatcherStatus};
pub use self::history::HistoryEntry;
pub use self::instance::MAX_LABEL_LEN;
pub use self::meta::{PublishMeta, MAX_AUTHOR_LEN, MAX_MESSAGE_LEN};
pub use self::name::{validate_name, MAX_NAME_LEN};
pub use self::provenance::{Provenance, ValueSource};
pub use self::publish::{Expect, Published};
pub use self::rules::{RulesDocument, RulesStore, RULES_NODE};
pub use self::rules_follow::FollowedService;
pub use self::spec::ConfigSpec;
