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

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How long a connection to the target may take before the client's connection is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of each direction's copy buffer.
const BUFFER: usize = 16 * 1024;

/// What the proxy does with bytes and connections; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Move no bytes, keep connections open; resume on `Pass`.
    Pause,
    /// Like `Pause` for open connections; new ones are accepted and never forwarded.
    Blackhole,
    /// Reset every connection, open or new.
    Reset,
}

/// Counters of a proxy (one consistent-enough snapshot; each field is read on its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Connections that reached the target.
    pub forwarded: u64,
    /// Client connections open now.
    pub open: usize,
    /// Connections closed with a reset (by a `Reset`, by [`Proxy::reset_connections`], or
    /// because the target could not be reached).
    pub resets: u64,
    /// Bytes forwarded from clients to the target.
    pub bytes_up: u64,
    /// Bytes forwarded from the target to clients.
    pub bytes_down: u64,
    /// Tasks of the proxy still alive (the accept loop and one per connection); 0 once the
    /// proxy is dropped and its tasks have ended.
    pub live_tasks: usize,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    forwarded: AtomicU64,
    open: AtomicUsize,
    resets: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    live_tasks: AtomicUsize,
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
            live_tasks: self.live_tasks.load(Ordering::Relaxed),
        }
    }
}

/// Counts an open connection while it lives.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Open(counter)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a task from before it is spawned until its future is dropped (also when it is
/// aborted before it ever ran): moved into the future.
struct LiveTask(Arc<Counters>);

impl LiveTask {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.live_tasks.fetch_add(1, Ordering::Relaxed);
        LiveTask(counters.clone())
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        self.0.live_tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The mode and how many resets were ordered; a connection made before the latest reset ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    mode: Mode,
    resets: u64,
}

/// A handle on a proxy's counters that outlives the proxy (to see its tasks end).
#[derive(Debug, Clone)]
pub struct ProxyMonitor(Arc<Counters>);

impl ProxyMonitor {
    /// The counters now.
    pub fn stats(&self) -> ProxyStats {
        self.0.snapshot()
    }
}

/// A loopback TCP proxy with a switchable [`Mode`]; see the module docs.
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

async fn accept_loop(
    _live: LiveTask,
    listener: TcpListener,
    target: SocketAddr,
    rx: watch::Receiver<State>,
    counters: Arc<Counters>,
) {
    let mut connections = JoinSet::new();
    let mut life = rx.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let live = LiveTask::new(&counters);
                    let (rx, counters) = (rx.clone(), counters.clone());
                    connections.spawn(async move {
                        let _live = live;
                        connection(stream, target, rx, &counters).await;
                    });
                }
                // Out of file descriptors, say: try again a little later.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = life.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// How one direction, or a whole connection, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// End of stream from the reading side (passed on as a write shutdown).
    Eof,
    /// A read or write failed (the peer reset or went away).
    Error,
    /// Reset by the proxy.
    Reset,
    /// The proxy was dropped.
    Closed,
}

fn is_reset(state: &State, epoch: u64) -> bool {
    state.mode == Mode::Reset || state.resets != epoch
}

/// Waits until bytes may flow (`Pass`); `Err` when the connection must end instead.
async fn wait_pass(rx: &mut watch::Receiver<State>, epoch: u64) -> Result<(), End> {
    loop {
        {
            let state = rx.borrow_and_update();
            if is_reset(&state, epoch) {
                return Err(End::Reset);
            }
            if state.mode == Mode::Pass {
                return Ok(());
            }
        }
        rx.changed().await.map_err(|_| End::Closed)?;
    }
}

/// Resolves when bytes must stop (`Ok`) or the connection must end (`Err`).
async fn wait_not_pass(rx: &mut watch::Receiver<State>, epoch: u64) -> Result<(), End> {
    loop {
        rx.changed().await.map_err(|_| End::Closed)?;
        let state = *rx.borrow_and_update();
        if is_reset(&state, epoch) {
            return Err(End::Reset);
        }
        if state.mode != Mode::Pass {
            return Ok(());
        }
    }
}

/// Resolves when the connection must end.
async fn wait_end(rx: &mut watch::Receiver<State>, epoch: u64) -> End {
    loop {
        if rx.changed().await.is_err() {
            return End::Closed;
        }
        if is_reset(&rx.borrow_and_update(), epoch) {
            return End::Reset;
        }
    }
}

