//! [`AccessPolicy`]: who may write under one service (`/services/<service>`: its providers and
//! rules) or one config namespace (`/config/<namespace>`), while everyone may still read.
//!
//! The policy *is* the ZooKeeper ACL of the service's (namespace's) node, so there is one source
//! of truth, visible to every ZooKeeper tool:
//!
//! - the writers ([`Identity`]: digest users, SASL principals, x509 subjects) may do everything:
//!   read, write, create, delete, and `ADMIN` (ZooKeeper shows the digests of an ACL only to
//!   those with `ADMIN`, and a writer needs them to give the nodes it re-creates below, and the
//!   documents it publishes, the same rights; so writers own their service or namespace);
//! - the operator who granted (every authenticated identity of its session) is a writer too, so
//!   that it can change the rights again;
//! - `world:anyone` may read, and nothing else.
//!
//! [`AccessPolicy::grant`] sets that ACL on the node and on every persistent node below it
//! (creating `providers` when missing), except the service's `consumers` and `health`, where
//! anyone may still create and delete (consumers register there, and publish their ejections,
//! without credentials). Nodes zkmesh re-creates
//! under a governed node later (a deleted `providers`, a namespace's documents) inherit its ACL
//! (see [`NodeAcl`](crate::NodeAcl)), so the rights survive session expiry and re-creation.
//!
//! Granting needs `ADMIN` on the node: grant before providers create it, or as its creator, or
//! as ZooKeeper's super user.

use std::fmt;

use base64::Engine as _;
use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Error as ZkError, Permission};

use crate::error::{Error, Result};
use crate::session::{join, Session};

/// The root of services (the registry's default layout).
pub const SERVICES_ROOT: &str = "/services";
/// The root of config namespaces (the config center's default layout).
pub const CONFIG_ROOT: &str = "/config";
/// The service children consumers write (their registrations, their ejections): left open to
/// everyone's create and delete.
const OPEN_CHILDREN: [&str; 2] = ["consumers", crate::consumer::HEALTH_DIR];
/// What a writer may do: everything (see the module docs for why `ADMIN` too).
const WRITER: Permission = Permission::ALL;

/// An identity that rights can be granted to, in ZooKeeper's ACL terms.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// A digest user, with ZooKeeper's digest of its password (`base64(sha1("user:password"))`).
    Digest {
        /// The user name.
        user: String,
        /// The digest (not the password).
        digest: String,
    },
    /// A SASL principal (`alice`, or `zookeeper/host@REALM` for Kerberos).
    Sasl(String),
    /// The subject of a TLS client certificate, as ZooKeeper's x509 provider names it
    /// (RFC 2253: `CN=payments,O=example`).
    X509(String),
}

impl Identity {
    /// A digest user from its password: ZooKeeper's digest is computed here, the password is
    /// not kept.
    pub fn digest(user: &str, password: &str) -> Identity {
        let hash = sha1_smol::Sha1::from(format!("{user}:{password}")).digest().bytes();
        Identity::Digest {
            user: user.to_owned(),
            digest: base64::engine::general_purpose::STANDARD.encode(hash),
        }
    }

    /// Parses `digest:<user>:<digest>`, `sasl:<principal>` or `x509:<subject>` (ZooKeeper's
    /// `scheme:id` form, as `getAcl` prints it).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for another scheme, an empty id or a digest entry without its
    /// digest (`digest:<user>` alone: use [`Identity::digest`] with the password).
    pub fn parse(text: &str) -> Result<Identity> {
        let bad = |reason: &str| Error::InvalidArgument {
            what: format!("identity {text:?}"),
            reason: reason.to_owned(),
        };
        let (scheme, id) = text.split_once(':').ok_or_else(|| bad("expected scheme:id"))?;
        if id.is_empty() {
            return Err(bad("empty id"));
        }
        match scheme {
            "digest" => match id.split_once(':') {
                Some((user, digest)) if !user.is_empty() && !digest.is_empty() => {
                    Ok(Identity::Digest { user: user.to_owned(), digest: digest.to_owned() })
                }
                _ => Err(bad("expected digest:<user>:<digest> (zkmesh acl digest <user> computes it)")),
            },
            "sasl" => Ok(Identity::Sasl(id.to_owned())),
            "x509" => Ok(Identity::X509(id.to_owned())),
            _ => Err(bad("the scheme must be digest, sasl or x509")),
        }
    }

