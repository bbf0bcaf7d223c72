//! A loopback TCP proxy whose behaviour can be switched at runtime, to put a network fault
//! between a client and ZooKeeper.
//!
//! [`Proxy::start`] listens on `127.0.0.1:0` and forwards every connection to one loopback
//! target. Its [`Mode`] decides what happens to bytes and connections:
//!
//! | mode | open connections | new connections |
//! |---|---|---|
//! | [`Mode::Pass`] | bytes flow both ways | connected to the target |
//! | [`Mode::Pause`] | stay open, no byte moves either way (a partition that drops packets); they resume on `Pass` | accepted, held, connected to the target on `Pass` |
//! | [`Mode::Blackhole`] | as `Pause` | accepted, then never forwarded (what they send is dropped), even after `Pass`; closed on reset or drop |
//! | [`Mode::Reset`] | closed at once with a TCP RST, both sides | accepted and closed with an RST at once |
//!
//! [`Proxy::reset_connections`] resets every open connection once and keeps the mode (a reset
//! storm is a loop of it). Dropping the proxy closes the listener and every connection and ends
//! every task it started; each loop ends on end of stream, an error, a reset or the drop.
//!
//! `handle.rs` holds the [`Proxy`] a test holds, `mode.rs` the [`Mode`] and how a connection
//! waits on it, `connection.rs` the accept loop and what happens to each connection,
//! `stats.rs` the counters ([`ProxyStats`], [`ProxyMonitor`]).

mod connection;
mod handle;
mod mode;
mod stats;

pub use self::handle::Proxy;
pub use self::mode::Mode;
pub use self::stats::{ProxyMonitor, ProxyStats};

#[cfg(test)]
mod tests;
