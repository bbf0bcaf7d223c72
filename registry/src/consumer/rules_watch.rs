//! A subscription follows its service's traffic rules: a push-then-pull data watch on
//! `<root>/<service>/rules` (the session layer's loop, like a config document), each read
//! parsed and, when it validates, folded into the next provider set.
//!
//! The last good rules stay when a read does not parse or validate; the refusal is logged and
//! kept for [`crate::Subscription::rules_error`]. A missing node means no rules. Whoever wrote
//! the document (`zkmesh rules put`, a plain `setData` by another client) does not matter.
//!
//! The last good document's text and version go into the disk snapshot with the providers; a
//! consumer booting from disk applies them ([`Directory::rules_from_disk`]) until ZooKeeper
//! answers the rules read.

use std::sync::Arc;

use super::routes::Ruling;
use super::{Directory, SavedRules};
use crate::error::Error;
use crate::rules::{parse_shared, Rules};
use crate::session::{lock, Read, SessionCore, WatchKind};

/// What a subscription knows of its rules document.
#[derive(Debug, Clone, Default)]
pub(crate) struct RulesState {
    /// The rules in force (the last good ones; empty when there are none).
    pub(crate) rules: Arc<Rules>,
    /// The ZooKeeper version of the document they came from (`None`: no document).
    pub(crate) version: Option<i32>,
    /// The text of the document they came from, for the disk snapshot (`None`: no document).
    pub(crate) text: Option<Arc<str>>,
    /// Why the latest read was refused, when it was.
    pub(crate) error: Option<Error>,
    /// Whether ZooKeeper has answered once.
    pub(crate) read: bool,
}

/// Follows `path` until the session closes.
pub(super) async fn follow(core: Arc<SessionCore>, dir: Arc<Directory>, path: String) {
    let sink_dir = dir.clone();
    let sink_path = path.clone();
    crate::session::run(core, path, WatchKind::Data, move |read| sink_dir.apply_rules(&sink_path, read))
        .await;
}

impl Directory {
    /// Applies one read of the rules node.
    pub(super) fn apply_rules(&self, path: &str, read: Result<Read, Error>) {
        let parsed = match read {
            Ok(Read::Data(data, stat)) => {
                Some(parse(path, &data, stat.version).map(|(r, text)| (r, Some((stat.version, text)))))
            }
            Ok(Read::Absent) => Some(Ok((Arc::default(), None))),
            Ok(Read::Children(..)) => None,
            Err(error) => Some(Err(error)),
        };
        let Some(parsed) = parsed else { return };
        let (changed, resave) = {
            let mut state = lock(&self.rules);
            state.read = true;
            match parsed {
                Ok((rules, document)) => {
                    state.error = None;
                    let (version, text) = document.unzip();
                    let resave = state.version != version || state.text != text;
                    state.version = version;
                    state.text = text;
                    let changed = !Arc::ptr_eq(&state.rules, &rules) && *state.rules != *rules;
                    state.rules = rules;
                    (changed, resave)
                }
                Err(error) => {
                    tracing::warn!(service = %self.service, %error, "keeping the last good traffic rules");
                    state.error = Some(error);
                    (false, false)
                }
            }
        };
        if changed {
            tracing::info!(service = %self.service, "traffic rules changed");
            self.rebuild_weights();
        }
        if resave {
            // The snapshot writer saves the providers with the rules of now; without a list
            // read from ZooKeeper yet, there is nothing to save until one comes.
            self.to_disk.send_if_modified(|names| names.is_some());
        }
        self.rules_read.send_replace(true);
    }

    /// Applies the rules saved in the disk snapshot, unless ZooKeeper has answered the rules
    /// read already (what it said is newer). A saved document that no longer parses (written
    /// by another zkmesh version) is logged and kept as the rules error.
    pub(super) fn rules_from_disk(&self, saved: SavedRules) {
        let mut state = lock(&self.rules);
        if state.read || self.cache.load().source() != super::ProviderSource::Empty {
            return;
        }
        let document = format!("the disk snapshot of {} (rules version {})", self.service, saved.version);
        match Rules::parse(&saved.text) {
            Ok(rules) => {
                tracing::warn!(service = %self.service, version = saved.version, "applying the traffic rules of the disk snapshot (stale)");
                state.rules = Arc::new(rules);
                state.version = Some(saved.version);
                state.text = Some(saved.text.into());
            }
            Err(error) => {
                let error = with_document(error, document);
                tracing::error!(service = %self.service, %error, "ignoring the rules of the disk snapshot");
                state.error = Some(error);
            }
        }
    }

    /// The rules document in force, for the disk snapshot.
    pub(super) fn saved_rules(&self) -> Option<SavedRules> {
        let state = lock(&self.rules);
        Some(SavedRules { version: state.version?, text: state.text.as_deref()?.to_owned() })
    }

    /// The rules sets are built with now, for this consumer.
    pub(super) fn ruling(&self) -> Ruling {
        Ruling { rules: lock(&self.rules).rules.clone(), consumer: self.consumer.clone() }
    }
}

/// The rules of one read, with the document's text: parsed once per process for every
/// subscription that reads the same text (`rules/shared.rs`).
fn parse(path: &str, data: &[u8], version: i32) -> Result<(Arc<Rules>, Arc<str>), Error> {
    let text = std::str::from_utf8(data).map_err(|e| Error::InvalidRules {
        document: format!("{path} (version {version})"),
        line: None,
        column: None,
        reason: format!("not UTF-8: {e}"),
    })?;
    parse_shared(path, text).map_err(|e| with_document(e, format!("{path} (version {version})")))
}

/// A refusal naming where the document came from.
fn with_document(error: Error, document: String) -> Error {
    match error {
        Error::InvalidRules { line, column, reason, .. } => {
            Error::InvalidRules { document, line, column, reason }
        }
        other => other,
    }
}
