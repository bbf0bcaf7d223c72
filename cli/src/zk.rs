//! Connecting, with the errors an operator can act on.

use std::time::Duration;

use registry::{NodeAcl, Session};

use crate::args::Cli;
use crate::credentials::{Credentials, Tls};

/// Whether a command may create the connect string's chroot: commands that write (register,
/// config put and rollback) create it like `Registry::builder().connect` does; commands that
/// only read never create a chroot (a mistyped one would be left behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroot {
    /// Create the chroot when it is missing.
    Create,
    /// Use it only if it exists.
    Existing,
}

/// A session on `--zk` with the credentials of `--auth-file`, `ZKMESH_AUTH`, `--sasl`,
/// `--kerberos` and the TLS files, or a one-line error saying ZooKeeper is unreachable or refused them. With
/// credentials, what the session creates is writable by them only and readable by everyone.
pub async fn session(cli: &Cli, chroot: Chroot) -> Result<Session, String> {
    let credentials = Credentials::load(cli)?;
    let mut builder = Session::builder()
        .connect_timeout(Duration::from_secs(cli.timeout))
        .create_chroot(chroot == Chroot::Create);
    for (scheme, secret) in &credentials.auth {
        builder = builder.auth(scheme, secret);
    }
    if let Some((user, password)) = &credentials.sasl {
        builder = builder.sasl_digest_md5(user, password);
    }
    if let Some(host) = &credentials.kerberos {
        builder = kerberos(builder, host.as_deref())?;
    }
    if credentials.any() {
        builder = builder.acl(NodeAcl::CreatorAllWorldRead);
    }
    builder = match &credentials.tls {
        Some(Tls { ca_pem, identity: Some((cert, key)) }) => builder
            .tls_client_certificate(ca_pem, cert, key)
            .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?,
        Some(Tls { ca_pem, identity: None }) => builder.tls(
            registry::TlsOptions::new()
                .with_pem_ca(ca_pem)
                .map_err(|e| format!("--tls-ca: not a PEM CA certificate ({e})"))?,
        ),
        None => builder,
    };
    builder.connect(&cli.zk).await.map_err(|e| match e {
        registry::Error::Connect { reason, .. } if reason.contains("refused the credentials") => {
            format!("ZooKeeper at {}: {reason}", cli.zk)
        }
        e => format!("cannot reach ZooKeeper at {} within {} s ({e})", cli.zk, cli.timeout),
    })
}

/// `builder` authenticating with SASL GSSAPI (Kerberos) for `zookeeper/<host>`.
#[cfg(feature = "gssapi")]
fn kerberos(
    builder: registry::SessionBuilder,
    host: Option<&str>,
) -> Result<registry::SessionBuilder, String> {
    Ok(builder.sasl_gssapi(host))
}

/// Without the `gssapi` feature: an error saying how to get a zkmesh that has it.
#[cfg(not(feature = "gssapi"))]
fn kerberos(_: registry::SessionBuilder, _: Option<&str>) -> Result<registry::SessionBuilder, String> {
    Err("--kerberos: this zkmesh was built without Kerberos (build the cli with feature `gssapi`, \
         which needs libkrb5-dev)"
        .to_owned())
}

/// `error` with the identity named where a layer could not name it (`this session's
/// credentials`): the credentials given to this command, or none.
pub fn explain(cli: &Cli, error: String) -> String {
    if !error.contains(registry::UNKNOWN_IDENTITY) {
        return error;
    }
    let names = Credentials::load(cli).map(|c| c.names()).unwrap_or_default();
    let who = if names.is_empty() { "anonymous (no credentials)".to_owned() } else { names.join(", ") };
    error.replace(registry::UNKNOWN_IDENTITY, &who)
}

/// The live client of `session`.
pub fn client(session: &Session) -> Result<registry::Client, String> {
    session.client().ok_or_else(|| "lost the ZooKeeper connection".to_owned())
}
