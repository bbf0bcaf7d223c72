//! A service's rules document through [`config_center::RulesStore`]: history, the provider
//! switches (disable, enable, weight), put and rollback, all with compare-and-set.
//!
//! A write whose `expect_version` is not the document's version gets 409 with the current
//! version, text and a diff of the current text against what the request would have written
//! (for a switch: the text it read), and nothing is written. The provider switches check the
//! version first, then edit only that provider's `[[override]]` table with the store's own
//! compare-and-set read-modify-write: a change another writer lands in between is kept, never
//! overwritten.

use config_center::{Expect, HistoryEntry};
use hyper::StatusCode;
use registry::Action;
use serde_json::{json, Value};

use crate::console::State;
use crate::failure;
use crate::reply::{ApiError, Reply};

/// `[{"version","author","message","identity","time_ms","replaced_ms","size","current",
/// "archived"}]`: every version the history holds, the current one first.
pub(crate) async fn history(state: &State, service: &str) -> Reply {
    let service = crate::input::service(service)?;
    let entries =
        state.rules_history.revisions(service, config_center::RULES_NODE).await.map_err(failure::config)?;
    Ok(history_json(&entries))
}

/// The JSON of history entries (config and rules alike).
pub(crate) fn history_json(entries: &[HistoryEntry]) -> Value {
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    Value::Array(
        entries
            .iter()
            .map(|e| {
                json!({
                    "version": e.version, "author": e.author, "message": e.message, "identity": e.identity,
                    "time_ms": ms(e.published_at), "replaced_ms": ms(e.replaced_at), "size": e.size,
                    "current": e.current, "archived": e.archived,
                })
            })
            .collect(),
    )
}

/// `POST .../providers/{address}/disable|enable|weight`: `{"version"}`.
pub(crate) async fn switch(state: &State, service: &str, address: &str, what: &str, body: &Value) -> Reply {
    let service = crate::input::service(service)?;
    let address = crate::input::address(address)?;
    let action = match what {
        "disable" => Some(Action::Disable),
        "enable" => None,
        _ => Some(Action::Weight(weight(body)?)),
    };
    let expected = crate::input::expect(body)?;
    let force = crate::input::force(body)?;
    if expected != Expect::Any {
        let current = state.rules.get_text(service).await.map_err(failure::config)?;
        check_expected(expected, current.as_ref(), None)?;
    }
    let published = match action {
        Some(Action::Disable) => state.rules.disable(service, address, force).await,
        None => state.rules.enable(service, address).await,
        Some(action) => {
            let Action::Weight(w) = action else { return Err(ApiError::bad_request("unknown action")) };
            state.rules.set_weight(service, address, w, force).await
        }
    };
    let published = published.map_err(failure::config)?;
    Ok(json!({ "version": published.version, "path": published.path }))
}

/// `body.weight`: a weight within the URL codec's bounds.
fn weight(body: &Value) -> Result<u32, ApiError> {
    body.get("weight")
        .and_then(Value::as_u64)
        .and_then(|w| u32::try_from(w).ok())
        .filter(|w| *w <= registry::MAX_WEIGHT)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "\"weight\" (a number from 0 to {}) is required",
                registry::MAX_WEIGHT
            ))
        })
}

/// 409 when `expected` does not hold for `current` (text, version): with the current
/// version and text, and the diff of the current text against `proposed` (default: itself).
pub(crate) fn check_expected(
    expected: Expect,
    current: Option<&(String, i32)>,
    proposed: Option<&str>,
) -> Result<(), ApiError> {
    let holds = match (expected, current) {
        (Expect::Any, _) | (Expect::Absent, None) => true,
        (Expect::Version(v), Some((_, actual))) => v == *actual,
        _ => false,
    };
    if holds {
        return Ok(());
    }
    Err(conflict(expected, current, proposed))
}

/// The 409 of a write that expected `expected` and found `current`.
pub(crate) fn conflict(
    expected: Expect,
    current: Option<&(String, i32)>,
    proposed: Option<&str>,
) -> ApiError {
    let (text, version) = current.map_or(("", None), |(t, v)| (t.as_str(), Some(*v)));
    let found = version.map_or("no document".to_owned(), |v| format!("version {v}"));
    ApiError::new(
        StatusCode::CONFLICT,
        format!("expected {expected}, found {found}: someone else wrote meanwhile"),
    )
    .with("current_version", json!(version))
    .with("current_text", json!(text))
    .with("diff", json!(crate::diff::diff(text, proposed.unwrap_or(text))))
}

/// `PUT /api/services/{svc}/rules` `{"text","expect_version","force"}`: `{"version"}`.
pub(crate) async fn put(state: &State, service: &str, body: &Value) -> Reply {
    let service = crate::input::service(service)?;
    let text = crate::input::string(body, "text")?;
    let expected = crate::input::expect(body)?;
    let force = crate::input::force(body)?;
    registry::Rules::parse(text).map_err(|e| failure::config(e.into()))?;
    match state.rules.put(service, text, expected, force).await {
        Ok(published) => Ok(json!({ "version": published.version, "path": published.path })),
        Err(config_center::Error::VersionConflict { .. }) => {
            let current = state.rules.get_text(service).await.map_err(failure::config)?;
            Err(conflict(expected, current.as_ref(), Some(text)))
        }
        Err(e) => Err(failure::config(e)),
    }
}

/// `POST /api/services/{svc}/rules/rollback` `{"to_version","expect_version","force"}`.
pub(crate) async fn rollback(state: &State, service: &str, body: &Value) -> Reply {
    let service = crate::input::service(service)?;
    let to = crate::input::version(body, "to_version")?;
    let expected = crate::input::expect(body)?;
    let force = crate::input::force(body)?;
    match state.rules.rollback(service, to, expected, force).await {
        Ok(published) => Ok(json!({ "version": published.version, "path": published.path })),
        Err(config_center::Error::VersionConflict { .. }) => {
            let current = state.rules.get_text(service).await.map_err(failure::config)?;
            let old = state.rules.history_document(service, to).await.ok();
            Err(conflict(expected, current.as_ref(), old.as_deref()))
        }
        Err(e) => Err(failure::config(e)),
    }
}
