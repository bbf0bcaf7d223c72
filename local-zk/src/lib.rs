//! Real ZooKeeper servers on loopback, for tests, demos and `zkmesh dev` (what curator-test is
//! to Curator). It depends on `zookeeper-client`, not on zkmesh's `registry`.
//!
//! Package `zkmesh-local-zk`; also `zkmesh::local_zk` with the `zkmesh` crate's `local-zk`
//! feature.
//!
//! - [`LocalZooKeeper`] runs one standalone server, [`LocalEnsemble`] a quorum of 1 to 7
//!   members, with stop, kill and restart (of one member or all) and four-letter words.
//! - [`expire_session`] expires a session the way ZooKeeper does when a client goes silent.
//! - [`shared_local_zookeeper`] starts one server per process on first use (for a test binary),
//!   [`raw_client`] connects a plain client and creates its chroot, and [`support`] holds the
//!   rest of what test suites share: chroots per test, bounded polling, logging.
//!
//! Servers are real JVMs from Debian's `zookeeper` package (`apt-get install zookeeper`, which
//! brings Java along; or set `JAVA` and `ZOOKEEPER_CLASSPATH`) on free ports of 127.0.0.1, with
//! `tickTime` 500 ms so that sessions expire in seconds; a start waits until they serve.
//!
//! No JVM outlives the process that started it: each runs under a `/bin/sh` watchdog holding a
//! pipe from us, which SIGKILLs the JVM when the pipe closes, that is when we drop the server or
//! when our process ends in any way (panic, abort, SIGKILL, or a server left in a `static`).
//!
//! Environment:
//! - `JAVA`: the java binary (default: `java` on `PATH`);
//! - `ZOOKEEPER_CLASSPATH`: the class path (default: the needed jars of `/usr/share/java`).
//!
//! Each server's directory holds `zoo.cfg`, `data/` and `zookeeper.log` (the JVM's output:
//! ZooKeeper's warnings and errors); start-up errors quote the log's last lines.
//!
//! A standalone server may also serve TLS ([`LocalZooKeeperBuilder::tls`]) on a second port, with
//! a self-signed certificate for 127.0.0.1 made at start by Java's `keytool` (which comes with
//! Java); its directory then also holds `keystore.p12` and `ca.pem`.
//!
//! ```no_run
//! # async fn demo() -> zkmesh_local_zk::Result<()> {
//! use zkmesh_local_zk::LocalZooKeeper;
//!
//! let mut zk = LocalZooKeeper::start().await?;
//! let client = zkmesh_local_zk::raw_client(&format!("{}/my-test", zk.connect_string())).await?;
//! zkmesh_local_zk::expire_session(&zk.connect_string(), client.session()).await?; // it is gone
//! zk.restart().await?; // same port, same data
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client_cert;
mod config;
mod ensemble;
mod error;
mod expire;
mod launch;
mod log;
mod node;
mod ports;
mod probe;
mod sasl;
mod server;
mod shared;
pub mod support;
mod tls;
mod watchdog;

pub use self::ensemble::{LocalEnsemble, LocalEnsembleBuilder};
pub use self::error::{Error, Result};
pub use self::expire::{expire_session, expire_session_id};
pub use self::server::{LocalZooKeeper, LocalZooKeeperBuilder};
pub use self::shared::{raw_client, shared_local_zookeeper};
