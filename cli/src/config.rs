//! `zkmesh config get|put|diff|history|rollback|watch`.

use std::time::{SystemTime, UNIX_EPOCH};

use config_center::{ConfigCenter, Expect, PublishMeta};
use serde_json::json;

use crate::args::{Cli, ConfigCommand, MetaArgs};
use crate::config_rollout as rollout;
use crate::output;
use crate::zk;

/// Runs one config command.
pub async fn run(cli: &Cli, command: &ConfigCommand) -> Result<(), String> {
    let writes = matches!(command, ConfigCommand::Put { .. } | ConfigCommand::Rollback { .. });
    let session = zk::session(cli, if writes { zk::Chroot::Create } else { zk::Chroot::Existing }).await?;
    let mut builder = ConfigCenter::builder();
    if let ConfigCommand::Watch { identity, .. } = command {
        builder = rollout::identity(builder, identity)?;
    }
    let center = builder.build(session).map_err(|e| e.to_string())?;
    match command {
        ConfigCommand::Get { namespace, name } => get(cli, &center, namespace, name).await,
        ConfigCommand::Put { namespace, name, file, expect_version, meta } => {
            put(cli, &center, (namespace, name), file, *expect_version, &publish_meta(meta)).await
        }
        ConfigCommand::Diff { namespace, name, file } => diff(cli, &center, namespace, name, file).await,
        ConfigCommand::History { namespace, name } => history(cli, &center, namespace, name).await,
        ConfigCommand::Rollback { namespace, name, version, meta } => {
            rollback(cli, &center, (namespace, name), *version, &publish_meta(meta)).await
        }
        ConfigCommand::Watch { namespace, name, .. } => watch(cli, &center, namespace, name).await,
        ConfigCommand::Status { namespace, name, wait } => {
            rollout::status(cli, &center, (namespace, name), *wait).await
        }
        ConfigCommand::Canary { namespace, name, file, percent, labels, zone, meta } => {
            let selector = rollout::selector(*percent, labels, zone.as_deref())?;
            let text = read_file(file)?;
            rollout::canary(cli, &center, (namespace, name), &text, &selector, &publish_meta(meta)).await
        }
        ConfigCommand::Promote { namespace, name, meta } => {
            rollout::promote(cli, &center, (namespace, name), &publish_meta(meta)).await
        }
        ConfigCommand::Abort { namespace, name } => rollout::abort(cli, &center, (namespace, name)).await,
        ConfigCommand::Explain { namespace, name, key, layers } => {
            rollout::explain(cli, &center, (namespace, name), key, layers.as_deref()).await
        }
    }
}

/// The author and message of `--author` / `--message`; the author defaults to `$ZKMESH_AUTHOR`,
/// then `$USER`.
pub fn publish_meta(args: &MetaArgs) -> PublishMeta {
    let mut meta = PublishMeta::new();
    let author = args.author.clone().or_else(|| {
        ["ZKMESH_AUTHOR", "USER"].iter().find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    });
    if let Some(author) = author {
        meta = meta.author(author);
    }
    if let Some(message) = &args.message {
        meta = meta.message(message.clone());
    }
    meta
}

async fn put(
    cli: &Cli,
    center: &ConfigCenter,
    (namespace, name): (&str, &str),
    file: &std::path::Path,
    expect_version: Option<i32>,
    meta: &PublishMeta,
) -> Result<(), String> {
    let text = read_file(file)?;
    let expected = match expect_version {
        None => Expect::Any,
        Some(-1) => Expect::Absent,
        Some(v) => Expect::Version(v),
    };
    let published =
        center.publish_toml_with(namespace, name, &text, expected, meta).await.map_err(|e| e.to_string())?;
    if cli.json {
        output::json(&json!({
            "path": published.path, "version": published.version, "previous": published.previous,
        }));
    } else {
        crate::out!("published {} version {}", published.path, published.version);
    }
    Ok(())
}

async fn diff(
    cli: &Cli,
    center: &ConfigCenter,
    namespace: &str,
    name: &str,
    file: &std::path::Path,
) -> Result<(), String> {
    let text = read_file(file)?;
    toml::from_str::<toml::Table>(&text)
        .map_err(|e| format!("{}: not TOML: {}", file.display(), e.message()))?;
    let (current, version) = center
        .current(namespace, name)
        .await
        .map_err(|e| e.to_string())?
        .map(|(doc, v)| (doc, Some(v)))
        .unwrap_or((String::new(), None));
    // Bounded: two huge documents that differ throughout show their middle replaced.
    let lines = config_center::diff_lines(&current, &text);
    if cli.json {
        let changes: Vec<_> = lines.iter().filter(|l| !l.starts_with(' ')).collect();
        output::json(&json!({ "version": version, "identical": changes.is_empty(), "diff": changes }));
    } else if lines.iter().all(|l| l.starts_with(' ')) {
        crate::out!(
            "no differences (version {})",
            version.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
        );
    } else {
        for line in lines.iter().filter(|l| !l.starts_with(' ')) {
            crate::out!("{line}");
        }
    }
    Ok(())
}

