//! Session expiry injection, the Curator way: attach a second client to the session (same id
//! and password) and close it. ZooKeeper ends the session for every client attached to it: the
//! original sees `Expired` within a fraction of a second, and the session's ephemerals are gone.

use std::time::Duration;

use zookeeper_client::{Client, SessionInfo};

use crate::error::{Error, Result};

/// Expires the ZooKeeper session `session` on the ensemble at `connect` (hosts only or with a
/// chroot; the chroot is ignored), and waits until ZooKeeper has ended it.
///
/// # Errors
/// [`Error::Connect`] if the session cannot be attached (it may already be expired: the source
/// is then `SessionExpired`), or [`Error::Timeout`] if it still looks alive after 10 s.
pub async fn expire_session(connect: &str, session: &SessionInfo) -> Result<()> {
    let hosts = connect.split('/').next().unwrap_or(connect);
    let id = session.id();
    let attached = Client::connector()
        .with_session(session.clone())
        .connect(hosts)
        .await
        .map_err(|source| Error::Connect { connect: hosts.to_owned(), source })?;
    drop(attached);
    // Closing is asynchronous: attach again until ZooKeeper answers that the session expired
    // (an attach that still succeeds closes the session once more when dropped).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attach = Client::connector().with_session(session.clone()).with_fail_eagerly().connect(hosts).await;
        match attach {
            Err(zookeeper_client::Error::SessionExpired) => break,
            Ok(client) => drop(client),
            Err(_) => {}
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Timeout { what: format!("session {id} to expire"), after: Duration::from_secs(10) });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