/// Closes `stream` with an RST instead of a FIN.
fn rst(stream: TcpStream) {
    // A zero linger makes the close abortive (RST) and never blocks, unlike other lingers,
    // which is why tokio deprecates the setter in general.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Resets a client connection that never reached the target.
fn abort(stream: TcpStream, counters: &Counters) {
    counters.resets.fetch_add(1, Ordering::Relaxed);
    rst(stream);
}

async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mut rx: watch::Receiver<State>,
    counters: &Counters,
) {
    let _open = Open::new(&counters.open);
    let _ = client.set_nodelay(true);
    let State { mode, resets: epoch } = *rx.borrow_and_update();
    match mode {
        Mode::Reset => return abort(client, counters),
        Mode::Blackhole => return swallow(client, rx, epoch, counters).await,
        Mode::Pass | Mode::Pause => {}
    }
    // Accepted during a pause: connect to the target once bytes may flow (a SYN retransmitted).
    if let Err(end) = wait_pass(&mut rx, epoch).await {
        if end == End::Reset {
            abort(client, counters);
        }
        return;
    }
    let upstream = tokio::select! {
        connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)) => match connected {
            Ok(Ok(upstream)) => upstream,
            _ => return abort(client, counters),
        },
        end = wait_end(&mut rx, epoch) => {
            if end == End::Reset {
                abort(client, counters);
            }
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    counters.forwarded.fetch_add(1, Ordering::Relaxed);
    let (mut client, mut upstream) = (client, upstream);
    let end = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = pump(client_read, upstream_write, rx.clone(), epoch, &counters.bytes_up);
        let down = pump(upstream_read, client_write, rx.clone(), epoch, &counters.bytes_down);
        tokio::pin!(up, down);
        tokio::select! {
            end = &mut up => if end == End::Eof { down.await } else { end },
            end = &mut down => if end == End::Eof { up.await } else { end },
        }
    };
    if end == End::Reset {
        counters.resets.fetch_add(1, Ordering::Relaxed);
        rst(client);
        rst(upstream);
    }
}

/// A connection accepted in `Blackhole` mode: read and drop what it sends until it closes,
/// the proxy resets it or the proxy goes.
async fn swallow(mut client: TcpStream, mut rx: watch::Receiver<State>, epoch: u64, counters: &Counters) {
    let mut buf = vec![0u8; BUFFER];
    loop {
        tokio::select! {
            read = client.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            end = wait_end(&mut rx, epoch) => {
                if end == End::Reset {
                    abort(client, counters);
                }
                return;
            }
        }
    }
}

