//! Response classifiers: what a request's result says about the provider that served it.

use std::error::Error as StdError;

use crate::consumer::Outcome;

/// The error a [`Classify`] sees: the inner service's error, as a `tower::BoxError` refers to it.
pub type ErrorRef<'a> = &'a (dyn StdError + Send + Sync + 'static);

/// Tells a [`Balancer`](super::Balancer) what each response says about its provider: a
/// [`Outcome::Failure`] counts towards the provider's ejection, a [`Outcome::Success`] ends a
/// run of failures (and brings back a probed provider), [`Outcome::Ignore`] does neither.
///
/// Implemented for closures `Fn(Result<&Resp, ErrorRef<'_>>) -> Outcome`. A classifier that
/// panics is contained: the outcome is ignored, the panic logged and counted
/// (`zkmesh_classifier_panics_total`), and the caller gets its response as usual.
pub trait Classify<Resp>: Send + Sync + 'static {
    /// The outcome of one request: its response, or the error of the provider's service.
    fn classify(&self, result: Result<&Resp, ErrorRef<'_>>) -> Outcome;
}

impl<Resp, F> Classify<Resp> for F
where
    F: Fn(Result<&Resp, ErrorRef<'_>>) -> Outcome + Send + Sync + 'static,
{
    fn classify(&self, result: Result<&Resp, ErrorRef<'_>>) -> Outcome {
        self(result)
    }
}

/// The default classifier: a refused connection (see [`is_refused_connection`]) is
/// [`Outcome::Refused`], another connection error (see [`is_connection_error`]) a failure, any
/// response a success, and other errors (an application's) are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionErrors;

impl<Resp> Classify<Resp> for ConnectionErrors {
    fn classify(&self, result: Result<&Resp, ErrorRef<'_>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if is_refused_connection(e) => Outcome::Refused,
            Err(e) if is_connection_error(e) => Outcome::Failure,
            Err(_) => Outcome::Ignore,
        }
    }
}

/// For services answering `http::Response`s (hyper, tonic's channel, reqwest through tower):
/// a 5xx answer is a failure, any other answer a success, and errors are classified as
/// [`ConnectionErrors`] does.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpServerErrors;

impl<B> Classify<http::Response<B>> for HttpServerErrors {
    fn classify(&self, result: Result<&http::Response<B>, ErrorRef<'_>>) -> Outcome {
        match result {
            Ok(response) if response.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(e) => ConnectionErrors.classify(Err::<&(), _>(e)),
        }
    }
}

/// For gRPC services (tonic's `Channel`): an answer whose `grpc-status` header is UNAVAILABLE
/// (14) or INTERNAL (13), or an HTTP 5xx, is a failure; any other answer a success; errors are
/// classified as [`ConnectionErrors`] does.
///
/// It reads the response's headers, which is where a gRPC error that ends a call before any
/// message sits ("Trailers-Only", what a server that cannot serve the call sends); a status
/// that arrives in trailers after messages is not seen here.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcErrors;

impl<B> Classify<http::Response<B>> for GrpcErrors {
    fn classify(&self, result: Result<&http::Response<B>, ErrorRef<'_>>) -> Outcome {
        match result {
            Ok(response) => {
                let status = response.headers().get("grpc-status").map(http::HeaderValue::as_bytes);
                if matches!(status, Some(b"13" | b"14")) || response.status().is_server_error() {
                    Outcome::Failure
                } else {
                    Outcome::Success
                }
            }
            Err(e) => ConnectionErrors.classify(Err::<&(), _>(e)),
        }
    }
}

/// Whether `error`, or an error in its `source()` chain, is an I/O error saying the connection
/// was refused: nothing listens at the address (hyper's, tonic's and tokio's connect errors
/// carry one).
pub fn is_refused_connection(error: &(dyn StdError + 'static)) -> bool {
    io_errors(error).any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// The I/O errors in `error`'s `source()` chain, `error` included.
fn io_errors<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a std::io::Error> {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| (*e).source())
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
}

/// Whether `error`, or an error in its `source()` chain, is an I/O error of a connection that
/// failed: refused, reset, aborted, not connected, a broken pipe, an unexpected end of file,
/// timed out, an unreachable host or network, an address not available. hyper's, tonic's and
/// tokio's connection failures carry one.
pub fn is_connection_error(error: &(dyn StdError + 'static)) -> bool {
    use std::io::ErrorKind::*;
    io_errors(error).any(|io| {
        matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | BrokenPipe
                | UnexpectedEof
                | TimedOut
                | HostUnreachable
                | NetworkUnreachable
                | AddrNotAvailable
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("request failed")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn boxed(e: impl StdError + Send + Sync + 'static) -> Box<dyn StdError + Send + Sync> {
        Box::new(e)
    }

    #[test]
    fn connection_errors_are_failures_wherever_they_sit_in_the_chain() {
        use std::io::{Error, ErrorKind};
        let refused = boxed(Wrapped(Error::from(ErrorKind::ConnectionRefused)));
        let denied = boxed(Wrapped(Error::from(ErrorKind::PermissionDenied)));
        let app = boxed(std::fmt::Error);
        let reset = boxed(Wrapped(Error::from(ErrorKind::ConnectionReset)));
        assert_eq!(ConnectionErrors.classify(Err::<&(), _>(&*refused)), Outcome::Refused);
        assert_eq!(ConnectionErrors.classify(Err::<&(), _>(&*reset)), Outcome::Failure);
        assert_eq!(ConnectionErrors.classify(Err::<&(), _>(&*denied)), Outcome::Ignore);
        assert_eq!(ConnectionErrors.classify(Err::<&(), _>(&*app)), Outcome::Ignore);
        assert_eq!(ConnectionErrors.classify(Ok(&())), Outcome::Success);
    }

    #[test]
    fn http_5xx_are_failures_and_4xx_are_answers() {
        let answer = |status: u16| {
            let response = http::Response::builder().status(status).body(()).expect("response");
            HttpServerErrors.classify(Ok(&response))
        };
        assert_eq!(answer(200), Outcome::Success);
        assert_eq!(answer(404), Outcome::Success, "the provider answered");
        assert_eq!(answer(500), Outcome::Failure);
        assert_eq!(answer(503), Outcome::Failure);
        let reset = boxed(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(HttpServerErrors.classify(Err::<&http::Response<()>, _>(&*reset)), Outcome::Failure);
    }

    #[test]
    fn grpc_unavailable_and_internal_are_failures() {
        let answer = |status: Option<&str>| {
            let mut response = http::Response::builder().status(200);
            if let Some(status) = status {
                response = response.header("grpc-status", status);
            }
            GrpcErrors.classify(Ok(&response.body(()).expect("response")))
        };
        assert_eq!(answer(None), Outcome::Success);
        assert_eq!(answer(Some("0")), Outcome::Success);
        assert_eq!(answer(Some("5")), Outcome::Success, "NOT_FOUND: the provider answered");
        assert_eq!(answer(Some("13")), Outcome::Failure);
        assert_eq!(answer(Some("14")), Outcome::Failure);
        let refused = boxed(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(GrpcErrors.classify(Err::<&http::Response<()>, _>(&*refused)), Outcome::Refused);
    }

    #[test]
    fn closures_classify() {
        let only_ok = |r: Result<&u32, ErrorRef<'_>>| match r {
            Ok(&0) => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Ignore,
        };
        assert_eq!(only_ok.classify(Ok(&0)), Outcome::Failure);
        assert_eq!(only_ok.classify(Ok(&7)), Outcome::Success);
    }
}
