//! Credentials for a secured ensemble, from places `ps` does not show: `--auth-file` and the
//! `ZKMESH_AUTH` environment variable (`scheme:credentials`, e.g. `digest:team:secret` or
//! `sasl:alice:secret`), `--sasl USER` to pick the SASL user, and TLS files (`--tls-ca`,
//! `--tls-cert`, `--tls-key`: paths, never key material on the command line); `--kerberos`
//! (SASL GSSAPI) takes no secret at all: the ticket is in the credentials cache `kinit` left.
//!
//! Secrets never appear in `Debug` output or in an error: a malformed line is named by its
//! number, never quoted.

use std::fmt;
use std::path::Path;

use crate::args::Cli;

/// The environment variable with one more credential, `scheme:credentials`.
pub const AUTH_ENV: &str = "ZKMESH_AUTH";

/// What `zkmesh` authenticates with.
#[derive(Default)]
pub struct Credentials {
    /// `addauth` entries: scheme and credentials (`digest`, `user:password`).
    pub auth: Vec<(String, Vec<u8>)>,
    /// SASL DIGEST-MD5 user and password.
    pub sasl: Option<(String, String)>,
    /// SASL GSSAPI (Kerberos), with the service principal's host if given (`--kerberos-host`).
    pub kerberos: Option<Option<String>>,
    /// TLS: CA, and client certificate and key, PEM.
    pub tls: Option<Tls>,
}

/// TLS material read from the files given.
pub struct Tls {
    /// The CA certificates to trust.
    pub ca_pem: String,
    /// Client certificate and private key, for mutual TLS.
    pub identity: Option<(String, String)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("identities", &self.names())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads the credentials the command line and the environment point at.
    ///
    /// # Errors
    /// A one-line message naming the file (and line) or variable that is wrong, never a secret.
    pub fn load(cli: &Cli) -> Result<Self, String> {
        let mut entries = Vec::new();
        if let Some(file) = &cli.auth_file {
            let text = read_private(file)?;
            entries.extend(parse(&text, &format!("--auth-file {}", file.display()))?);
        }
        if let Some(value) = std::env::var_os(AUTH_ENV).filter(|v| !v.is_empty()) {
            let text = value.into_string().map_err(|_| format!("{AUTH_ENV} is not UTF-8"))?;
            entries.extend(parse(&text, AUTH_ENV)?);
        }
        let mut credentials = Credentials::default();
        for (scheme, rest) in entries {
            if scheme == "sasl" {
                let (user, password) = rest.split_once(':').unwrap_or((rest.as_str(), ""));
                if cli.sasl.as_deref().is_none_or(|wanted| wanted == user) && credentials.sasl.is_none() {
                    credentials.sasl = Some((user.to_owned(), password.to_owned()));
                }
            } else {
                credentials.auth.push((scheme, rest.into_bytes()));
            }
        }
        if let Some(user) = &cli.sasl {
            if credentials.sasl.is_none() {
                return Err(format!(
                    "--sasl {user}: no password for {user} in --auth-file or {AUTH_ENV} \
                     (add a line sasl:{user}:<password>)"
                ));
            }
        }
        if cli.kerberos || cli.kerberos_host.is_some() {
            credentials.kerberos = Some(cli.kerberos_host.clone());
        }
        credentials.tls = tls(cli)?;
        Ok(credentials)
    }

    /// Whether any credential is given (writes then protect what they create).
    pub fn any(&self) -> bool {
        !self.auth.is_empty()
            || self.sasl.is_some()
            || self.kerberos.is_some()
            || self.tls.as_ref().is_some_and(|t| t.identity.is_some())
    }

    /// The identities, without secrets: `digest:team`, `sasl:alice`, `sasl (Kerberos ticket)`,
    /// `TLS client certificate`.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .auth
            .iter()
            .map(|(scheme, creds)| match scheme.as_str() {
                "digest" => format!(
                    "digest:{}",
                    String::from_utf8_lossy(creds.split(|b| *b == b':').next().unwrap_or_default())
                ),
                other => other.to_owned(),
            })
            .collect();
        names.extend(self.sasl.as_ref().map(|(user, _)| format!("sasl:{user}")));
        if self.kerberos.is_some() {
            names.push("sasl (Kerberos ticket)".to_owned());
        }
        if self.tls.as_ref().is_some_and(|t| t.identity.is_some()) {
            names.push("TLS client certificate".to_owned());
        }
        names
    }
}

/// `scheme:credentials` lines (blank lines and `#` comments skipped).
fn parse(text: &str, source: &str) -> Result<Vec<(String, String)>, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("{source}, line {}: {what} (expected scheme:credentials)", n + 1);
        let (scheme, rest) = line.split_once(':').ok_or_else(|| bad("no scheme"))?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) || rest.is_empty() {
            return Err(bad("malformed entry"));
        }
        if matches!(scheme, "digest" | "sasl") && !rest.contains(':') {
            return Err(bad(&format!("a {scheme} entry needs user:password")));
        }
        entries.push((scheme.to_owned(), rest.to_owned()));
    }
    Ok(entries)
}

/// Reads a credentials file, warning when others may read it.
fn read_private(file: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta =
        std::fs::metadata(file).map_err(|e| format!("cannot read --auth-file {}: {e}", file.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!("zkmesh: warning: {} is readable by others; chmod 600 it", file.display());
    }
    std::fs::read_to_string(file).map_err(|e| format!("cannot read --auth-file {}: {e}", file.display()))
}

fn tls(cli: &Cli) -> Result<Option<Tls>, String> {
    let read = |flag: &str, path: &Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
    };
    let identity = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some((read("--tls-cert", cert)?, read("--tls-key", key)?)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".to_owned()),
    };
    match &cli.tls_ca {
        Some(ca) => Ok(Some(Tls { ca_pem: read("--tls-ca", ca)?, identity })),
        None if identity.is_some() => {
            Err("--tls-cert needs --tls-ca (the CA that signed the server)".to_owned())
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn entries_parse_and_errors_never_quote_a_line() {
        let parsed = parse("# ops\ndigest:team:s3cret\n\nsasl:alice:pw\n", "f").unwrap();
        assert_eq!(parsed, [("digest".into(), "team:s3cret".into()), ("sasl".into(), "alice:pw".into())]);
        for bad in ["s3cret", "digest:s3cret", ":s3cret", "di gest:a:s3cret"] {
            let err = parse(bad, "f").unwrap_err();
            assert!(err.starts_with("f, line 1:") && !err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn debug_and_names_show_users_only() {
        let credentials = Credentials {
            auth: vec![("digest".into(), b"team:s3cret".to_vec())],
            sasl: Some(("alice".into(), "pw-alice".into())),
            kerberos: Some(Some("zk1".into())),
            tls: None,
        };
        let shown = format!("{credentials:?} {:?}", credentials.names());
        assert!(shown.contains("digest:team") && shown.contains("sasl:alice"), "{shown}");
        assert!(shown.contains("sasl (Kerberos ticket)"), "{shown}");
        assert!(!shown.contains("s3cret") && !shown.contains("pw-alice"), "{shown}");
    }
}
