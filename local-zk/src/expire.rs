//! Session expiry injection.
//!
//! The Curator way is to attach a second client to the session (same id and password) and close
//! it. Done with a full client, that races the session's own client: attaching moves the session
//! to the new connection, the original client reconnects at once and moves it back, and the
//! close can land on a connection the server has already dropped (seen here: a tug of war that
//! lasted past the session timeout). So this speaks the wire protocol itself and sends the
//! `ConnectRequest` and the `CloseSession` request in one write: the server handles the close
//! right after it attached the session, before the original client can take it back.
//!
//! The password comes from the server's own rule (`ZooKeeperServer.generatePasswd`: sixteen bytes
//! of `java.util.Random(sessionId ^ 0xB3415C00)`), the same for every ZooKeeper release since 3.0,
//! so only the session id is needed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zookeeper_client::SessionInfo;

use crate::error::{Error, Result};

const SUPER_SECRET: i64 = 0xB341_5C00;
const CLOSE_SESSION: i32 = -11;

/// Expires the ZooKeeper session `session` on the ensemble at `connect` (a connect string; a
/// chroot is ignored) and returns once ZooKeeper has closed it: its ephemerals are gone and its
/// clients see `Expired` on their next contact.
///
/// # Errors
/// [`Error::Expire`] when no server of `connect` answers within 10 s or the server answers
/// something unexpected.
pub async fn expire_session(connect: &str, session: &SessionInfo) -> Result<()> {
    expire_session_id(connect, session.id().0).await
}

/// [`expire_session`] by session id.
///
/// # Errors
/// As [`expire_session`].
pub async fn expire_session_id(connect: &str, session_id: i64) -> Result<()> {
    let hosts: Vec<&str> = connect.split('/').next().unwrap_or(connect).split(',').collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = String::from("no server tried");
    loop {
        for host in &hosts {
            let host = host.trim_start_matches("tcp://");
            match tokio::time::timeout(Duration::from_secs(2), close_on(host, session_id)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => last = format!("{host}: {e}"),
                Err(_) => last = format!("{host}: no answer within 2 s"),
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Expire { session_id, reason: last });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn close_on(host: &str, session_id: i64) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let password = session_password(session_id);

    let mut connect = Vec::with_capacity(64);
    connect.extend_from_slice(&0i32.to_be_bytes()); // protocol version
    connect.extend_from_slice(&0i64.to_be_bytes()); // last zxid seen
    connect.extend_from_slice(&30_000i32.to_be_bytes()); // session timeout asked
    connect.extend_from_slice(&session_id.to_be_bytes());
    connect.extend_from_slice(&(password.len() as i32).to_be_bytes());
    connect.extend_from_slice(&password);
    connect.push(0); // read-only: false
    let mut close = Vec::with_capacity(8);
    close.extend_from_slice(&1i32.to_be_bytes()); // xid
    close.extend_from_slice(&CLOSE_SESSION.to_be_bytes());

    let mut packet = Vec::with_capacity(connect.len() + close.len() + 8);
    packet.extend_from_slice(&(connect.len() as i32).to_be_bytes());
    packet.extend_from_slice(&connect);
    packet.extend_from_slice(&(close.len() as i32).to_be_bytes());
    packet.extend_from_slice(&close);
    stream.write_all(&packet).await?;

    // ConnectResponse: protocol version, negotiated timeout (0: the session is already gone).
    let frame = read_frame(&mut stream).await?;
    let timeout = frame.get(4..8).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match timeout {
        Some(t) if t <= 0 => return Ok(()), // expired already
        Some(_) => {}
        None => return Err(std::io::Error::other("short connect response")),
    }
    // Reply to the close: xid, zxid, err.
    let reply = read_frame(&mut stream).await?;
    let err = reply.get(12..16).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    match err {
        Some(0) => Ok(()),
        Some(code) => Err(std::io::Error::other(format!("close answered with error code {code}"))),
        None => Err(std::io::Error::other("short close reply")),
    }
}

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_i32().await?;
    if !(0..=1 << 20).contains(&len) {
        return Err(std::io::Error::other(format!("bad frame length {len}")));
    }
    let mut buf = vec![0; len as usize];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// The password ZooKeeper gives session `id`: `java.util.Random(id ^ 0xB3415C00).nextBytes(16)`.
fn session_password(id: i64) -> [u8; 16] {
    let mut random = JavaRandom::new(id ^ SUPER_SECRET);
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        let mut rnd = random.next_int();
        for byte in chunk {
            *byte = rnd as u8;
            rnd >>= 8;
        }
    }
    out
}

/// `java.util.Random`'s 48-bit linear congruential generator.
struct JavaRandom(i64);

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom((seed ^ Self::MULTIPLIER) & Self::MASK)
    }

    fn next_int(&mut self) -> i32 {
        self.0 = (self.0.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> 16) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_the_jdk() {
        // new java.util.Random(42).nextInt() x3, as printed by a JDK.
        let mut r = JavaRandom::new(42);
        assert_eq!([r.next_int(), r.next_int(), r.next_int()], [-1170105035, 234785527, -1360544799]);
    }
}
