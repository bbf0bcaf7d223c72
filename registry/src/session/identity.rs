//! Who a session is, as ZooKeeper's ACLs see it, named without secrets: for errors that say which
//! credential was refused, and for `Debug` output.

use zookeeper_client::AuthUser;

use super::SessionBuilder;

/// The identity a session holds, for messages: what the server says it authenticated
/// (`whoami`, `known`) when it could be asked, else what the builder was given; never a
/// password. `ip:` entries are left out unless nothing else is known.
pub(crate) fn describe_identity(known: Option<&[AuthUser]>, options: &SessionBuilder) -> String {
    if let Some(users) = known {
        let named: Vec<String> = users
            .iter()
            .filter(|u| u.scheme() != "ip")
            .map(|u| format!("{}:{}", u.scheme(), u.user()))
            .collect();
        if !named.is_empty() {
            return named.join(", ");
        }
    }
    let configured = configured_identity(options);
    if configured.is_empty() {
        "anonymous (no credentials)".to_owned()
    } else {
        configured.join(", ")
    }
}

/// The identities given to the builder, without secrets: `digest:<user>` for digest auth,
/// `sasl:<user>` for SASL, `sasl (Kerberos ticket)` for GSSAPI (the principal is the ticket's,
/// known to the server only), `<scheme>` for other schemes, `TLS client certificate` with TLS.
pub(crate) fn configured_identity(options: &SessionBuilder) -> Vec<String> {
    let mut named: Vec<String> = options
        .auth
        .iter()
        .map(|(scheme, credentials)| match scheme.as_str() {
            "digest" => {
                let user = credentials.split(|b| *b == b':').next().unwrap_or_default();
                format!("digest:{}", String::from_utf8_lossy(user))
            }
            other => other.to_owned(),
        })
        .collect();
    if let Some(user) = options.sasl_user() {
        named.push(format!("sasl:{user}"));
    }
    #[cfg(feature = "gssapi")]
    if options.gssapi.is_some() {
        named.push("sasl (Kerberos ticket)".to_owned());
    }
    if options.has_tls_identity() {
        named.push("TLS client certificate".to_owned());
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_users_never_passwords() {
        let builder = SessionBuilder::default().auth("digest", b"team:s3cret");
        let named = describe_identity(None, &builder);
        assert_eq!(named, "digest:team");
        assert_eq!(describe_identity(None, &SessionBuilder::default()), "anonymous (no credentials)");
        let server = [AuthUser::new("ip", "127.0.0.1"), AuthUser::new("digest", "team")];
        assert_eq!(describe_identity(Some(&server), &builder), "digest:team");
        let only_ip = [AuthUser::new("ip", "127.0.0.1")];
        assert_eq!(
            describe_identity(Some(&only_ip), &SessionBuilder::default()),
            "anonymous (no credentials)"
        );
    }
}
