//! `zkmesh acl show|grant|revoke|digest`: who may write under a service (`/services/<name>`: its
//! providers and rules) or a config namespace (`/config/<name>`), through
//! [`registry::AccessPolicy`]. Everyone keeps reading. Identities are `digest:<user>:<digest>`
//! (`zkmesh acl digest <user>` computes it from a password read on standard input),
//! `sasl:<user>` and `x509:<subject>`; output names users, never digests.

use std::io::BufRead as _;

use registry::{AccessPolicy, AccessTarget, Identity};
use serde_json::json;

use crate::args::{AclCommand, AclKind, Cli};
use crate::zk;

/// Runs one `zkmesh acl` command.
pub async fn run(cli: &Cli, command: &AclCommand) -> Result<(), String> {
    let policy = match command {
        AclCommand::Digest { user } => return digest(user),
        AclCommand::Show { kind, name } => {
            let session = zk::session(cli, zk::Chroot::Existing).await?;
            AccessPolicy::read(&session, &target(*kind, name)?).await.map_err(|e| e.to_string())?
        }
        AclCommand::Grant { kind, name, identities } => {
            let session = zk::session(cli, zk::Chroot::Create).await?;
            let identities = parse(identities, false)?;
            AccessPolicy::grant(&session, &target(*kind, name)?, &identities)
                .await
                .map_err(|e| e.to_string())?
        }
        AclCommand::Revoke { kind, name, identities } => {
            let session = zk::session(cli, zk::Chroot::Existing).await?;
            let identities = parse(identities, true)?;
            AccessPolicy::revoke(&session, &target(*kind, name)?, &identities)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    print(cli, &policy);
    Ok(())
}

fn target(kind: AclKind, name: &str) -> Result<AccessTarget, String> {
    match kind {
        AclKind::Service => AccessTarget::service(name),
        AclKind::Namespace => AccessTarget::namespace(name),
    }
    .map_err(|e| e.to_string())
}

/// Parses identities; for a revoke, `digest:<user>` alone is enough (users match by name).
fn parse(identities: &[String], by_name: bool) -> Result<Vec<Identity>, String> {
    identities
        .iter()
        .map(|text| match text.strip_prefix("digest:") {
            Some(user) if by_name && !user.contains(':') => Identity::parse(&format!("{text}:-")),
            _ => Identity::parse(text),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

fn print(cli: &Cli, policy: &AccessPolicy) {
    let writers: Vec<String> = policy.writers.iter().map(Identity::name).collect();
    if cli.json {
        crate::output::json(&json!({
            "path": policy.path, "exists": policy.exists, "world_readable": policy.world_readable,
            "open": policy.open, "writers": writers,
        }));
        return;
    }
    crate::out!("{}", policy.path);
    if !policy.exists {
        crate::out!("  does not exist (anyone may create it: no policy)");
        return;
    }
    crate::out!("  read:   {}", if policy.world_readable { "anyone" } else { "writers only" });
    if policy.open {
        crate::out!("  write:  anyone may add children (no policy; `zkmesh acl grant` sets one)");
    } else if writers.is_empty() {
        crate::out!("  write:  nobody named (the ACL gives no identity write rights)");
    } else {
        crate::out!("  write:  {}", writers.join(", "));
    }
}

/// Prints `digest:<user>:<digest>` for the password on the first line of standard input.
fn digest(user: &str) -> Result<(), String> {
    if user.is_empty() || user.contains(':') {
        return Err(format!("invalid digest user {user:?}: empty or with a ':'"));
    }
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).map_err(|e| format!("reading the password: {e}"))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("no password on standard input (echo -n ... | zkmesh acl digest USER)".to_owned());
    }
    let Identity::Digest { digest, .. } = Identity::digest(user, password) else {
        return Err("unexpected identity".to_owned());
    };
    crate::out!("digest:{user}:{digest}");
    Ok(())
}
