//! `zkmesh config status|canary|promote|abort|explain`: the rollout of a document across its
//! watchers.

use std::time::{Duration, SystemTime};

use config_center::{Canary, ConfigCenter, ConfigCenterBuilder, PublishMeta, Selector, WatcherStatus};
use serde_json::json;

use crate::args::{Cli, IdentityArgs};
use crate::output;

/// The builder with `--instance`, `--label` and `--zone`.
pub fn identity(
    mut builder: ConfigCenterBuilder,
    args: &IdentityArgs,
) -> Result<ConfigCenterBuilder, String> {
    if let Some(instance) = &args.instance {
        builder = builder.instance(instance.clone());
    }
    for label in &args.labels {
        let (key, value) = parse_label(label)?;
        builder = builder.label(key, value);
    }
    if let Some(zone) = &args.zone {
        builder = builder.zone(zone.clone());
    }
    Ok(builder)
}

/// `KEY=VALUE`.
pub fn parse_label(label: &str) -> Result<(String, String), String> {
    match label.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("label {label:?} is not KEY=VALUE")),
    }
}

/// `config status`: the table (or JSON), after waiting for `wait` when given.
pub async fn status(
    cli: &Cli,
    center: &ConfigCenter,
    (namespace, name): (&str, &str),
    wait: Option<i32>,
) -> Result<(), String> {
    let watchers = match wait {
        Some(version) => {
            let timeout = Duration::from_secs(cli.timeout);
            center.wait_for_version(namespace, name, version, timeout).await.map_err(|e| e.to_string())?
        }
        None => center.status(namespace, name).await.map_err(|e| e.to_string())?,
    };
    let canary = center.canary(namespace, name).await.map_err(|e| e.to_string())?;
    if cli.json {
        output::json(&json!({ "watchers": watchers, "canary": canary }));
        return Ok(());
    }
    if let Some(canary) = &canary {
        crate::out!("{}", describe(canary));
    }
    if watchers.is_empty() {
        let path = center.path(namespace, name).map_err(|e| e.to_string())?;
        crate::out!("no live watcher of {path}");
    } else {
        print_table(&watchers);
    }
    Ok(())
}

fn print_table(watchers: &[WatcherStatus]) {
    let now = SystemTime::now();
    let rows: Vec<Vec<String>> = watchers
        .iter()
        .map(|w| {
            let age = now.duration_since(w.since()).map(|d| d.as_secs()).unwrap_or(0);
            let version = w.version.map_or("-".to_owned(), |v| v.to_string());
            let running = match w.canary {
                Some(id) => format!("{version} + canary {id}"),
                None => version,
            };
            let labels: Vec<String> = w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let why = match (&w.refused, &w.error) {
                (Some(what), Some(error)) => format!("{what}: {error}"),
                (None, Some(error)) => error.clone(),
                _ => String::new(),
            };
            vec![
                w.instance.clone(),
                running,
                w.state.to_string(),
                format!("{} ago", crate::services::format_age(age)),
                output::or_dash(w.zone.as_deref()),
                if labels.is_empty() { "-".to_owned() } else { labels.join(",") },
                why,
            ]
        })
        .collect();
    output::table(&["INSTANCE", "RUNS", "STATE", "SINCE", "ZONE", "LABELS", "REFUSED"], &rows);
}

/// One line about a canary: id, base, selector, halted.
fn describe(canary: &Canary) -> String {
    let mut line = format!("canary {} over version {} for {}", canary.id, canary.base, canary.selector);
    if let Some(halt) = &canary.halted {
        line.push_str(&format!(": HALTED, {} refused it: {}", halt.instance, halt.error));
    }
    line
}

/// The selector of `--percent`, `--label` and `--zone`.
pub fn selector(percent: Option<u32>, labels: &[String], zone: Option<&str>) -> Result<Selector, String> {
    let mut selector: Option<Selector> = percent.map(Selector::percent);
    for label in labels {
        let (key, value) = parse_label(label)?;
        selector = Some(match selector {
            Some(s) => s.and_label(key, value),
            None => Selector::label(key, value),
        });
    }
    if let Some(zone) = zone {
        selector = Some(selector.map_or_else(|| Selector::zone(zone), |s| s.and_zone(zone)));
    }
    selector.ok_or_else(|| "say which watchers: --percent N, --label KEY=VALUE or --zone ZONE".to_owned())
}

