//! Shared by the API tests: a console on a fresh chroot of the test binary's ZooKeeper, and
//! plain HTTP/1 requests to it (hyper's client connection, one per request).

#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use zkmesh_console::{Console, ConsoleBuilder, ConsoleHandle};

/// A console on its own chroot, and the connect string of that chroot.
pub struct TestConsole {
    pub handle: ConsoleHandle,
    pub connect: String,
    pub zk: zookeeper_client::Client,
}

impl TestConsole {
    /// A read-only console on a fresh chroot named after `test`.
    pub async fn start(test: &str) -> TestConsole {
        Self::start_with(test, |b| b).await
    }

    /// A console on a fresh chroot, its builder adjusted by `adjust`.
    pub async fn start_with(
        test: &str,
        adjust: impl FnOnce(ConsoleBuilder) -> ConsoleBuilder,
    ) -> TestConsole {
        let connect = local_zk::support::chroot("console", test);
        let zk = local_zk::support::raw(&connect).await;
        let session = registry::Session::builder()
            .connect_timeout(Duration::from_secs(20))
            .connect(&connect)
            .await
            .expect("session");
        let builder = Console::builder().listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        let handle = adjust(builder).serve(session).await.expect("console serves");
        TestConsole { handle, connect, zk }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        json_of(send(self.addr(), "GET", path, None, None).await).await
    }

    pub async fn write(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        json_of(send(self.addr(), method, path, token, Some(body.to_string())).await).await
    }
}

/// One request on a new connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Response<Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the console");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder().method(method).uri(path).header("host", addr.to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Full::new(Bytes::from(body.unwrap_or_default()))).expect("request");
    sender.send_request(request).await.expect("response")
}

/// The status and the body of `response`, as text.
pub async fn text_of(response: Response<Incoming>) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, content_type, String::from_utf8(body.to_vec()).expect("UTF-8 body"))
}

/// The status and the JSON body of `response`.
pub async fn json_of(response: Response<Incoming>) -> (StatusCode, Value) {
    let (status, content_type, text) = text_of(response).await;
    assert_eq!(content_type, "application/json", "{status}: {text}");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

/// Creates `path` and its missing parents (persistent, open), with `data` on the last.
pub async fn create(zk: &zookeeper_client::Client, path: &str, data: &[u8]) {
    let mode = zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let mut at = String::new();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at = format!("{at}/{part}");
        let last = i + 1 == parts.len();
        match zk.create(&at, if last { data } else { b"" }, &mode).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => panic!("create {at}: {e}"),
        }
    }
}

/// Registers `url` as a provider (`kind` = "providers") or consumer of its service, in
/// zkmesh's layout, as a persistent node (the test owns its life).
pub async fn member(zk: &zookeeper_client::Client, kind: &str, url: &str) {
    let url = registry::ServiceUrl::parse(url).expect("valid URL");
    create(zk, &format!("/services/{}/{kind}/{}", url.service(), url.to_node_name()), b"").await;
}

/// The node's data as text.
pub async fn read(zk: &zookeeper_client::Client, path: &str) -> Option<(String, i32)> {
    match zk.get_data(path).await {
        Ok((data, stat)) => Some((String::from_utf8(data).expect("UTF-8"), stat.version)),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(e) => panic!("read {path}: {e}"),
    }
}
