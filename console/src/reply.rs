//! Responses: JSON documents, API errors (`{"error": ...}` with a status), assets, and the
//! body type they share (boxed, so an event stream is one too).

use std::convert::Infallible;

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Bytes;
use hyper::{header, Response, StatusCode};
use serde_json::{json, Value};

/// The body of every response.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// What an API handler answers: a JSON document (200), or an error.
pub(crate) type Reply = Result<Value, ApiError>;

/// An API error: its status and its JSON body (`{"error": message, ...extra}`).
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body, an object with `error` at least.
    pub body: Value,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, body: json!({ "error": message.into() }) }
    }

    /// 400: the request is not valid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: nothing there.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: ZooKeeper or the console failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// This error with `key` = `value` added to its body.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        if let Some(object) = self.body.as_object_mut() {
            object.insert(key.to_owned(), value);
        }
        self
    }
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<Body> {
    bytes(status, "application/json", Bytes::from(value.to_string()))
}

/// The response of a handler's answer.
pub(crate) fn reply(answer: Reply) -> Response<Body> {
    match answer {
        Ok(value) => json(StatusCode::OK, &value),
        Err(e) => json(e.status, &e.body),
    }
}

/// A response with `body` of `content_type`; nothing the console serves may be cached or
/// sniffed as another type.
pub(crate) fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", header::HeaderValue::from_static("nosniff"));
    response
}
