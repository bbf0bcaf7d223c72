//! `zkmesh services`, `zkmesh providers`, `zkmesh consumers`.

use std::time::{SystemTime, UNIX_EPOCH};

use registry::ServiceUrl;
use serde_json::json;

use crate::args::Cli;
use crate::output::{self, or_dash};
use crate::zk;

const ROOT: &str = registry::DEFAULT_ROOT;

/// Every service with its provider and consumer counts.
pub async fn services(cli: &Cli) -> Result<(), String> {
    let session = zk::session(cli, zk::Chroot::Existing).await?;
    let client = zk::client(&session)?;
    let mut names = match client.list_children(ROOT).await {
        Ok(names) => names,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(format!("list {ROOT}: {e}")),
    };
    names.sort();
    let mut rows = Vec::new();
    for name in &names {
        let count = |kind: &str| {
            let client = client.clone();
            let path = format!("{ROOT}/{name}/{kind}");
            async move {
                match client.check_stat(&path).await {
                    Ok(stat) => Ok(stat.map(|s| s.num_children).unwrap_or(0)),
                    Err(e) => Err(format!("stat {path}: {e}")),
                }
            }
        };
        rows.push((name.clone(), count("providers").await?, count("consumers").await?));
    }
    if cli.json {
        let list: Vec<_> =
            rows.iter().map(|(n, p, c)| json!({"service": n, "providers": p, "consumers": c})).collect();
        output::json(&json!({ "services": list }));
    } else {
        let rows: Vec<Vec<String>> =
            rows.iter().map(|(n, p, c)| vec![n.clone(), p.to_string(), c.to_string()]).collect();
        output::table(&["SERVICE", "PROVIDERS", "CONSUMERS"], &rows);
    }
    Ok(())
}

/// The decoded providers (`kind` = "providers") or consumers of `service`.
pub async fn members(cli: &Cli, service: &str, kind: &str) -> Result<(), String> {
    registry::validate_service_name(service).map_err(|e| e.to_string())?;
    let session = zk::session(cli, zk::Chroot::Existing).await?;
    let client = zk::client(&session)?;
    let service_path = format!("{ROOT}/{service}");
    if client.check_stat(&service_path).await.map_err(|e| format!("stat {service_path}: {e}"))?.is_none() {
        return Err(format!("unknown service {service:?} (no {service_path} in ZooKeeper at {})", cli.zk));
    }
    let path = format!("{service_path}/{kind}");
    let mut nodes = match client.list_children(&path).await {
        Ok(nodes) => nodes,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(format!("list {path}: {e}")),
    };
    nodes.sort();
    let rules = crate::rules::provider_view(cli, service, kind, &nodes).await?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for node in &nodes {
        match ServiceUrl::from_node_name(node) {
            Ok(url) => {
                // The age of this node, not of the URL's `timestamp`: a provider re-registered
                // after a session expiry keeps its URL (and timestamp) but has a new node.
                let created_ms =
                    client.check_stat(&format!("{path}/{node}")).await.ok().flatten().map(|s| s.ctime);
                let age = created_ms.map(|t| ((now_ms - t).max(0) / 1000) as u64);
                rows.push(vec![
                    url.to_string(),
                    url.host().to_owned(),
                    url.port().to_string(),
                    url.weight().to_string(),
                    or_dash(url.version()),
                    or_dash(url.group()),
                    or_dash(url.zone()),
                    age.map(format_age).unwrap_or_else(|| "-".into()),
                ]);
                let mut doc = json!({
                    "url": url.to_string(), "host": url.host(), "port": url.port(), "weight": url.weight(),
                    "version": url.version(), "group": url.group(), "zone": url.zone(),
                    "age_seconds": age, "registered_ms": url.timestamp(), "node": node,
                });
                crate::rules::annotate(&rules, &url, rows.last_mut(), &mut doc);
                docs.push(doc);
            }
            Err(e) => {
                rows.push(vec![format!("(undecodable node {node})"), e.to_string(), String::new()]);
                docs.push(json!({ "node": node, "error": e.to_string() }));
            }
        }
    }
    if cli.json {
        output::json(&json!({ "service": service, kind: docs }));
    } else if kind == "providers" {
        crate::rules::print_providers(&rows);
    } else {
        output::table(&["URL", "HOST", "PORT", "WEIGHT", "VERSION", "GROUP", "ZONE", "AGE"], &rows);
    }
    Ok(())
}

/// `95s`, `12m`, `3h`, `2d`.
pub fn format_age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
