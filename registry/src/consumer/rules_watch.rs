//! A subscription follows its service's traffic rules: a push-then-pull data watch on
//! `<root>/<service>/rules` (the session layer's loop, like a config document), each read
//! parsed and, when it validates, folded into the next provider set.
//!
//! The last good rules stay when a read does not parse or validate; the refusal is logged and
//! kept for [`crate::Subscription::rules_error`]. A missing node means no rules. Whoever wrote
//! the document (`zkmesh rules put`, a plain `setData` by another client) does not matter.

use std::sync::Arc;

use super::routes::Ruling;
use super::Directory;
use crate::error::Error;
use crate::rules::Rules;
use crate::session::{lock, Read, SessionCore, WatchKind};

/// What a subscription knows of its rules document.
#[derive(Debug, Clone, Default)]
pub(crate) struct RulesState {
    /// The rules in force (the last good ones; empty when there are none).
    pub(crate) rules: Arc<Rules>,
    /// The ZooKeeper version of the document they came from (`None`: no document).
    pub(crate) version: Option<i32>,
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
                Some(parse(path, data, stat.version).map(|r| (r, Some(stat.version))))
            }
            Ok(Read::Absent) => Some(Ok((Rules::default(), None))),
            Ok(Read::Children(..)) => None,
            Err(error) => Some(Err(error)),
        };
        let Some(parsed) = parsed else { return };
        let changed = {
            let mut state = lock(&self.rules);
            state.read = true;
            match parsed {
                Ok((rules, version)) => {
                    state.error = None;
                    state.version = version;
                    let changed = *state.rules != rules;
                    state.rules = Arc::new(rules);
                    changed
                }
                Err(error) => {
                    tracing::warn!(service = %self.service, %error, "keeping the last good traffic rules");
                    state.error = Some(error);
                    false
                }
            }
        };
        if changed {
            tracing::info!(service = %self.service, "traffic rules changed");
            self.rebuild_weights();
        }
        self.rules_read.send_replace(true);
    }

    /// The rules sets are built with now, for this consumer.
    pub(super) fn ruling(&self) -> Ruling {
        Ruling { rules: lock(&self.rules).rules.clone(), consumer: self.consumer.clone() }
    }
}

fn parse(path: &str, data: Vec<u8>, version: i32) -> Result<Rules, Error> {
    let text = String::from_utf8(data).map_err(|e| Error::InvalidRules {
        document: format!("{path} (version {version})"),
        line: None,
        column: None,
        reason: format!("not UTF-8: {e}"),
    })?;
    Rules::parse(&text).map_err(|e| match e {
        Error::InvalidRules { line, column, reason, .. } => {
            Error::InvalidRules { document: format!("{path} (version {version})"), line, column, reason }
        }
        other => other,
    })
}
