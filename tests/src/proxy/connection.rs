//! The accept loop and each connection: connecting to the target when the mode lets it,
//! copying bytes both ways, swallowing, resetting.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::mode::{wait_end, wait_not_pass, wait_pass, End, Mode, State};
use super::stats::{Counters, LiveTask, Open};

/// How long a connection to the target may take before the client's connection is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Size of each direction's copy buffer.
const BUFFER: usize = 16 * 1024;

pub(super) async fn accept_loop(
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
