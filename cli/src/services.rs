//! `zkmesh services`, `zkmesh providers`, `zkmesh consumers`, in any layout (`--layout`) under
//! any root (`--root`).

use std::time::{SystemTime, UNIX_EPOCH};

use registry::{CuratorInstance, Layout, Registry, ServiceUrl};
use serde_json::{json, Value};

use crate::args::Cli;
use crate::output::{self, or_dash};
use crate::zk;

/// A registry on `--zk` in `layout` under `--root` (or the layout's own root); consumers of
/// the command line itself are not registered.
pub async fn registry(cli: &Cli, chroot: zk::Chroot, layout: Layout) -> Result<Registry, String> {
    let mut builder = Registry::builder().register_consumers(false).layout(layout);
    if let Some(root) = &cli.root {
        registry::validate_path(root).map_err(|e| format!("--root: {e}"))?;
        builder = builder.root(root);
    }
    builder.build(zk::session(cli, chroot).await?).map_err(|e| e.to_string())
}

/// Every service under the root with its layouts and counts.
pub async fn services(cli: &Cli, layout: Layout) -> Result<(), String> {
    let registry = registry(cli, zk::Chroot::Existing, layout).await?;
    let listed = registry.services().await.map_err(|e| e.to_string())?;
    let layouts = |l: &[Layout]| {
        if l.is_empty() {
            "-".to_owned()
        } else {
            l.iter().map(|l| l.name()).collect::<Vec<_>>().join("+")
        }
    };
    if cli.json {
        let list: Vec<Value> = listed
            .iter()
            .map(|s| {
                json!({
                    "service": s.name, "layouts": s.layouts.iter().map(|l| l.name()).collect::<Vec<_>>(),
                    "providers": s.providers, "consumers": s.consumers, "instances": s.instances,
                    "unknown": s.unknown,
                })
            })
            .collect();
        output::json(&json!({ "root": registry.root(), "services": list }));
    } else {
        let rows: Vec<Vec<String>> = listed
            .iter()
            .map(|s| {
                let note =
                    if s.is_mixed() { "mixed layouts: see zkmesh doctor".to_owned() } else { String::new() };
                let note = if s.unknown.is_empty() {
                    note
                } else {
                    format!("{} unknown children {note}", s.unknown.len())
                };
                vec![
                    s.name.clone(),
                    layouts(&s.layouts),
                    s.providers.to_string(),
                    s.consumers.to_string(),
                    s.instances.to_string(),
                    note.trim().to_owned(),
                ]
            })
            .collect();
        output::table(&["SERVICE", "LAYOUT", "PROVIDERS", "CONSUMERS", "INSTANCES", "NOTE"], &rows);
    }
    Ok(())
}

/// One row of `providers` / `consumers`: a node decoded, or why it is not.
struct Member {
    node: String,
    url: Result<ServiceUrl, String>,
    /// When the node was created (ms since the epoch).
    created_ms: Option<i64>,
}

/// The decoded providers (`kind` = "providers") or consumers of `service`.
pub async fn members(cli: &Cli, service: &str, kind: &str, layout: Layout) -> Result<(), String> {
    registry::validate_service_name(service).map_err(|e| e.to_string())?;
    if kind == "consumers" && !layout.has_consumers() {
        return Err("the curator layout has no consumer nodes (Curator x-discovery registers none)".into());
    }
    let registry = registry(cli, zk::Chroot::Existing, layout).await?;
    let client = zk::client(registry.session())?;
    let service_path = format!("{}/{service}", registry.root().trim_end_matches('/'));
    if client.check_stat(&service_path).await.map_err(|e| format!("stat {service_path}: {e}"))?.is_none() {
        return Err(format!("unknown service {service:?} (no {service_path} in ZooKeeper at {})", cli.zk));
    }
    let path =
        if layout == Layout::Curator { service_path.clone() } else { format!("{service_path}/{kind}") };
    let mut nodes = match client.list_children(&path).await {
        Ok(nodes) => nodes,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(format!("list {path}: {e}")),
    };
    nodes.sort();
    let mut members = Vec::with_capacity(nodes.len());
    for node in nodes {
        let at = format!("{path}/{node}");
        let (url, created_ms) = if layout == Layout::Curator {
            match client.get_data(&at).await {
                Ok((data, stat)) => {
                    let url = CuratorInstance::from_json(&at, &data).and_then(|i| i.to_url(&at, service));
                    (url.map_err(|e| e.to_string()), Some(stat.ctime))
                }
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(format!("read {at}: {e}")),
            }
        } else {
            // The age of this node, not of the URL's `timestamp`: a provider re-registered
            // after a session expiry keeps its URL (and timestamp) but has a new node.
            let created = client.check_stat(&at).await.ok().flatten().map(|s| s.ctime);
            (ServiceUrl::from_node_name(&node).map_err(|e| e.to_string()), created)
        };
        members.push(Member { node, url, created_ms });
    }
    // Rules are a zkmesh-layout document (`<root>/<service>/rules`).
    let rules = if layout == Layout::Zkmesh {
        let names: Vec<String> = members.iter().map(|m| m.node.clone()).collect();
        crate::rules::provider_view(cli, service, kind, &names).await?
    } else {
        Vec::new()
    };
    let ejections = match layout == Layout::Zkmesh && kind == "providers" {
        true => registry::Ejections::read(&client, &service_path).await.map_err(|e| e.to_string())?,
        false => registry::Ejections::default(),
    };
    print_members(cli, service, kind, layout, &members, (&rules, &ejections));
    Ok(())
}

fn print_members(
    cli: &Cli,
    service: &str,
    kind: &str,
    layout: Layout,
    members: &[Member],
    (rules, ejections): (&[registry::Share], &registry::Ejections),
) {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for Member { node, url, created_ms } in members {
        let age = created_ms.map(|t| ((now_ms - t).max(0) / 1000) as u64);
        match url {
            Ok(url) => {
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
                crate::rules::annotate(rules, ejections, url, rows.last_mut(), &mut doc);
                docs.push(doc);
            }
            Err(e) => {
                rows.push(vec![format!("(undecodable node {node})"), e.clone(), String::new()]);
                docs.push(json!({ "node": node, "error": e }));
            }
        }
    }
    if cli.json {
        output::json(&json!({ "service": service, "layout": layout.name(), kind: docs }));
    } else if kind == "providers" && layout == Layout::Zkmesh {
        crate::rules::print_providers(&rows);
    } else {
        output::table(&["URL", "HOST", "PORT", "WEIGHT", "VERSION", "GROUP", "ZONE", "AGE"], &rows);
    }
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