    /// The ACL id: `scheme` and `id`.
    pub fn auth_id(&self) -> AuthId {
        match self {
            Identity::Digest { user, digest } => AuthId::new("digest", &format!("{user}:{digest}")),
            Identity::Sasl(principal) => AuthId::new("sasl", principal),
            Identity::X509(subject) => AuthId::new("x509", subject),
        }
    }

    fn from_auth_id(id: &AuthId) -> Option<Identity> {
        Identity::parse(&format!("{}:{}", id.scheme(), id.id())).ok()
    }

    /// The name to show: `digest:<user>` (no digest), `sasl:<principal>`, `x509:<subject>`.
    pub fn name(&self) -> String {
        match self {
            Identity::Digest { user, .. } => format!("digest:{user}"),
            Identity::Sasl(principal) => format!("sasl:{principal}"),
            Identity::X509(subject) => format!("x509:{subject}"),
        }
    }

    fn same_principal(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Digest { user: a, .. }, Identity::Digest { user: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// What a policy governs: a service or a config namespace, by the path of its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTarget {
    path: String,
    kind: TargetKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    Service,
    Namespace,
}

impl AccessTarget {
    /// The service `name`, under [`SERVICES_ROOT`].
    ///
    /// # Errors
    /// [`Error::InvalidServiceName`].
    pub fn service(name: &str) -> Result<Self> {
        crate::validate_service_name(name)?;
        Ok(AccessTarget { path: join(SERVICES_ROOT, name), kind: TargetKind::Service })
    }

    /// The config namespace `name`, under [`CONFIG_ROOT`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a name outside `[A-Za-z0-9._-]{1,255}`.
    pub fn namespace(name: &str) -> Result<Self> {
        crate::validate_service_name(name).map_err(|e| Error::InvalidArgument {
            what: format!("config namespace {name:?}"),
            reason: e.to_string(),
        })?;
        Ok(AccessTarget { path: join(CONFIG_ROOT, name), kind: TargetKind::Namespace })
    }

    /// The governed node's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The rights on one service or namespace, as read from its node's ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The governed node.
    pub path: String,
    /// Identities that may write (and change these rights), the granting operators included.
    pub writers: Vec<Identity>,
    /// Whether anyone may read (true under a policy).
    pub world_readable: bool,
    /// Whether anyone may create below the node: true when no policy governs it.
    pub open: bool,
    /// Whether the node exists.
    pub exists: bool,
}

impl AccessPolicy {
    /// The policy of `target` as its node's ACL says.
    ///
    /// # Errors
    /// [`Error::Zookeeper`] (connection loss included), [`Error::SessionClosed`].
    pub async fn read(session: &Session, target: &AccessTarget) -> Result<AccessPolicy> {
        let client = session.shared.live_now()?.client;
        match client.get_acl(target.path()).await {
            Ok((acl, _)) => Ok(AccessPolicy::from_acl(target.path(), &acl)),
            Err(ZkError::NoNode) => Ok(AccessPolicy {
                path: target.path().to_owned(),
                writers: Vec::new(),
                world_readable: true,
                open: true,
                exists: false,
            }),
            Err(e) => Err(Error::zk("get_acl", target.path(), e)),
        }
    }

    fn from_acl(path: &str, acl: &[Acl]) -> AccessPolicy {
        let world = |a: &&Acl| a.scheme() == "world" && a.id() == "anyone";
        let writers = acl
            .iter()
            .filter(|a| !world(a))
            .filter(|a| a.permission().has(Permission::WRITE) || a.permission().has(Permission::CREATE))
            .filter_map(|a| Identity::from_auth_id(a.auth_id()))
            .collect();
        AccessPolicy {
            path: path.to_owned(),
            writers,
            world_readable: acl.iter().filter(world).any(|a| a.permission().has(Permission::READ)),
            open: crate::session::lets_anyone_create(acl),
            exists: true,
        }
    }

    /// Lets `identities` write under `target` (on top of the writers it has), and the session's
    /// own identities too (to change the rights again), and leaves it readable by everyone; creates
    /// the node (and a service's `providers` and `consumers`) when missing.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the session has no credentials (nobody could change the
    /// rights again); [`Error::NotAuthorized`] naming the node whose ACL this session may not
    /// change (it lacks `ADMIN` there); [`Error::UnsupportedIdentity`] when the server accepts
    /// no identity of a `sasl` or `x509` writer (no provider for that scheme);
    /// [`Error::Zookeeper`]; [`Error::SessionClosed`].
    pub async fn grant(
        session: &Session,
        target: &AccessTarget,
        identities: &[Identity],
    ) -> Result<AccessPolicy> {
        let current = AccessPolicy::read(session, target).await?;
        let mut writers = if current.open { Vec::new() } else { current.writers };
        for identity in identities {
            writers.retain(|w| !w.same_principal(identity));
            writers.push(identity.clone());
        }
        apply(session, target, &writers).await
    }

    /// Takes write rights under `target` away from `identities` (matched by user name for
    /// digest users). The node stays governed: the session's own identities remain writers.
    ///
    /// # Errors
    /// As [`AccessPolicy::grant`].
    pub async fn revoke(
        session: &Session,
        target: &AccessTarget,
        identities: &[Identity],
    ) -> Result<AccessPolicy> {
        let current = AccessPolicy::read(session, target).await?;
        let mut writers = if current.open { Vec::new() } else { current.writers };
        writers.retain(|w| !identities.iter().any(|i| i.same_principal(w)));
        apply(session, target, &writers).await
    }
}

/// The ACL of a governed node with these writers, administered by the caller (`auth`).
fn governed_acl(writers: &[Identity]) -> Vec<Acl> {
    let mut acl = vec![
        Acl::new(Permission::ALL, AuthId::new("auth", "")),
        Acl::new(Permission::READ, AuthId::anyone()),
    ];
    acl.extend(writers.iter().map(|w| Acl::new(WRITER, w.auth_id())));
    acl
}

/// The ACL of a service's `consumers` and `health`: the governed one, plus create and delete
/// for anyone.
fn consumers_acl(writers: &[Identity]) -> Vec<Acl> {
    let mut acl = governed_acl(writers);
    acl[1] = Acl::new(Permission::READ | Permission::CREATE | Permission::DELETE, AuthId::anyone());
    acl
}

/// Sets the governed ACL on `target`'s node and the persistent nodes below it.
async fn apply(session: &Session, target: &AccessTarget, writers: &[Identity]) -> Result<AccessPolicy> {
    let core = session.core();
    let client = core.live_now()?.client;
    let admins = client.list_auth_users().await.map_err(|e| Error::zk("whoami", target.path(), e))?;
    if admins.iter().all(|u| u.scheme() == "ip") {
        return Err(Error::InvalidArgument {
            what: format!("rights on {}", target.path()),
            reason: "this session has no credentials: nobody could change these rights again \
                     (connect with digest, SASL or a TLS client certificate)"
                .into(),
        });
    }
    // The session's own identities come in through `auth`: not twice.
    let own: Vec<String> = admins.iter().map(|u| format!("{}:{}", u.scheme(), u.user())).collect();
    let writers: Vec<Identity> = writers.iter().filter(|w| !own.contains(&w.name())).cloned().collect();
    let writers = writers.as_slice();
    session.ensure_path(target.path()).await?;
    let acl = governed_acl(writers);
    if let Err(e) = set_all(&client, target, &acl, writers).await {
        return Err(match unsupported_identities(&e, writers) {
            Some(refused) => refused,
            None => core.name_identity(&client, e).await,
        });
    }
    tracing::info!(path = target.path(), writers = ?writers, "access policy set");
    AccessPolicy::read(session, target).await
}

/// `error` as [`Error::UnsupportedIdentity`] when ZooKeeper refused the ACL (`InvalidACL`) and
/// `writers` name identities whose scheme the server may lack a provider for (`sasl`, `x509`);
/// the digest, `world` and `auth` entries zkmesh writes are valid on every server.
fn unsupported_identities(error: &Error, writers: &[Identity]) -> Option<Error> {
    let Error::Zookeeper { source: ZkError::InvalidAcl, path, .. } = error else { return None };
    let identities: Vec<String> =
        writers.iter().filter(|w| !matches!(w, Identity::Digest { .. })).map(Identity::name).collect();
    if identities.is_empty() {
        return None;
    }
    Some(Error::UnsupportedIdentity { path: path.clone(), identities })
}

/// Sets the ACLs on `target` and below, and creates a service's `providers`, `consumers` and
/// `health`.
async fn set_all(client: &Client, target: &AccessTarget, acl: &[Acl], writers: &[Identity]) -> Result<()> {
    set_below(client, target.path(), acl, writers).await?;
    if target.kind == TargetKind::Service {
        for child in ["providers", OPEN_CHILDREN[0], OPEN_CHILDREN[1]] {
            let path = join(target.path(), child);
            let open = OPEN_CHILDREN.contains(&child);
            let child_acl = if open { consumers_acl(writers) } else { acl.to_vec() };
            let options = CreateMode::Persistent.with_acls(Acls::new(&child_acl));
            match client.create(&path, &[], &options).await {
                Ok(_) | Err(ZkError::NodeExists) => {}
                Err(e) => return Err(Error::zk("create", &path, e)),
            }
        }
    }
    Ok(())
}

/// Sets `acl` on `path` and, depth first, on every persistent node below it (a service's
/// `consumers` and `health` get [`consumers_acl`]); ephemerals keep their owners' ACL.
async fn set_below(client: &Client, root: &str, acl: &[Acl], writers: &[Identity]) -> Result<()> {
    let mut stack = vec![root.to_owned()];
    let mut visited = 0usize;
    while let Some(path) = stack.pop() {
        visited += 1;
        if visited > 100_000 {
            return Err(Error::InvalidArgument {
                what: root.to_owned(),
                reason: "more than 100000 nodes below".into(),
            });
        }
        let open = path.rsplit('/').next().is_some_and(|name| OPEN_CHILDREN.contains(&name));
        let node_acl = if open && path != root { consumers_acl(writers) } else { acl.to_vec() };
        match client.check_stat(&path).await.map_err(|e| Error::zk("exists", &path, e))? {
            Some(stat) if stat.ephemeral_owner != 0 => continue,
            Some(_) => {}
            None => continue,
        }
        match client.set_acl(&path, &node_acl, None).await {
            Ok(_) | Err(ZkError::NoNode) => {}
            Err(e) => return Err(Error::zk("set_acl", &path, e)),
        }
        match client.list_children(&path).await {
            Ok(children) => stack.extend(children.iter().map(|c| join(&path, c))),
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(Error::zk("list_children", &path, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn digest_matches_zookeepers_generate_digest() {
        // `DigestAuthenticationProvider.generateDigest("super:test")` in ZooKeeper's docs.
        let Identity::Digest { user, digest } = Identity::digest("super", "test") else { panic!() };
        assert_eq!((user.as_str(), digest.as_str()), ("super", "D/InIHSb7yEEbrWz8b9l71RjZJU="));
    }

    #[test]
    fn identities_parse_and_never_show_digests() {
        let d = Identity::parse("digest:team:abc=").unwrap();
        assert_eq!(d.auth_id(), AuthId::new("digest", "team:abc="));
        assert_eq!(format!("{d} {d:?}"), "digest:team digest:team");
        assert_eq!(Identity::parse("sasl:alice").unwrap().auth_id(), AuthId::new("sasl", "alice"));
        assert_eq!(Identity::parse("x509:CN=a,O=b").unwrap().name(), "x509:CN=a,O=b");
        for bad in ["digest:team", "ip:1.2.3.4", "sasl:", "nothing"] {
            assert!(matches!(Identity::parse(bad), Err(Error::InvalidArgument { .. })), "{bad}");
        }
    }

    #[test]
    fn a_policy_is_read_back_from_its_acl() {
        let writers = [Identity::parse("sasl:alice").unwrap(), Identity::digest("team", "pw")];
        let mut acl = governed_acl(&writers);
        acl[0] = Acl::new(Permission::ALL, AuthId::new("digest", "ops:xyz"));
        let policy = AccessPolicy::from_acl("/services/p", &acl);
        let mut expected = vec![Identity::parse("digest:ops:xyz").unwrap()];
        expected.extend(writers.iter().cloned());
        assert_eq!(policy.writers, expected);
        assert!(policy.world_readable && !policy.open);
        assert!(AccessPolicy::from_acl("/x", &consumers_acl(&writers)).open);
    }
}
