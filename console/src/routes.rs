//! The API's routes: which handler answers which method and path.

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use crate::console::State;
use crate::reply::{self, ApiError, Body, Reply};
use crate::{config_api, rules_api, services};

/// A GET under `/api/`.
pub(crate) async fn read(state: &std::sync::Arc<State>, segments: &[&str]) -> Response<Body> {
    let answer = match segments {
        ["overview"] => Ok(crate::overview::overview(state)),
        ["events"] => return crate::events::stream(state),
        ["services"] => services::list(state).await,
        ["services", svc] => services::detail(state, svc).await,
        ["services", svc, "rules", "history"] => rules_api::history(state, svc).await,
        ["config"] => config_api::list(state).await,
        ["config", ns, name] => config_api::get(state, ns, name).await,
        ["config", ns, name, "history"] => config_api::history(state, ns, name).await,
        ["recipes"] => crate::recipes_api::recipes(state).await,
        _ => Err(no_route("GET", segments)),
    };
    reply::reply(answer)
}

/// Whether `method` `segments` is a route that writes nothing although it is not a GET
/// (the config diff): it needs no token.
fn writes(method: &Method, segments: &[&str]) -> bool {
    !(method == Method::POST && matches!(segments, ["config", _, _, "diff"]))
}

/// Any other method under `/api/`: the token is checked first (403), then the body is read
/// (at most the configured size), then the route answers.
pub(crate) async fn write(state: &State, segments: &[&str], req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    if writes(&method, segments) {
        if !is_write_route(&method, segments) {
            return reply::reply(Err(no_route(method.as_str(), segments)));
        }
        if let Err(e) = crate::auth::check(state.write_token.as_deref(), req.headers()) {
            return reply::reply(Err(e));
        }
    }
    let body = match crate::input::body(req, state.max_body).await {
        Ok(body) => body,
        Err(e) => return reply::reply(Err(e)),
    };
    reply::reply(dispatch(state, &method, segments, &body).await)
}

/// Whether a write route answers `method` `segments` (so that an unknown path is 404, not 403).
fn is_write_route(method: &Method, segments: &[&str]) -> bool {
    matches!(
        (method.as_str(), segments),
        ("POST", ["services", _, "providers", _, "disable" | "enable" | "weight"])
            | ("PUT", ["services", _, "rules"])
            | ("POST", ["services", _, "rules", "rollback"])
            | ("PUT", ["config", _, _])
            | ("POST", ["config", _, _, "rollback"])
    )
}

async fn dispatch(state: &State, method: &Method, segments: &[&str], body: &Value) -> Reply {
    match (method.as_str(), segments) {
        ("POST", ["services", svc, "providers", address, what @ ("disable" | "enable" | "weight")]) => {
            rules_api::switch(state, svc, address, what, body).await
        }
        ("PUT", ["services", svc, "rules"]) => rules_api::put(state, svc, body).await,
        ("POST", ["services", svc, "rules", "rollback"]) => rules_api::rollback(state, svc, body).await,
        ("PUT", ["config", ns, name]) => config_api::put(state, ns, name, body).await,
        ("POST", ["config", ns, name, "diff"]) => config_api::diff(state, ns, name, body).await,
        ("POST", ["config", ns, name, "rollback"]) => config_api::rollback(state, ns, name, body).await,
        _ => Err(no_route(method.as_str(), segments)),
    }
}

fn no_route(method: &str, segments: &[&str]) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no such API: {method} /api/{}", segments.join("/")))
}
