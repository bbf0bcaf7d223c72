//! A server's settings and the `zoo.cfg` they make.

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::sasl::SaslUsers;
use crate::tls::TlsMaterial;

/// ZooKeeper's `tickTime` unless the builder says otherwise: short, for fast tests.
pub(crate) const DEFAULT_TICK_TIME: Duration = Duration::from_millis(500);
/// How long a start or restart may take before it is given up.
pub(crate) const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The configuration file in a server's directory.
pub(crate) const CONFIG_FILE: &str = "zoo.cfg";

/// Server settings shared by every member.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) tick_time: Duration,
    pub(crate) min_session_timeout: Option<Duration>,
    pub(crate) max_session_timeout: Option<Duration>,
    pub(crate) startup_timeout: Duration,
    /// ZooKeeper's `forceSync`: fsync the transaction log before answering a write.
    pub(crate) force_sync: bool,
    /// SASL DIGEST-MD5 users (none: SASL off).
    pub(crate) sasl: SaslUsers,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick_time: DEFAULT_TICK_TIME,
            min_session_timeout: None,
            max_session_timeout: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            force_sync: false,
            sasl: SaslUsers::default(),
        }
    }
}

impl Settings {
    /// Refuses what ZooKeeper would refuse, before a JVM is started.
    pub(crate) fn validate(&self) -> Result<()> {
        let ms = |d: Duration| d.as_millis();
        if ms(self.tick_time) == 0 || ms(self.tick_time) > i32::MAX as u128 {
            return Err(Error::invalid(format!(
                "tick time {:?} is not between 1 ms and i32::MAX ms",
                self.tick_time
            )));
        }
        // ZooKeeper's defaults: 2 and 20 ticks.
        let min = self.min_session_timeout.unwrap_or(self.tick_time * 2);
        let max = self.max_session_timeout.unwrap_or(self.tick_time * 20);
        if ms(min) == 0 || ms(max) > i32::MAX as u128 || min > max {
            return Err(Error::invalid(format!(
                "session timeouts must satisfy 1 ms <= min <= max <= i32::MAX ms, got min {min:?} and max {max:?} \
                 (unset ones default to 2 and 20 ticks)"
            )));
        }
        self.sasl.validate()?;
        if self.startup_timeout.is_zero() {
            return Err(Error::invalid("the start-up timeout must not be zero"));
        }
        Ok(())
    }
}

/// One member's quorum ports, for the `server.N` lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerPorts {
    pub(crate) id: usize,
    pub(crate) peer: u16,
    pub(crate) election: u16,
}

/// A TLS client port (ZooKeeper's `secureClientPort`) and the store it serves.
#[derive(Debug, Clone)]
pub(crate) struct SecurePort {
    pub(crate) port: u16,
    pub(crate) tls: TlsMaterial,
}

/// The text of a `zoo.cfg`.
pub(crate) fn render_config(
    settings: &Settings,
    data_dir: &Path,
    client_port: u16,
    secure: Option<&SecurePort>,
    peers: &[PeerPorts],
) -> String {
    let mut cfg = format!(
        "tickTime={tick}\n\
         initLimit=10\n\
         syncLimit=5\n\
         dataDir={data}\n\
         clientPort={client_port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         maxCnxns=0\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=*\n\
         forceSync={sync}\n",
        tick = settings.tick_time.as_millis(),
        data = data_dir.display(),
        sync = if settings.force_sync { "yes" } else { "no" },
    );
    if let Some(min) = settings.min_session_timeout {
        cfg.push_str(&format!("minSessionTimeout={}\n", min.as_millis()));
    }
    if let Some(max) = settings.max_session_timeout {
        cfg.push_str(&format!("maxSessionTimeout={}\n", max.as_millis()));
    }
    if let Some(secure) = secure {
        cfg.push_str(&secure.tls.config_lines(secure.port));
    }
    if !settings.sasl.is_empty() {
        cfg.push_str(settings.sasl.config_lines());
    }
    for peer in peers {
        cfg.push_str(&format!("server.{}=127.0.0.1:{}:{}\n", peer.id, peer.peer, peer.election));
    }
    cfg
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn config_has_what_zookeeper_needs() {
        let settings = Settings {
            max_session_timeout: Some(Duration::from_secs(4)),
            min_session_timeout: Some(Duration::from_millis(1500)),
            ..Settings::default()
        };
        let peers =
            [PeerPorts { id: 1, peer: 10, election: 11 }, PeerPorts { id: 2, peer: 12, election: 13 }];
        let cfg = render_config(&settings, Path::new("/d/data"), 2181, None, &peers);
        for line in [
            "tickTime=500",
            "initLimit=10",
            "syncLimit=5",
            "dataDir=/d/data",
            "clientPort=2181",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "minSessionTimeout=1500",
            "maxSessionTimeout=4000",
            "server.1=127.0.0.1:10:11",
            "server.2=127.0.0.1:12:13",
        ] {
            assert!(cfg.lines().any(|l| l == line), "missing {line:?} in\n{cfg}");
        }
    }

    #[test]
    fn tls_config_serves_a_secure_port_from_the_store() {
        let secure = SecurePort {
            port: 2182,
            tls: TlsMaterial::fake(Path::new("/d/keystore.p12"), "0123abcd", "-----BEGIN CERTIFICATE-----"),
        };
        let cfg = render_config(&Settings::default(), Path::new("/d/data"), 2181, Some(&secure), &[]);
        for line in [
            "clientPort=2181",
            "clientPortAddress=127.0.0.1",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "secureClientPort=2182",
            "secureClientPortAddress=127.0.0.1",
            "ssl.keyStore.location=/d/keystore.p12",
            "ssl.keyStore.password=0123abcd",
            "ssl.keyStore.type=PKCS12",
            "ssl.trustStore.location=/d/keystore.p12",
            "ssl.trustStore.password=0123abcd",
            "ssl.trustStore.type=PKCS12",
            "ssl.clientAuth=none",
        ] {
            assert!(cfg.lines().any(|l| l == line), "missing {line:?} in\n{cfg}");
        }
        // Without TLS: none of it (the default connection factory, no secure port).
        let plain = render_config(&Settings::default(), Path::new("/d/data"), 2181, None, &[]);
        assert!(
            !plain.contains("secureClientPort") && !plain.contains("ssl.") && !plain.contains("Netty"),
            "{plain}"
        );
    }

    #[test]
    fn settings_are_validated() {
        assert!(Settings::default().validate().is_ok());
        let bad = Settings { tick_time: Duration::ZERO, ..Settings::default() };
        assert!(bad.validate().is_err());
        // max below the default min (2 ticks = 1 s)
        let bad = Settings { max_session_timeout: Some(Duration::from_millis(800)), ..Settings::default() };
        assert!(bad.validate().is_err());
        let ok = Settings { max_session_timeout: Some(Duration::from_secs(60)), ..Settings::default() };
        assert!(ok.validate().is_ok());
    }
}
