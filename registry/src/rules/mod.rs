//! Traffic rules: operators' overrides and routes for one service, as a versioned TOML
//! document at `/services/<service>/rules`.
//!
//! `document.rs` holds the [`Rules`] types, their parsing and validation (errors with line and
//! column); `compile.rs` turns rules into what a provider set is built with, for one consumer
//! and one list of providers (who stays, the factor on each weight, the routes), so that a pick
//! costs what it costs without rules; `plan.rs` says what rules do to a consumer
//! ([`Rules::shares`]) and to every consumer of a service ([`Rules::check`], what a publish
//! checks first); `context.rs` holds the [`RequestContext`] a routed pick takes; `shared.rs`
//! parses each text of a document once per process, for all the subscriptions following it.
//!
//! Publishing, history and rollback are config-center's (`config_center::RulesStore`); a
//! consumer follows its service's document by itself ([`crate::Subscription::rules`]).

mod compile;
mod context;
mod document;
mod plan;
mod shared;

pub use self::compile::TAG_PARAM;
pub use self::context::RequestContext;
pub use self::document::{Action, Condition, Override, Rules, Split, TagRouting, MAX_FACTOR};
pub use self::plan::{RulesCheck, Share, DEFAULT_MAX_DISABLED_SHARE};

pub(crate) use self::compile::{compile, Compiled};
pub(crate) use self::shared::parse_shared;
