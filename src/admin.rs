//! The `/_iamlite/` admin endpoints for test suites: health, reset, and the whole state as JSON.
//! They are not AWS APIs and are not SigV4-signed: served on loopback, or with the admin token.

use crate::service::{AppState, read_body, reset};
use crate::state::State;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "/_iamlite/";
/// Header that carries the admin token (`Authorization: Bearer <token>` works too).
pub const TOKEN_HEADER: &str = "x-iamlite-admin-token";
/// State imports may be much larger than an API request.
const MAX_STATE_BYTES: usize = 256 * 1024 * 1024;

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[derive(Serialize)]
struct Message<'a> {
    error: &'a str,
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &Message { error: message })
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
    accounts: i64,
    users: i64,
    access_keys: i64,
}

fn token_ok(state: &AppState, headers: &http::HeaderMap) -> bool {
    let Some(expected) = &state.config.admin_token else {
        return true;
    };
    let given = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .unwrap_or_default();
    bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes()))
}

pub async fn handle<B>(state: &AppState, req: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if !state.admin_allowed {
        return error(
            StatusCode::NOT_FOUND,
            "admin endpoints are served on loopback only, unless --admin-token is set",
        );
    }
    if !token_ok(state, req.headers()) {
        return error(StatusCode::FORBIDDEN, "missing or wrong admin token");
    }
    let (parts, body) = req.into_parts();
    let route = parts.uri.path().trim_start_matches(PREFIX);
    let response = match (&parts.method, route) {
        (&Method::GET, "health") => match state.store.counts() {
            Ok((accounts, users, access_keys)) => json(
                StatusCode::OK,
                &Health {
                    status: "ok",
                    version: env!("CARGO_PKG_VERSION"),
                    uptime_seconds: state.started.elapsed().as_secs_f64(),
                    accounts,
                    users,
                    access_keys,
                },
            ),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.message),
        },
        (&Method::POST, "reset") => match reset(state).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "reset" })),
            Err(e) => error(e.code.status(), &e.message),
        },
        (&Method::GET, "state") => match state.store.export() {
            Ok(s) => json(StatusCode::OK, &s),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.message),
        },
        (&Method::POST, "state") => {
            let bytes = match read_body(state, &parts, body, MAX_STATE_BYTES).await {
                Ok(b) => b,
                Err(e) => return error(e.code.status(), &e.message),
            };
            match serde_json::from_slice::<State>(&bytes) {
                Err(e) => error(
                    StatusCode::BAD_REQUEST,
                    &format!("not a state document: {e}"),
                ),
                Ok(s) => match state.store.import(s).await {
                    Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "imported" })),
                    Err(e) => error(e.code.status(), &e.message),
                },
            }
        }
        (_, "health" | "reset" | "state") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        }
        _ => error(StatusCode::NOT_FOUND, "no such admin endpoint"),
    };
    tracing::info!(path = parts.uri.path(), method = %parts.method, status = response.status().as_u16(), "admin");
    response
}
