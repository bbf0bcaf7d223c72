//! How errors of the stores become API errors: bad input 400 (with line and column for a
//! document that does not parse), a missing version 404, a version conflict 409, ZooKeeper
//! failures 500.

use config_center::Error;
use hyper::StatusCode;
use serde_json::json;

use crate::reply::ApiError;

/// The API error of a config center (or rules store) error.
pub(crate) fn config(error: Error) -> ApiError {
    let message = error.to_string();
    match error {
        Error::ConfigParse { line, column, .. } => {
            ApiError::bad_request(message).with("line", json!(line)).with("column", json!(column))
        }
        Error::Registry(registry::Error::InvalidRules { line, column, .. }) => {
            ApiError::bad_request(message).with("line", json!(line)).with("column", json!(column))
        }
        Error::VersionConflict { actual, .. } => {
            ApiError::new(StatusCode::CONFLICT, message).with("current_version", json!(actual))
        }
        Error::RulesRefused { .. } => ApiError::bad_request(message).with("refused", json!(true)),
        Error::NoSuchVersion { .. } => ApiError::not_found(message),
        Error::InvalidName { .. }
        | Error::TooLarge { .. }
        | Error::InvalidMeta { .. }
        | Error::Registry(registry::Error::InvalidServiceName { .. } | registry::Error::InvalidPath { .. }) => {
            ApiError::bad_request(message)
        }
        _ => internal(message),
    }
}

/// The API error of a registry error.
pub(crate) fn registry(error: registry::Error) -> ApiError {
    match error {
        registry::Error::InvalidServiceName { .. } | registry::Error::InvalidPath { .. } => {
            ApiError::bad_request(error.to_string())
        }
        e => internal(e.to_string()),
    }
}

/// The API error of a ZooKeeper error at `path`.
pub(crate) fn zk(op: &str, path: &str, error: zookeeper_client::Error) -> ApiError {
    internal(format!("ZooKeeper {op} {path}: {error}"))
}

/// 500, logged.
pub(crate) fn internal(message: String) -> ApiError {
    tracing::warn!(error = %message, "console: request failed");
    ApiError::internal(message)
}
