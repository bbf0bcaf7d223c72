//! Tags across hops: [`RequestTag`], the request extension a [`Balancer`](super::Balancer)
//! routes by (with [`request_tag`] as its route function), and [`TagLayer`], the tower layer
//! that keeps the extension and an HTTP header in step, so that a tag read from an incoming
//! request reaches the balancer's route choice and goes on with the outgoing calls.

use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request};
use tower::{Layer, Service};

/// The header a request's tag travels in by default.
pub const TAG_HEADER: &str = "x-zkmesh-tag";

/// A request's tag (`canary`), as a request extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestTag(pub String);

impl RequestTag {
    /// Sets this tag on `request`: the extension, and the [`TAG_HEADER`] header for the next hop.
    pub fn apply<B>(&self, request: &mut Request<B>) {
        if let Ok(value) = HeaderValue::from_str(&self.0) {
            request.headers_mut().insert(HeaderName::from_static(TAG_HEADER), value);
        }
        request.extensions_mut().insert(self.clone());
    }

    /// The tag of `request` (its extension), to carry on to the requests it causes.
    pub fn of<B>(request: &Request<B>) -> Option<RequestTag> {
        request.extensions().get::<RequestTag>().cloned()
    }
}

/// The tag of an HTTP request (its [`RequestTag`] extension): what
/// [`Balancer::route_by`](super::Balancer::route_by) takes to route HTTP requests.
pub fn request_tag<B>(request: &Request<B>) -> Option<&str> {
    request.extensions().get::<RequestTag>().map(|t| t.0.as_str())
}

/// A tower layer for HTTP services that keeps a request's tag header and its [`RequestTag`]
/// extension in step: a header without the extension (an incoming request) gets the
/// extension; an extension without the header (an outgoing request tagged in code, or one
/// that carries an incoming request's tag) gets the header.
///
/// ```
/// use zkmesh_registry::TagLayer;
/// let layer = TagLayer::new(); // `x-zkmesh-tag`
/// let custom = TagLayer::with_header(http::HeaderName::from_static("x-canary"));
/// # let _ = (layer, custom);
/// ```
#[derive(Debug, Clone)]
pub struct TagLayer {
    header: HeaderName,
}

impl Default for TagLayer {
    fn default() -> Self {
        TagLayer::new()
    }
}

impl TagLayer {
    /// The layer on the [`TAG_HEADER`] header.
    pub fn new() -> Self {
        TagLayer::with_header(HeaderName::from_static(TAG_HEADER))
    }

    /// The layer on another header.
    pub fn with_header(header: HeaderName) -> Self {
        TagLayer { header }
    }
}

impl<S> Layer<S> for TagLayer {
    type Service = TagService<S>;

    fn layer(&self, inner: S) -> TagService<S> {
        TagService { inner, header: self.header.clone() }
    }
}

/// The service [`TagLayer`] makes.
#[derive(Debug, Clone)]
pub struct TagService<S> {
    inner: S,
    header: HeaderName,
}

impl<S, B> Service<Request<B>> for TagService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        let from_header =
            request.headers().get(&self.header).and_then(|v| v.to_str().ok()).map(str::to_owned);
        match (RequestTag::of(&request), from_header) {
            (None, Some(tag)) if !tag.is_empty() => {
                request.extensions_mut().insert(RequestTag(tag));
            }
            (Some(tag), None) => {
                if let Ok(value) = HeaderValue::from_str(&tag.0) {
                    request.headers_mut().insert(self.header.clone(), value);
                }
            }
            _ => {}
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_header_becomes_the_extension_and_back() {
        let echo = tower::service_fn(|r: Request<()>| async move {
            let header = r.headers().get("x-canary").map(|v| v.to_str().unwrap_or("").to_owned());
            Ok::<_, std::convert::Infallible>((request_tag(&r).map(str::to_owned), header))
        });
        let svc = TagLayer::with_header(HeaderName::from_static("x-canary")).layer(echo);
        let incoming = Request::builder().header("x-canary", "canary").body(()).expect("request");
        let got = svc.clone().oneshot(incoming).await.expect("call");
        assert_eq!(got, (Some("canary".into()), Some("canary".into())));
        let mut outgoing = Request::new(());
        outgoing.extensions_mut().insert(RequestTag("blue".into()));
        let got = svc.clone().oneshot(outgoing).await.expect("call");
        assert_eq!(got, (Some("blue".into()), Some("blue".into())), "carried on in the header");
        assert_eq!(svc.oneshot(Request::new(())).await.expect("call"), (None, None));
    }
}
