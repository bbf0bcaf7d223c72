//! The config tree through [`config_center::ConfigCenter`]: namespaces and documents, a
//! document with its fleet status, put (TOML checked first: 400 with line and column, nothing
//! written), diff, history, rollback; writes with compare-and-set (409 with the current
//! version, text and diff).

use config_center::{Expect, PublishMeta};
use futures::future::join_all;
use serde_json::{json, Value};
use zookeeper_client::Error as ZkError;

use crate::console::State;
use crate::failure;
use crate::reply::{ApiError, Reply};
use crate::rules_api::{check_expected, conflict, history_json};

/// `[{"namespace","names":[..]}]`, sorted.
pub(crate) async fn list(state: &State) -> Reply {
    let client = state.session.client().ok_or_else(|| ApiError::internal("no ZooKeeper connection"))?;
    let root = state.config.root();
    let mut namespaces = children(&client, root).await?;
    namespaces.sort();
    let names = join_all(namespaces.iter().map(|ns| {
        let path = registry::join(root, ns);
        let client = &client;
        async move { children(client, &path).await }
    }))
    .await;
    let mut rows = Vec::new();
    for (namespace, names) in namespaces.into_iter().zip(names) {
        let mut names = names?;
        names.sort();
        rows.push(json!({ "namespace": namespace, "names": names }));
    }
    Ok(Value::Array(rows))
}

async fn children(client: &zookeeper_client::Client, path: &str) -> Result<Vec<String>, ApiError> {
    match client.list_children(path).await {
        Ok(names) => Ok(names),
        Err(ZkError::NoNode) => Ok(Vec::new()),
        Err(e) => Err(failure::zk("list", path, e)),
    }
}

/// `{"namespace","name","path","version","text","status":[{"instance","host","version",
/// "state","error","refused","canary","since_ms","zone"}]}`; 404 when there is no document.
pub(crate) async fn get(state: &State, ns: &str, name: &str) -> Reply {
    let (ns, name) = names(ns, name)?;
    let path = state.config.path(ns, name).map_err(failure::config)?;
    let Some((text, version)) = state.config.current(ns, name).await.map_err(failure::config)? else {
        return Err(ApiError::not_found(format!("no config document {path}")));
    };
    let status = state.config.status(ns, name).await.map_err(failure::config)?;
    let status: Vec<Value> = status
        .iter()
        .map(|s| {
            json!({
                "instance": s.instance, "host": s.host, "version": s.version, "state": s.state.to_string(),
                "error": s.error, "refused": s.refused, "canary": s.canary, "since_ms": s.since_ms,
                "zone": s.zone,
            })
        })
        .collect();
    Ok(
        json!({ "namespace": ns, "name": name, "path": path, "version": version, "text": text, "status": status }),
    )
}

fn names<'a>(ns: &'a str, name: &'a str) -> Result<(&'a str, &'a str), ApiError> {
    Ok((crate::input::config_name("namespace", ns)?, crate::input::config_name("name", name)?))
}

/// The author and message of a write (`body.author`, `body.message`; both optional).
fn meta(body: &Value) -> Result<PublishMeta, ApiError> {
    let mut meta = PublishMeta::new();
    for key in ["author", "message"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if key == "author" => meta = meta.author(s.clone()),
            Some(Value::String(s)) => meta = meta.message(s.clone()),
            Some(_) => return Err(ApiError::bad_request(format!("{key:?} must be a string"))),
        }
    }
    Ok(meta)
}

/// `PUT /api/config/{ns}/{name}` `{"text","expect_version","author","message"}`: `{"version"}`.
pub(crate) async fn put(state: &State, ns: &str, name: &str, body: &Value) -> Reply {
    let (ns, name) = names(ns, name)?;
    let text = crate::input::string(body, "text")?;
    let expected = crate::input::expect(body)?;
    let meta = meta(body)?;
    match state.config.publish_toml_with(ns, name, text, expected, &meta).await {
        Ok(published) => Ok(json!({ "version": published.version, "path": published.path })),
        Err(config_center::Error::VersionConflict { .. }) => {
            let current = state.config.current(ns, name).await.map_err(failure::config)?;
            Err(conflict(expected, current.as_ref(), Some(text)))
        }
        Err(e) => Err(failure::config(e)),
    }
}

/// `POST /api/config/{ns}/{name}/diff` `{"text"}`: `{"version","diff","identical"}` (the
/// current document against `text`; needs no token: it writes nothing).
pub(crate) async fn diff(state: &State, ns: &str, name: &str, body: &Value) -> Reply {
    let (ns, name) = names(ns, name)?;
    let text = crate::input::string(body, "text")?;
    let current = state.config.current(ns, name).await.map_err(failure::config)?;
    let (old, version) = current.map_or((String::new(), None), |(t, v)| (t, Some(v)));
    let lines = crate::diff::diff_lines(&old, text);
    let identical = lines.iter().all(|l| l.starts_with(' '));
    Ok(json!({ "version": version, "identical": identical, "diff": lines.join("\n") }))
}

/// `GET /api/config/{ns}/{name}/history`: every version kept, newest first.
pub(crate) async fn history(state: &State, ns: &str, name: &str) -> Reply {
    let (ns, name) = names(ns, name)?;
    let entries = state.config.revisions(ns, name).await.map_err(failure::config)?;
    Ok(history_json(&entries))
}

/// `POST /api/config/{ns}/{name}/rollback` `{"to_version","expect_version","author","message"}`.
pub(crate) async fn rollback(state: &State, ns: &str, name: &str, body: &Value) -> Reply {
    let (ns, name) = names(ns, name)?;
    let to = crate::input::version(body, "to_version")?;
    let expected = crate::input::expect(body)?;
    let meta = meta(body)?;
    if expected != Expect::Any {
        let current = state.config.current(ns, name).await.map_err(failure::config)?;
        let old = state.config.history_document(ns, name, to).await.ok();
        check_expected(expected, current.as_ref(), old.as_deref())?;
    }
    match state.config.rollback_with(ns, name, to, expected, &meta).await {
        Ok(published) => Ok(json!({ "version": published.version, "path": published.path })),
        Err(config_center::Error::VersionConflict { .. }) => {
            let current = state.config.current(ns, name).await.map_err(failure::config)?;
            Err(conflict(expected, current.as_ref(), None))
        }
        Err(e) => Err(failure::config(e)),
    }
}
