//! `zkmesh rules get|put|diff|history|rollback|check`: a service's traffic rules document.

use std::collections::BTreeMap;

use config_center::{Error, Expect, RulesStore};
use registry::{Rules, ServiceUrl};
use serde_json::{json, Value};

use crate::args::{Cli, RulesCommand};
use crate::output;
use crate::zk;

/// Runs one rules command.
pub async fn run(cli: &Cli, command: &RulesCommand) -> Result<(), String> {
    let writes = matches!(command, RulesCommand::Put { .. } | RulesCommand::Rollback { .. });
    let store = store(cli, writes).await?;
    match command {
        RulesCommand::Get { service } => get(cli, &store, service).await,
        RulesCommand::Put { service, file, expect_version, force } => {
            put(cli, &store, service, file, *expect_version, *force).await
        }
        RulesCommand::Diff { service, file } => diff(cli, &store, service, file).await,
        RulesCommand::History { service } => history(cli, &store, service).await,
        RulesCommand::Rollback { service, version, force } => {
            let published = store.rollback(service, *version, Expect::Any, *force).await;
            report(cli, published.map_err(|e| e.to_string())?, *force)
        }
        RulesCommand::Check { service, consumer, file } => {
            check(cli, &store, service, consumer.as_deref(), file.as_deref()).await
        }
    }
}

/// The rules store on `--zk` (creating the chroot for writes).
pub async fn store(cli: &Cli, writes: bool) -> Result<RulesStore, String> {
    let session = zk::session(cli, if writes { zk::Chroot::Create } else { zk::Chroot::Existing }).await?;
    RulesStore::new(session).map_err(|e| e.to_string())
}

async fn get(cli: &Cli, store: &RulesStore, service: &str) -> Result<(), String> {
    let path = store.path(service).map_err(|e| e.to_string())?;
    let doc = store.get_text(service).await.map_err(|e| e.to_string())?;
    // A stored document that does not validate is shown all the same, with why.
    let invalid = doc.as_ref().and_then(|(text, _)| Rules::parse(text).err()).map(|e| e.to_string());
    match (doc, cli.json) {
        (None, true) => output::json(&json!({ "service": service, "version": null, "document": null })),
        (None, false) => crate::out!("# no rules for {service} (no {path})"),
        (Some((text, version)), true) => output::json(
            &json!({ "service": service, "version": version, "document": text, "invalid": invalid }),
        ),
        (Some((text, version)), false) => {
            crate::out!("# {path} version {version}");
            if let Some(why) = &invalid {
                crate::out!("# INVALID (consumers keep the last good rules): {why}");
            }
            output::write(&text);
        }
    }
    Ok(())
}

async fn put(
    cli: &Cli,
    store: &RulesStore,
    service: &str,
    file: &std::path::Path,
    expect_version: Option<i32>,
    force: bool,
) -> Result<(), String> {
    let text = read_file(file)?;
    let expected = match expect_version {
        None => Expect::Any,
        Some(-1) => Expect::Absent,
        Some(v) => Expect::Version(v),
    };
    match store.put(service, &text, expected, force).await {
        Ok(published) => report(cli, published, force),
        Err(e @ Error::VersionConflict { .. }) => {
            // Show what the other operator published, against this file.
            let current = store.get(service).await.ok().flatten().map(|d| d.text).unwrap_or_default();
            let diff = config_center::diff_lines(&current, &text).join("\n");
            Err(format!("{e}\npublished now (-) against {} (+):\n{diff}", file.display()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Prints a publish; a forced one says so on standard error too.
pub fn report(cli: &Cli, published: config_center::Published, force: bool) -> Result<(), String> {
    if force {
        eprintln!("zkmesh: WARNING: --force: published without refusing what the check found");
    }
    if cli.json {
        output::json(&json!({
            "path": published.path, "version": published.version, "previous": published.previous, "forced": force,
        }));
    } else {
        crate::out!("published {} version {}", published.path, published.version);
    }
    Ok(())
}

async fn diff(cli: &Cli, store: &RulesStore, service: &str, file: &std::path::Path) -> Result<(), String> {
    let text = read_file(file)?;
    Rules::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc = store.get(service).await.map_err(|e| e.to_string())?;
    let (current, version) = doc.map(|d| (d.text, Some(d.version))).unwrap_or_default();
    let lines = config_center::diff_lines(&current, &text);
    let changes: Vec<&String> = lines.iter().filter(|l| !l.starts_with(' ')).collect();
    if cli.json {
        output::json(&json!({ "version": version, "identical": changes.is_empty(), "diff": changes }));
    } else if changes.is_empty() {
        crate::out!("no differences (version {})", version.map_or("-".into(), |v| v.to_string()));
    } else {
        for line in lines {
            crate::out!("{line}");
        }
    }
    Ok(())
}

async fn history(cli: &Cli, store: &RulesStore, service: &str) -> Result<(), String> {
    let entries = store.history(service).await.map_err(|e| e.to_string())?;
    let current = store.get(service).await.map_err(|e| e.to_string())?.map(|d| d.version);
    if cli.json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({ "version": e.version, "size": e.size, "identity": e.identity,
                    "author": e.author, "message": e.message })
            })
            .collect();
        output::json(&json!({ "service": service, "current": current, "history": list }));
    } else {
        crate::out!("current version: {}", current.map_or("-".into(), |v| v.to_string()));
        let unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let message = e.message.as_deref().map(crate::config::first_line).unwrap_or_default();
                vec![
                    e.version.to_string(),
                    e.size.to_string(),
                    unknown(&e.identity),
                    unknown(&e.author),
                    message,
                ]
            })
            .collect();
        output::table(&["VERSION", "BYTES", "IDENTITY", "AUTHOR", "MESSAGE"], &rows);
    }
    Ok(())
}

