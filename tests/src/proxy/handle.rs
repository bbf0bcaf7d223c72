//! The [`Proxy`] a test holds: starting it, switching its mode, its counters; dropping it ends it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::accept_loop;
use super::mode::{Mode, State};
use super::stats::{Counters, LiveTask, ProxyMonitor, ProxyStats};

/// A loopback TCP proxy with a switchable [`Mode`]; see the `proxy` module's docs.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use tests::{Mode, Proxy};
/// let proxy = Proxy::start("127.0.0.1:2181".parse().expect("address")).await?;
/// let connect = format!("{}/my-chroot", proxy.connect_string()); // give this to the client
/// proxy.set_mode(Mode::Pause); // partition
/// proxy.set_mode(Mode::Pass); // heal
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    state: watch::Sender<State>,
    counters: Arc<Counters>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards to `target`, starting in [`Mode::Pass`]. Must be
    /// called within a tokio runtime; the proxy's tasks run on it.
    ///
    /// # Errors
    /// `InvalidInput` when `target` is not a loopback address; the error of binding the
    /// listener.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        if !target.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the test proxy forwards to loopback addresses only, not {target}"),
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (state, rx) = watch::channel(State { mode: Mode::Pass, resets: 0 });
        let counters = Arc::new(Counters::default());
        let live = LiveTask::new(&counters);
        let accept = tokio::spawn(accept_loop(live, listener, target, rx, counters.clone()));
        tracing::debug!(%addr, %target, "test proxy listening");
        Ok(Proxy { addr, target, state, counters, accept })
    }

    /// [`Proxy::start`] with a `host:port` target such as ZooKeeper's `127.0.0.1:PORT`.
    ///
    /// # Errors
    /// `InvalidInput` when `target` is not a loopback `ip:port`; as [`Proxy::start`].
    pub async fn to(target: &str) -> std::io::Result<Proxy> {
        let target: SocketAddr = target.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("target {target:?}: {e}"))
        })?;
        Proxy::start(target).await
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT` of the proxy, for a connect string (append a chroot as needed).
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Where the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.state.borrow().mode
    }

    /// Switches the mode; switching to [`Mode::Reset`] resets every open connection.
    pub fn set_mode(&self, mode: Mode) {
        self.state.send_modify(|s| {
            if mode == Mode::Reset && s.mode != Mode::Reset {
                s.resets += 1;
            }
            s.mode = mode;
        });
        tracing::debug!(addr = %self.addr, ?mode, "test proxy mode");
    }

    /// [`Mode::Pass`]: forward (heal).
    pub fn pass(&self) {
        self.set_mode(Mode::Pass);
    }

    /// [`Mode::Pause`]: a partition that drops packets.
    pub fn pause(&self) {
        self.set_mode(Mode::Pause);
    }

    /// [`Mode::Blackhole`].
    pub fn blackhole(&self) {
        self.set_mode(Mode::Blackhole);
    }

    /// [`Mode::Reset`]: reset everything, and every new connection, until the mode changes.
    pub fn reset(&self) {
        self.set_mode(Mode::Reset);
    }

    /// Resets every connection the proxy has accepted so far (both sides get an RST) and keeps
    /// the mode: clients may connect again at once.
    pub fn reset_connections(&self) {
        self.state.send_modify(|s| s.resets += 1);
    }

    /// The counters now.
    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }

    /// A handle on the counters that stays usable after the proxy is dropped.
    pub fn monitor(&self) -> ProxyMonitor {
        ProxyMonitor(self.counters.clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Dropping the accept task drops its listener and its `JoinSet`, which aborts every
        // connection task; the closed channel ends any of them that is still running.
        self.accept.abort();
    }
}
