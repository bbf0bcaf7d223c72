//! The proxy against a loopback target, mode by mode, and its end on drop.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Mode, Proxy};

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
    assert_eq!(read_exactly(&mut fresh_server, 3).await, b"new", "new connections flow after the blackhole");

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
