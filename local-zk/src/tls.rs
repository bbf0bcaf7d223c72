//! TLS for a local server: a self-signed certificate for 127.0.0.1 and `localhost`, made with
//! Java's `keytool` in the server's directory, and the `zoo.cfg` lines that serve it.
//!
//! One PKCS12 store holds the key pair (alias `zk`) and, as a trusted entry, its own certificate
//! (alias `ca`), so that it serves as ZooKeeper's key store and trust store both: Java finds no
//! trust anchor in a store that holds only a key entry, and ZooKeeper 3.8 then fails every TLS
//! connection ("the trustAnchors parameter must be non-empty").
//!
//! The store's password is random, lives only in `zoo.cfg` (in the server's private directory)
//! and in the environment of the `keytool` runs, and is never logged nor shown by `Debug`.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::client_cert::ClientIdentity;
use crate::error::{Error, Result};

/// The PKCS12 store (key pair and trusted certificate) in the server's directory.
const STORE_FILE: &str = "keystore.p12";
/// The certificate, PEM-encoded, in the server's directory.
const CA_FILE: &str = "ca.pem";
/// The environment variable that hands the password to `keytool` (`-storepass:env`), so that
/// it never appears on a command line.
const PASSWORD_ENV: &str = "LOCAL_ZK_STORE_PASSWORD";
/// Days the certificate is valid.
const VALIDITY_DAYS: &str = "2";
/// The JVM options of `keytool` runs: quick start-up, little memory.
const KEYTOOL_JVM: &[&str] = &["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-J-Xmx64m"];

const INSTALL_KEYTOOL: &str = "install Debian's package: \
     `apt-get update && apt-get install -y --no-install-recommends default-jre-headless` (keytool comes with it)";

/// `keytool` next to the java binary `java` (its symbolic links resolved, as Debian's
/// `/usr/bin/java` leads through `/etc/alternatives` to the JDK's `bin`), else next to `java`
/// itself.
pub(crate) fn find_keytool(java: &Path) -> Result<PathBuf> {
    let resolved = fs::canonicalize(java).unwrap_or_else(|_| java.to_path_buf());
    let candidates: Vec<PathBuf> =
        [resolved.parent(), java.parent()].into_iter().flatten().map(|dir| dir.join("keytool")).collect();
    if let Some(found) = candidates.iter().find(|c| crate::launch::is_executable_file(c)) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(Error::not_installed(format!(
        "keytool (needed to make the TLS certificate) not found next to Java {} (looked for {}): \
         {INSTALL_KEYTOOL}, or set JAVA to a java binary that has keytool beside it",
        java.display(),
        looked.join(" and ")
    )))
}

/// A server's TLS material: the store, its password and the certificate.
#[derive(Clone)]
pub(crate) struct TlsMaterial {
    store: PathBuf,
    password: String,
    ca_pem: String,
    /// The client certificate the server trusts, for mutual TLS.
    client: Option<ClientIdentity>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("store", &self.store)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Makes a fresh key pair and self-signed certificate (EC P-256, `CN=localhost`, subject
    /// alternative names `IP:127.0.0.1` and `DNS:localhost`, valid 2 days) in `dir` with
    /// `keytool`, each run bounded by `timeout`.
    pub(crate) async fn create(keytool: &Path, dir: &Path, timeout: Duration) -> Result<Self> {
        let store = dir.join(STORE_FILE);
        let ca_file = dir.join(CA_FILE);
        let password = random_password()?;
        let store_arg = store.as_os_str();
        let store_args: [&std::ffi::OsStr; 6] = [
            "-storetype".as_ref(),
            "PKCS12".as_ref(),
            "-keystore".as_ref(),
            store_arg,
            "-storepass:env".as_ref(),
            PASSWORD_ENV.as_ref(),
        ];
        let run = |what: &'static str, args: Vec<OsString>| {
            let mut all: Vec<OsString> = KEYTOOL_JVM.iter().map(OsString::from).collect();
            all.extend(args);
            all.extend(store_args.iter().map(|a| a.to_os_string()));
            run_keytool(keytool, what, all, &password, timeout)
        };
        let strings = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();

        run(
            "making the key pair",
            strings(&[
                "-genkeypair",
                "-alias",
                "zk",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                "CN=localhost",
                "-ext",
                "SAN=IP:127.0.0.1,DNS:localhost",
                "-validity",
                VALIDITY_DAYS,
                "-keypass:env",
                PASSWORD_ENV,
            ]),
        )
        .await?;
        let mut export = strings(&["-exportcert", "-rfc", "-alias", "zk", "-file"]);
        export.push(ca_file.clone().into());
        run("exporting the certificate", export).await?;
        let mut import = strings(&["-importcert", "-noprompt", "-alias", "ca", "-file"]);
        import.push(ca_file.clone().into());
        run("adding the certificate as a trusted entry", import).await?;

        let ca_pem = fs::read_to_string(&ca_file)
            .map_err(|e| Error::io(format!("reading {}", ca_file.display()), e))?;
        if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::start(format!("keytool wrote no PEM certificate to {}", ca_file.display())));
        }
        Ok(TlsMaterial { store, password, ca_pem, client: None })
    }

    /// Makes a client certificate ([`ClientIdentity`]) and adds it to the store as a trusted
    /// entry (alias `client`): the server then asks TLS clients for a certificate, accepts this
    /// one, and knows its sessions as `x509:CN=zkmesh-client`.
    pub(crate) async fn add_client(&mut self, keytool: &Path, dir: &Path, timeout: Duration) -> Result<()> {
        let openssl = crate::client_cert::find_openssl()?;
        let client = ClientIdentity::create(&openssl, dir, timeout).await?;
        let mut args: Vec<OsString> = KEYTOOL_JVM.iter().map(OsString::from).collect();
        args.extend(["-importcert", "-noprompt", "-alias", "client", "-file"].map(OsString::from));
        args.push(client.cert_file.clone().into());
        args.extend(["-storetype", "PKCS12", "-keystore"].map(OsString::from));
        args.push(self.store.clone().into());
        args.extend(["-storepass:env", PASSWORD_ENV].map(OsString::from));
        run_keytool(
            keytool,
            "adding the client certificate as a trusted entry",
            args,
            &self.password,
            timeout,
        )
        .await?;
        self.client = Some(client);
        Ok(())
    }

    /// The client identity, when the server does mutual TLS.
    pub(crate) fn client(&self) -> Option<&ClientIdentity> {
        self.client.as_ref()
    }

    /// The certificate, PEM-encoded: the CA to trust.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The `zoo.cfg` lines that serve TLS on `secure_port` (127.0.0.1) with this store, and
    /// accept clients without a certificate (and with the client certificate, if there is one).
    pub(crate) fn config_lines(&self, secure_port: u16) -> String {
        let store = self.store.display();
        let password = &self.password;
        // With a client certificate: ask for one (clients without one still connect) and let
        // ZooKeeper's x509 provider authenticate the sessions that present it.
        let client_auth = match self.client {
            Some(_) => {
                "ssl.clientAuth=want\n\
                 authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n"
            }
            None => "ssl.clientAuth=none\n",
        };
        format!(
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             secureClientPort={secure_port}\n\
             secureClientPortAddress=127.0.0.1\n\
             ssl.keyStore.location={store}\n\
             ssl.keyStore.password={password}\n\
             ssl.keyStore.type=PKCS12\n\
             ssl.trustStore.location={store}\n\
             ssl.trustStore.password={password}\n\
             ssl.trustStore.type=PKCS12\n\
             {client_auth}"
        )
    }

    /// For tests: the material of an already made store.
    #[cfg(test)]
    pub(crate) fn fake(store: &Path, password: &str, ca_pem: &str) -> Self {
        TlsMaterial {
            store: store.to_path_buf(),
            password: password.to_owned(),
            ca_pem: ca_pem.to_owned(),
            client: None,
        }
    }
}

