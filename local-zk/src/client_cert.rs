//! A TLS client certificate for mutual TLS with a local server: an EC P-256 key and a
//! self-signed certificate (`CN=zkmesh-client`, subject alternative names `IP:127.0.0.1` and
//! `DNS:localhost`, valid 2 days) made with `openssl`, which the server trusts because its
//! trust store holds the certificate itself. ZooKeeper's x509 provider then knows the client by
//! the subject, `CN=zkmesh-client` (ACL entries `x509:CN=zkmesh-client`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::error::{Error, Result};

/// The client certificate's subject, as ZooKeeper's x509 provider names it.
pub(crate) const CLIENT_SUBJECT: &str = "CN=zkmesh-client";
/// The client certificate, PEM-encoded, in the server's directory.
pub(crate) const CLIENT_CERT_FILE: &str = "client.pem";
/// The client's private key (PKCS#8 PEM, mode 0600), in the server's directory.
pub(crate) const CLIENT_KEY_FILE: &str = "client-key.pem";

const INSTALL_OPENSSL: &str =
    "install Debian's package: `apt-get update && apt-get install -y --no-install-recommends openssl`";

/// A client identity: certificate and key, PEM-encoded.
#[derive(Clone)]
pub(crate) struct ClientIdentity {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("subject", &CLIENT_SUBJECT)
            .field("cert_file", &self.cert_file)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// `openssl` on `PATH` (or `$OPENSSL`).
pub(crate) fn find_openssl() -> Result<PathBuf> {
    if let Some(given) = std::env::var_os("OPENSSL").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(given));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("openssl"))
        .find(|candidate| crate::launch::is_executable_file(candidate))
        .ok_or_else(|| {
            Error::not_installed(format!(
                "openssl (needed to make the TLS client certificate) is not on PATH: {INSTALL_OPENSSL}, or set OPENSSL"
            ))
        })
}

impl ClientIdentity {
    /// Makes the key and certificate in `dir` with `openssl`, bounded by `timeout`.
    pub(crate) async fn create(openssl: &Path, dir: &Path, timeout: Duration) -> Result<Self> {
        let cert_file = dir.join(CLIENT_CERT_FILE);
        let key_file = dir.join(CLIENT_KEY_FILE);
        let mut command = tokio::process::Command::new(openssl);
        command
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .arg("-keyout")
            .arg(&key_file)
            .arg("-out")
            .arg(&cert_file)
            .args(["-subj", "/CN=zkmesh-client", "-days", "2"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| Error::io(format!("starting {}", openssl.display()), e))?;
        let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| Error::io(format!("running {}", openssl.display()), e))?,
            Err(_) => {
                return Err(Error::Timeout {
                    what: "openssl making the client certificate".into(),
                    after: timeout,
                })
            }
        };
        if !output.status.success() {
            return Err(Error::start(format!(
                "openssl failed making the client certificate ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
        };
        let (cert_pem, key_pem) = (read(&cert_file)?, read(&key_file)?);
        if !cert_pem.contains("BEGIN CERTIFICATE") || !key_pem.contains("PRIVATE KEY") {
            return Err(Error::start(format!(
                "openssl wrote no PEM certificate and key in {}",
                dir.display()
            )));
        }
        Ok(ClientIdentity { cert_pem, key_pem, cert_file, key_file })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The real thing with the machine's openssl: a PKCS#8 key and a certificate for the subject,
    /// and a `Debug` that never shows the key.
    #[tokio::test]
    async fn openssl_makes_a_key_and_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let client = ClientIdentity::create(&find_openssl().unwrap(), dir.path(), Duration::from_secs(30))
            .await
            .unwrap();
        assert!(client.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"), "{}", client.cert_pem);
        assert!(client.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let text = std::process::Command::new(find_openssl().unwrap())
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&client.cert_file)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&text.stdout).trim(), "subject=CN = zkmesh-client");
        let debug = format!("{client:?}");
        assert!(!debug.contains("PRIVATE KEY") && debug.contains("CN=zkmesh-client"), "{debug}");
    }
}
