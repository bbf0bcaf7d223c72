//! The accept loop: one hyper HTTP/1 connection per task, all ended on shutdown.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::console::State;

/// Accepts connections until `stopped` turns true (or its sender is gone), then aborts the
/// connections still open (dropping the set aborts them).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_one(stream, peer, state.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "console: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_one(stream: tokio::net::TcpStream, peer: std::net::SocketAddr, state: Arc<State>) {
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(crate::router::route(req, state).await) }
    });
    // Headers must arrive within 30 s (a client that trickles them holds no task for longer).
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "console: connection ended with an error");
    }
}