/// What a consumer with these parameters would get: every provider's share.
async fn check(
    cli: &Cli,
    store: &RulesStore,
    service: &str,
    consumer: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<(), String> {
    let rules = match file {
        Some(file) => Rules::parse(&read_file(file)?).map_err(|e| format!("{}: {e}", file.display()))?,
        None => store.get(service).await.map_err(|e| e.to_string())?.map(|d| d.rules).unwrap_or_default(),
    };
    let params = parse_params(consumer.unwrap_or(""))?;
    let (providers, consumers) = store.members(service).await.map_err(|e| e.to_string())?;
    let shares = rules.shares(&params, &providers);
    let verdict = rules.check(&providers, &consumers).refusal(registry::DEFAULT_MAX_DISABLED_SHARE);
    if cli.json {
        let list: Vec<_> = shares
            .iter()
            .map(|s| json!({ "url": s.url.to_string(), "address": s.url.address(), "registered_weight": s.registered,
                "weight": s.weight, "disabled": s.disabled, "out": s.out, "share": s.share }))
            .collect();
        output::json(
            &json!({ "service": service, "consumer": params, "providers": list, "refused": verdict }),
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = shares
        .iter()
        .map(|s| {
            let state = if s.disabled {
                "disabled"
            } else if s.out {
                "routed away"
            } else {
                "in"
            };
            let share = format!("{:.1}%", s.share * 100.0);
            vec![s.url.address(), s.registered.to_string(), s.weight.to_string(), share, state.into()]
        })
        .collect();
    output::table(&["PROVIDER", "REGISTERED", "WEIGHT", "SHARE", "STATE"], &rows);
    crate::out!("(shares of requests without a tag; warm-up and ejection are each consumer process's own)");
    match verdict {
        Some(reason) => crate::out!("a publish of these rules would be refused: {reason}"),
        None => crate::out!("a publish of these rules would pass the check ({} consumers)", consumers.len()),
    }
    Ok(())
}

/// `zone=az1,tag=canary` as parameters.
fn parse_params(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("--consumer takes key=value pairs separated by commas, not {pair:?}")),
        })
        .collect()
}

fn read_file(file: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

/// What the published rules make of the registered providers `nodes` (for `zkmesh
/// providers`; nothing for `kind` = "consumers").
pub async fn provider_view(
    cli: &Cli,
    service: &str,
    kind: &str,
    nodes: &[String],
) -> Result<Vec<registry::Share>, String> {
    if kind != "providers" {
        return Ok(Vec::new());
    }
    let urls: Vec<ServiceUrl> = nodes.iter().filter_map(|n| ServiceUrl::from_node_name(n).ok()).collect();
    let rules = match store(cli, false).await?.get(service).await {
        Ok(doc) => doc.map(|d| d.rules).unwrap_or_default(),
        Err(e) => {
            eprintln!("zkmesh: {e}; EFFECTIVE shows the registered weights");
            Rules::default()
        }
    };
    Ok(rules.shares(&BTreeMap::new(), &urls))
}

/// Adds the `EFFECTIVE`, `DISABLED` and `EJECTED` cells to `url`'s row and fields to its JSON.
pub fn annotate(
    view: &[registry::Share],
    ejections: &registry::Ejections,
    url: &ServiceUrl,
    mut row: Option<&mut Vec<String>>,
    doc: &mut Value,
) {
    let Some(share) = view.iter().find(|s| &s.url == url) else { return };
    if let Some(row) = row.as_deref_mut() {
        row.extend([share.weight.to_string(), if share.disabled { "yes".into() } else { "no".into() }]);
    }
    doc["effective_weight"] = json!(share.weight);
    doc["disabled"] = json!(share.disabled);
    let (ejected_by, _) = ejections.of(url.address().as_ref());
    if let Some(row) = row {
        row.push(if ejected_by.is_empty() { "no".into() } else { format!("by {}", ejected_by.join(",")) });
    }
    doc["ejected"] = json!(!ejected_by.is_empty());
    doc["ejected_by"] = json!(ejected_by);
}

/// The providers table, with the rules' columns and what they do not show.
pub fn print_providers(rows: &[Vec<String>]) {
    let headers = [
        "URL",
        "HOST",
        "PORT",
        "WEIGHT",
        "VERSION",
        "GROUP",
        "ZONE",
        "AGE",
        "EFFECTIVE",
        "DISABLED",
        "EJECTED",
    ];
    output::table(&headers, rows);
    crate::out!(
        "(EFFECTIVE: the weight under the service's rules; warm-up is each consumer process's own. EJECTED: by \
         the consumers that publish their ejections in <service>/health)"
    );
}

#[cfg(test)]
mod tests {
    use super::parse_params;

    #[test]
    fn consumer_parameters() {
        let p = parse_params("zone=az1, tag=canary").expect("valid");
        assert_eq!((p["zone"].as_str(), p["tag"].as_str()), ("az1", "canary"));
        assert!(parse_params("").expect("empty").is_empty());
        assert!(parse_params("zone").expect_err("no value").contains("key=value"));
    }
}
