//! `zkmesh config status|canary|promote|abort|explain`: the rollout of a document across its
//! watchers.

use std::time::{Duration, SystemTime};

use config_center::{ConfigCenter, ConfigCenterBuilder, WatcherStatus};
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
    if cli.json {
        output::json(&json!({ "watchers": watchers }));
    } else if watchers.is_empty() {
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