/// `config canary`.
pub async fn canary(
    cli: &Cli,
    center: &ConfigCenter,
    (namespace, name): (&str, &str),
    text: &str,
    selector: &Selector,
    meta: &PublishMeta,
) -> Result<(), String> {
    let canary =
        center.publish_canary_with(namespace, name, text, selector, meta).await.map_err(|e| e.to_string())?;
    if cli.json {
        output::json(&json!({ "canary": canary }));
    } else {
        crate::out!("published {}", describe(&canary));
    }
    Ok(())
}

/// `config promote`.
pub async fn promote(
    cli: &Cli,
    center: &ConfigCenter,
    (namespace, name): (&str, &str),
    meta: &PublishMeta,
) -> Result<(), String> {
    let published = center.promote_with(namespace, name, meta).await.map_err(|e| e.to_string())?;
    if cli.json {
        output::json(&json!({ "path": published.path, "version": published.version }));
    } else {
        crate::out!("promoted the canary of {} as version {}", published.path, published.version);
    }
    Ok(())
}

/// `config abort`.
pub async fn abort(cli: &Cli, center: &ConfigCenter, (namespace, name): (&str, &str)) -> Result<(), String> {
    let canary = center.abort(namespace, name).await.map_err(|e| e.to_string())?;
    if cli.json {
        output::json(&json!({ "aborted": canary.id }));
    } else {
        crate::out!("aborted canary {}", canary.id);
    }
    Ok(())
}

/// `config explain`.
pub async fn explain(
    cli: &Cli,
    center: &ConfigCenter,
    (namespace, name): (&str, &str),
    key: &str,
    layers: Option<&[String]>,
) -> Result<(), String> {
    let layers = match layers {
        Some(layers) => layers.to_vec(),
        None => watcher_layers(center, namespace, name).await?,
    };
    let spec = center.config::<toml::Table>(namespace, name).map_err(|e| e.to_string())?;
    let explained = spec.layers(layers).explain(key).await.map_err(|e| e.to_string())?;
    if explained.is_empty() {
        return Err(format!("no layer of {namespace}/{name} sets {key:?}"));
    }
    if cli.json {
        let list: Vec<_> = explained
            .iter()
            .map(|p| {
                let overridden: Vec<_> = p
                    .overridden
                    .iter()
                    .map(|o| json!({ "layer": o.layer, "version": o.version, "line": o.line, "value": o.value }))
                    .collect();
                json!({
                    "key": p.key, "value": p.value, "layer": p.source.layer, "version": p.source.version,
                    "line": p.source.line, "overridden": overridden,
                })
            })
            .collect();
        output::json(&json!({ "values": list }));
    } else {
        let rows: Vec<Vec<String>> = explained
            .iter()
            .map(|p| {
                let over: Vec<String> = p.overridden.iter().map(|o| format!("{} ({o})", o.value)).collect();
                vec![p.key.clone(), p.value.clone(), p.source.to_string(), over.join("; ")]
            })
            .collect();
        output::table(&["KEY", "VALUE", "SET BY", "OVERRIDES"], &rows);
    }
    Ok(())
}

/// The layers a live watcher of the document reports, as `NS/NAME`, else none.
async fn watcher_layers(center: &ConfigCenter, namespace: &str, name: &str) -> Result<Vec<String>, String> {
    let watchers = center.status(namespace, name).await.map_err(|e| e.to_string())?;
    let root = format!("{}/", center.root().trim_end_matches('/'));
    Ok(watchers
        .iter()
        .find(|w| !w.layers.is_empty())
        .map(|w| w.layers.iter().map(|p| p.strip_prefix(&root).unwrap_or(p).to_owned()).collect())
        .unwrap_or_default())
}