async fn history(cli: &Cli, center: &ConfigCenter, namespace: &str, name: &str) -> Result<(), String> {
    let entries = center.revisions(namespace, name).await.map_err(|e| e.to_string())?;
    let now = SystemTime::now();
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    if cli.json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({
                    "version": e.version, "current": e.current, "published_at_ms": ms(e.published_at),
                    "replaced_at_ms": (!e.current).then(|| ms(e.replaced_at)), "size": e.size,
                    "archived": e.archived, "author": e.author, "message": e.message,
                    "identity": e.identity,
                })
            })
            .collect();
        output::json(&json!({ "history": list }));
    } else {
        let ago = |t: SystemTime| {
            format!(
                "{} ago",
                crate::services::format_age(now.duration_since(t).map(|d| d.as_secs()).unwrap_or(0))
            )
        };
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    if e.current { format!("{} (current)", e.version) } else { e.version.to_string() },
                    ago(e.published_at),
                    if e.current { "-".to_owned() } else { ago(e.replaced_at) },
                    if e.archived { e.size.to_string() } else { format!("{} (not archived)", e.size) },
                    e.identity.clone().unwrap_or_else(|| "unknown".into()),
                    e.author.clone().unwrap_or_else(|| "unknown".into()),
                    e.message.as_deref().map(first_line).unwrap_or_default(),
                ]
            })
            .collect();
        output::table(&["VERSION", "PUBLISHED", "REPLACED", "BYTES", "IDENTITY", "AUTHOR", "MESSAGE"], &rows);
    }
    Ok(())
}

/// The first line of a message, marked when there are more.
pub(crate) fn first_line(message: &str) -> String {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

async fn rollback(
    cli: &Cli,
    center: &ConfigCenter,
    (namespace, name): (&str, &str),
    version: i32,
    meta: &PublishMeta,
) -> Result<(), String> {
    let published =
        center.rollback_with(namespace, name, version, Expect::Any, meta).await.map_err(|e| e.to_string())?;
    if cli.json {
        output::json(&json!({ "path": published.path, "version": published.version, "restored": version }));
    } else {
        crate::out!("restored version {version} of {} as version {}", published.path, published.version);
    }
    Ok(())
}

async fn get(cli: &Cli, center: &ConfigCenter, namespace: &str, name: &str) -> Result<(), String> {
    let path = center.path(namespace, name).map_err(|e| e.to_string())?;
    match center.current(namespace, name).await.map_err(|e| e.to_string())? {
        Some((document, version)) => {
            if cli.json {
                output::json(&json!({ "path": path, "version": version, "document": document }));
            } else {
                crate::out!("# {path} version {version}");
                crate::output::write(&document);
                if !document.ends_with('\n') {
                    crate::out!();
                }
            }
            Ok(())
        }
        None => Err(format!("no config at {path}")),
    }
}

async fn watch(cli: &Cli, center: &ConfigCenter, namespace: &str, name: &str) -> Result<(), String> {
    let mut interrupt = crate::interrupt::Interrupt::new()?;
    let mut config = center.watch::<toml::Table>(namespace, name).await.map_err(|e| e.to_string())?;
    let mut status = config.status();
    print_value(cli, &config);
    loop {
        let accepted = status.accepted;
        status = tokio::select! {
            changed = config.status_changed() => changed.map_err(|e| e.to_string())?,
            _ = interrupt.recv() => return Ok(()),
        };
        if status.accepted != accepted {
            print_value(cli, &config);
        } else if let Some(error) = &status.error {
            // A document the watcher refused: the value in use stays, and the operator is told.
            if cli.json {
                output::json(&json!({ "version": status.version, "refused": error.to_string() }));
            } else {
                crate::out!("# refused (version {} stays in use): {error}", version_text(status.version));
            }
        }
    }
}

fn print_value(cli: &Cli, config: &config_center::Config<toml::Table>) {
    let value = config.load();
    let version = config.version();
    if cli.json {
        let doc = serde_json::to_value(&*value).unwrap_or_default();
        output::json(&json!({ "version": version, "document": doc }));
    } else {
        crate::out!("# version {}", version_text(version));
        crate::output::write(toml::to_string(&*value).unwrap_or_default());
    }
}

fn version_text(version: Option<i32>) -> String {
    version.map(|v| v.to_string()).unwrap_or_else(|| "- (absent)".into())
}

/// The content of a local TOML file, checked before anything is sent: a parse error names the
/// file, the line and the column (not the ZooKeeper path it was meant for).
fn read_file(file: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if let Err(e) = toml::from_str::<toml::Table>(&text) {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(", line {line}, column {column}")
        });
        return Err(format!("{}{}: not TOML: {}", file.display(), at.unwrap_or_default(), e.message()));
    }
    Ok(text)
}