/// 128 random bits from the kernel, in hex.
fn random_password() -> Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("reading /dev/urandom for the key store password", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `keytool` with the password in its environment; its output (which never holds the
/// password) goes into the error if it fails.
async fn run_keytool(
    keytool: &Path,
    what: &str,
    args: Vec<OsString>,
    password: &str,
    timeout: Duration,
) -> Result<()> {
    let child = tokio::process::Command::new(keytool)
        .args(&args)
        .env(PASSWORD_ENV, password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::io(format!("starting {} ({what})", keytool.display()), e))?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| Error::io(format!("running {} ({what})", keytool.display()), e))?,
        // Dropping the future kills keytool (`kill_on_drop`).
        Err(_) => return Err(Error::Timeout { what: format!("keytool {what}"), after: timeout }),
    };
    if output.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&output.stderr).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(Error::start(format!(
        "keytool failed {what} ({}): {}",
        output.status,
        said.trim().replace(password, "<redacted>")
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn executable(path: &Path) {
        fs::write(path, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn keytool_is_found_through_the_java_symlink() {
        let jdk = tempfile::tempdir().unwrap();
        executable(&jdk.path().join("java"));
        executable(&jdk.path().join("keytool"));
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(jdk.path().join("java"), bin.path().join("java")).unwrap();
        let found = find_keytool(&bin.path().join("java")).unwrap();
        assert_eq!(found, fs::canonicalize(jdk.path()).unwrap().join("keytool"));
    }

    #[test]
    fn missing_keytool_says_what_to_install() {
        let jre = tempfile::tempdir().unwrap();
        executable(&jre.path().join("java"));
        let err = find_keytool(&jre.path().join("java")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NotInstalled { .. }), "{err:?}");
        assert!(text.contains("keytool"), "{text}");
        assert!(text.contains("apt-get install -y --no-install-recommends default-jre-headless"), "{text}");
        assert!(text.contains("set JAVA"), "{text}");
    }

    #[test]
    fn passwords_are_random_and_debug_hides_them() {
        let (a, b) = (random_password().unwrap(), random_password().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let material = TlsMaterial::fake(Path::new("/d/keystore.p12"), &a, "pem");
        let debug = format!("{material:?}");
        assert!(!debug.contains(&a), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }

    /// The real thing with the machine's keytool: a PKCS12 store with the key pair and the
    /// certificate as a trusted entry, and a PEM certificate.
    #[tokio::test]
    async fn keytool_makes_a_store_and_a_pem() {
        let java = crate::launch::Launch::from_env().unwrap();
        let keytool = find_keytool(java.java()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let material = TlsMaterial::create(&keytool, dir.path(), Duration::from_secs(60)).await.unwrap();
        assert!(material.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"), "{}", material.ca_pem());
        assert!(dir.path().join(STORE_FILE).is_file());
        let listing = std::process::Command::new(&keytool)
            .args(["-list", "-storetype", "PKCS12", "-keystore"])
            .arg(dir.path().join(STORE_FILE))
            .args(["-storepass:env", PASSWORD_ENV])
            .env(PASSWORD_ENV, &material.password)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(listing.contains("zk,") && listing.contains("PrivateKeyEntry"), "{listing}");
        assert!(listing.contains("ca,") && listing.contains("trustedCertEntry"), "{listing}");
    }
}