/// Copies one direction while the mode is `Pass`; holds what it read while it is not.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    mut rx: watch::Receiver<State>,
    epoch: u64,
    bytes: &AtomicU64,
) -> End {
    let mut buf = vec![0u8; BUFFER];
    loop {
        if let Err(end) = wait_pass(&mut rx, epoch).await {
            return end;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) => {
                    let _ = to.shutdown().await;
                    return End::Eof;
                }
                Ok(n) => n,
                Err(_) => return End::Error,
            },
            stop = wait_not_pass(&mut rx, epoch) => match stop {
                Ok(()) => continue,
                Err(end) => return end,
            },
        };
        // Read just as the mode changed: keep it until bytes may flow again.
        if let Err(end) = wait_pass(&mut rx, epoch).await {
            return end;
        }
        let written = tokio::select! {
            written = to.write_all(&buf[..n]) => written,
            end = wait_end(&mut rx, epoch) => return end,
        };
        if written.is_err() {
            return End::Error;
        }
        bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(10);
    /// How long "nothing arrives" is watched for: long enough to see a byte that leaks through
    /// on loopback, and failure never depends on the machine being fast.
    const QUIET: Duration = Duration::from_millis(300);

    /// A target that hands each accepted server-side stream to the test.
    async fn target() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind target");
        let addr = listener.local_addr().expect("addr");
        (listener, addr)
    }

    async fn accept(listener: &TcpListener) -> TcpStream {
        tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the target is reached in time")
            .expect("accept")
            .0
    }

    async fn connect(proxy: &Proxy) -> TcpStream {
        tokio::time::timeout(WAIT, TcpStream::connect(proxy.addr()))
            .await
            .expect("connect in time")
            .expect("connect to the proxy")
    }

    async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        tokio::time::timeout(WAIT, stream.read_exact(&mut buf)).await.expect("bytes in time").expect("read");
        buf
    }

    /// Nothing arrives on `stream` for a while (and it is not closed).
    async fn silent(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        tokio::time::timeout(QUIET, stream.read(&mut buf)).await.is_err()
    }

    /// The stream ends (EOF or an error such as a reset) within the bound.
    async fn ends(stream: &mut TcpStream) -> std::io::Result<usize> {
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(WAIT, stream.read(&mut buf)).await.expect("the stream ends in time") {
                Ok(0) => return Ok(0),
                Ok(_) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "not within {WAIT:?}: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn refuses_a_target_off_loopback() {
        let err = Proxy::to("10.0.0.1:2181").await.expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(Proxy::to("not an address").await.is_err());
    }

    #[tokio::test]
    async fn pass_forwards_both_ways_intact() {
        let (listener, addr) = target().await;
        let proxy = Proxy::start(addr).await.expect("proxy");
        assert_eq!(proxy.mode(), Mode::Pass);
        let mut client = connect(&proxy).await;
        let mut server = accept(&listener).await;
        // A megabyte each way, with a pattern, to see that nothing is lost or reordered.
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (up, down) = tokio::join!(
            async {
                client.write_all(&payload).await.expect("write up");
                read_exactly(&mut client, payload.len()).await
            },
            async {
                let got = read_exactly(&mut server, payload.len()).await;
                server.write_all(&got).await.expect("write down");
                got
            }
        );
        assert!(up == payload && down == payload, "bytes arrive intact both ways");
        let stats = proxy.stats();
        assert_eq!((stats.accepted, stats.forwarded, stats.open), (1, 1, 1));
        assert_eq!((stats.bytes_up, stats.bytes_down), (1_000_000, 1_000_000));

        // A close passes through as a close; the connection ends once both sides closed.
        drop(client);
        assert_eq!(ends(&mut server).await.expect("a clean end"), 0);
        assert_eq!(proxy.stats().open, 1, "half closed: the target may still answer");
        drop(server);
        eventually("the connection is gone", || proxy.stats().open == 0).await;
    }

    #[tokio::test]
    async fn pause_holds_bytes_both_ways_and_pass_delivers_them_on_the_same_connections() {
        let (listener, addr) = target().await;
        let proxy = Proxy::start(addr).await.expect("proxy");
        let mut client = connect(&proxy).await;
        let mut server = accept(&listener).await;
        client.write_all(b"ping").await.expect("write");
        assert_eq!(read_exactly(&mut server, 4).await, b"ping");

        proxy.pause();
        client.write_all(b"during").await.expect("write while paused");
        server.write_all(b"pause!").await.expect("write while paused");
        assert!(silent(&mut server).await, "nothing reaches the target while paused");
        assert!(silent(&mut client).await, "nothing reaches the client while paused");
        // A connection made during the pause is accepted but reaches nothing yet.
        let mut late = connect(&proxy).await;
        late.write_all(b"late").await.expect("write");
        assert!(tokio::time::timeout(QUIET, listener.accept()).await.is_err(), "not forwarded while paused");
        assert_eq!(proxy.stats().forwarded, 1);

        proxy.pass();
        assert_eq!(read_exactly(&mut server, 6).await, b"during");
        assert_eq!(read_exactly(&mut client, 6).await, b"pause!");
        let mut late_server = accept(&listener).await;
        assert_eq!(read_exactly(&mut late_server, 4).await, b"late", "the held connection goes through");
        assert_eq!(proxy.stats().resets, 0);
    }

    #[tokio::test]
    async fn blackhole_pauses_open_connections_and_never_forwards_new_ones() {
        let (listener, addr) = target().await;
        let proxy = Proxy::start(addr).await.expect("proxy");
        let mut client = connect(&proxy).await;
        let mut server = accept(&listener).await;

        proxy.blackhole();
        client.write_all(b"held").await.expect("write");
        assert!(silent(&mut server).await, "open connections are paused");
        let mut swallowed = connect(&proxy).await; // accepted: the connect succeeds
        swallowed.write_all(b"into the void").await.expect("write is accepted");
        eventually("the proxy accepted it in blackhole mode", || proxy.stats().accepted == 2).await;
        assert!(tokio::time::timeout(QUIET, listener.accept()).await.is_err(), "never reaches the target");

        proxy.pass();
        assert_eq!(read_exactly(&mut server, 4).await, b"held", "the open connection resumes");
        assert!(silent(&mut swallowed).await, "the blackholed connection stays dead");
        assert!(tokio::time::timeout(QUIET, listener.accept()).await.is_err(), "and is never forwarded");
        let mut fresh = connect(&proxy).await;
        fresh.write_all(b"new").await.expect("write");
        let mut fresh_server = accept(&listener).await;
        assert_eq!(
            read_exactly(&mut fresh_server, 3).await,
            b"new",
            "new connections flow after the blackhole"
        );

        // A reset ends the blackholed one too.
        proxy.reset_connections();
        assert!(ends(&mut swallowed).await.is_err(), "reset");
    }

    #[tokio::test]
    async fn reset_closes_both_sides_and_refuses_new_connections_until_pass() {
        let (listener, addr) = target().await;
        let proxy = Proxy::start(addr).await.expect("proxy");
        let mut client = connect(&proxy).await;
        let mut server = accept(&listener).await;
        client.write_all(b"x").await.expect("write");
        assert_eq!(read_exactly(&mut server, 1).await, b"x");

        proxy.reset();
        let client_end = ends(&mut client).await;
        assert_eq!(client_end.expect_err("an RST, not a FIN").kind(), std::io::ErrorKind::ConnectionReset);
        let server_end = ends(&mut server).await;
        assert_eq!(server_end.expect_err("an RST, not a FIN").kind(), std::io::ErrorKind::ConnectionReset);
        // While in Reset, a new connection is closed at once, without reaching the target.
        let mut refused = connect(&proxy).await;
        assert!(ends(&mut refused).await.is_err(), "reset at once");
        assert!(tokio::time::timeout(QUIET, listener.accept()).await.is_err(), "never forwarded");

        proxy.pass();
        let mut again = connect(&proxy).await;
        let mut again_server = accept(&listener).await;
        again.write_all(b"back").await.expect("write");
        assert_eq!(read_exactly(&mut again_server, 4).await, b"back");
        eventually("the reset connections are gone", || proxy.stats().open == 1).await;
        assert!(proxy.stats().resets >= 2, "{:?}", proxy.stats());
    }

    #[tokio::test]
    async fn reset_connections_once_keeps_the_mode_and_ends_paused_connections_too() {
        let (listener, addr) = target().await;
        let proxy = Proxy::start(addr).await.expect("proxy");
        let mut first = connect(&proxy).await;
        let _first_server = accept(&listener).await;
        proxy.pause();
        let mut held = connect(&proxy).await; // held, not yet forwarded
                                              // Open from the proxy's side once accepted (not while in the kernel's backlog).
        eventually("the held connection is accepted", || proxy.stats().accepted == 2).await;
        proxy.reset_connections();
        assert_eq!(proxy.mode(), Mode::Pause);
        assert!(ends(&mut first).await.is_err(), "the paused open connection is reset");
        assert!(ends(&mut held).await.is_err(), "the held one too");
        proxy.pass();
        let mut next = connect(&proxy).await;
        let mut next_server = accept(&listener).await;
        next.write_all(b"ok").await.expect("write");
        assert_eq!(read_exactly(&mut next_server, 2).await, b"ok", "a connection made after the reset flows");
    }

    #[tokio::test]
    async fn an_unreachable_target_resets_the_client() {
        let addr = {
            let (listener, addr) = target().await;
            drop(listener);
            addr
        };
        let proxy = Proxy::start(addr).await.expect("proxy");
        let mut client = connect(&proxy).await;
        assert!(ends(&mut client).await.is_err(), "reset when the target refuses");
        assert_eq!(proxy.stats().forwarded, 0);
    }

    #[tokio::test]
    async fn dropping_the_proxy_closes_everything_and_ends_every_task() {
        let (listener, addr) = target().await;
        let proxy = Proxy::start(addr).await.expect("proxy");
        let monitor = proxy.monitor();
        let proxy_addr = proxy.addr();
        let mut passing = connect(&proxy).await;
        let mut passing_server = accept(&listener).await;
        proxy.pause();
        let mut held = connect(&proxy).await;
        proxy.blackhole();
        let mut swallowed = connect(&proxy).await;
        eventually("four tasks run (accept + 3 connections)", || monitor.stats().live_tasks == 4).await;

        drop(proxy);
        for stream in [&mut passing, &mut held, &mut swallowed, &mut passing_server] {
            ends(stream).await.ok();
        }
        eventually("every task ended", || monitor.stats().live_tasks == 0).await;
        assert_eq!(monitor.stats().open, 0);
        let refused = TcpStream::connect(proxy_addr).await;
        assert!(refused.is_err(), "the listener is closed");
    }
}
