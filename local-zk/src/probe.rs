//! Asking a server how it is: four-letter words (`ruok`, `srvr`, ...) and readiness.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::ports::{listens_on, PROC_NET_TCP};

/// How often readiness and leadership are polled.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time limit of one readiness or leadership probe, so that a JVM's exit is noticed quickly.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends a four-letter word to 127.0.0.1:`port` and returns the whole answer.
pub(crate) async fn four_letter(port: u16, cmd: &str) -> Result<String> {
    four_letter_within(port, cmd, FOUR_LETTER_TIMEOUT).await
}

/// [`four_letter`] with a time limit for the whole exchange.
pub(crate) async fn four_letter_within(port: u16, cmd: &str, timeout: Duration) -> Result<String> {
    if cmd.len() != 4 || !cmd.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(Error::invalid(format!(
            "{cmd:?} is not a four-letter word (four lowercase ASCII letters)"
        )));
    }
    let exchange = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(cmd.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => Ok(String::from_utf8_lossy(&answer).into_owned()),
        Ok(Err(e)) => Err(Error::io(format!("four-letter word `{cmd}` to 127.0.0.1:{port}"), e)),
        Err(_) => Err(Error::Timeout {
            what: format!("the answer to `{cmd}` from 127.0.0.1:{port}"),
            after: timeout,
        }),
    }
}

/// The `Mode:` of a `srvr` answer (`leader`, `follower`, `standalone`, ...), if it has one.
pub(crate) fn srvr_mode(answer: &str) -> Option<&str> {
    answer.lines().find_map(|line| line.strip_prefix("Mode:")).map(str::trim)
}

/// Whether the server on 127.0.0.1:`port` answers `ruok` with `imok` (within [`PROBE_TIMEOUT`]).
pub(crate) async fn answers_ruok(port: u16) -> bool {
    matches!(four_letter_within(port, "ruok", PROBE_TIMEOUT).await, Ok(a) if a.trim() == "imok")
}

/// Whether the server on 127.0.0.1:`port` serves: its `srvr` has a `Mode:` (a standalone server
/// answers `imok` while it is still loading its database, and `srvr` without a mode then).
pub(crate) async fn serves(port: u16) -> bool {
    matches!(four_letter_within(port, "srvr", PROBE_TIMEOUT).await, Ok(a) if srvr_mode(&a).is_some())
}

/// Whether the JVM `pid` listens on 127.0.0.1:`port`. Read from `/proc`: a connection closed
/// before the TLS handshake would have ZooKeeper log an error ("Unsuccessful handshake"). Where
/// there is no `/proc/net/tcp`, a connection it is.
pub(crate) async fn listens(pid: Option<u32>, port: u16) -> bool {
    if Path::new(PROC_NET_TCP[0]).exists() {
        return pid.is_some_and(|pid| listens_on(pid, port));
    }
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect((Ipv4Addr::LOCALHOST, port))).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn srvr_mode_is_parsed() {
        let answer =
            "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(srvr_mode(answer), Some("follower"));
        assert_eq!(srvr_mode("This ZooKeeper instance is not currently serving requests\n"), None);
    }

    #[tokio::test]
    async fn four_letter_refuses_non_words() {
        assert!(matches!(four_letter(1, "ruok\n").await, Err(Error::InvalidArgument { .. })));
        assert!(matches!(four_letter(1, "RUOK").await, Err(Error::InvalidArgument { .. })));
    }
}
