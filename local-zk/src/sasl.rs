//! SASL for a local server: a JAAS configuration whose `Server` section lists DIGEST-MD5 users,
//! and the `zoo.cfg` line that turns ZooKeeper's SASL authentication provider on.
//!
//! The JAAS file (`jaas.conf` in the server's private directory, mode 0600) holds the
//! passwords; the JVM gets only its path (`-Djava.security.auth.login.config=...`), so no
//! password is on a command line, and `Debug` never shows one.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The JAAS configuration in a server's directory.
pub(crate) const JAAS_FILE: &str = "jaas.conf";

/// The Kerberos configuration the JVM gets (`-Djava.security.krb5.conf`), copied into the
/// server's directory.
pub(crate) const KRB5_CONF_FILE: &str = "krb5.conf";

/// DIGEST-MD5 users (name, password) a server accepts, or a Kerberos service principal.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct SaslUsers(Vec<(String, String)>, Option<Kerberos>);

/// The server's Kerberos identity: its principal (`zookeeper/localhost@REALM`), the keytab
/// holding its key, and the `krb5.conf` naming the KDC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Kerberos {
    pub(crate) principal: String,
    pub(crate) keytab: PathBuf,
    pub(crate) krb5_conf: PathBuf,
}

impl fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(user, _)| user.as_str()).collect();
        f.debug_struct("SaslUsers")
            .field("users", &names)
            .field("passwords", &"<redacted>")
            .field("kerberos", &self.1)
            .finish()
    }
}

impl SaslUsers {
    /// Users from `(name, password)` pairs (checked by [`SaslUsers::validate`]).
    pub(crate) fn new(users: &[(&str, &str)]) -> Self {
        SaslUsers(users.iter().map(|(u, p)| ((*u).to_owned(), (*p).to_owned())).collect(), None)
    }

    /// SASL GSSAPI with this Kerberos identity instead of DIGEST-MD5 users.
    pub(crate) fn kerberos(kerberos: Kerberos) -> Self {
        SaslUsers(Vec::new(), Some(kerberos))
    }

    /// Refuses a name outside `[A-Za-z0-9._-]+` (JAAS option names) or a password with a `"`,
    /// `\` or a line break (it is written between quotes).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`], naming the user, never the password.
    pub(crate) fn validate(&self) -> Result<()> {
        for (user, password) in &self.0 {
            let name_ok = !user.is_empty()
                && user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !name_ok {
                return Err(Error::invalid(format!("SASL user name {user:?} is not [A-Za-z0-9._-]+")));
            }
            if password.chars().any(|c| matches!(c, '"' | '\\' | '\n' | '\r')) {
                return Err(Error::invalid(format!(
                    "the SASL password of {user} has a quote, backslash or line break"
                )));
            }
        }
        Ok(())
    }

    /// Whether no user is configured (SASL off).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_none()
    }

    /// The JAAS file's text: ZooKeeper's `DigestLoginModule` with one `user_<name>` per user.
    pub(crate) fn jaas(&self) -> String {
        if let Some(k) = &self.1 {
            return format!(
                "Server {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  \
                 keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  principal=\"{}\";\n}};\n",
                k.keytab.display(),
                k.principal
            );
        }
        let users: String =
            self.0.iter().map(|(user, password)| format!("\n  user_{user}=\"{password}\"")).collect();
        format!("Server {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required{users};\n}};\n")
    }

    /// The `zoo.cfg` line that registers the SASL authentication provider.
    pub(crate) fn config_lines(&self) -> &'static str {
        "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
    }

    /// Writes the JAAS file into `dir` (readable by its owner only) and returns its path.
    pub(crate) fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(JAAS_FILE);
        crate::node::write_private(&path, &self.jaas())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        if let Some(k) = &self.1 {
            let conf = dir.join(KRB5_CONF_FILE);
            std::fs::copy(&k.krb5_conf, &conf).map_err(|e| {
                Error::io(format!("copying {} to {}", k.krb5_conf.display(), conf.display()), e)
            })?;
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn jaas_lists_the_users_and_debug_hides_passwords() {
        let users = SaslUsers::new(&[("alice", "s3cret"), ("bob", "pw")]);
        users.validate().unwrap();
        let jaas = users.jaas();
        assert!(
            jaas.starts_with("Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required"),
            "{jaas}"
        );
        assert!(jaas.contains("user_alice=\"s3cret\"") && jaas.contains("user_bob=\"pw\";\n};"), "{jaas}");
        let debug = format!("{users:?}");
        assert!(debug.contains("alice") && !debug.contains("s3cret"), "{debug}");
        assert!(SaslUsers::new(&[("a b", "x")]).validate().is_err());
        let err = SaslUsers::new(&[("a", "x\"y")]).validate().unwrap_err();
        assert!(!err.to_string().contains("x\"y"), "{err}");
    }
}
