//! The admin face, `/_iamlite/`, for test suites: health, reset, the whole state as JSON, and the
//! test clock.
//!
//! These are not AWS APIs and are not SigV4-signed: they answer this machine's processes (loopback
//! peers), or anyone with the admin token. A browser is treated as a possible attacker: a request must name a loopback
//! (or configured) host, which defeats DNS rebinding, and one sent by another site's page (its
//! `Origin` is not this server, or `Sec-Fetch-Site` says another site) is refused. Tools such as
//! curl send neither header and are served.

use crate::browser::{host_allowed, sent_by_another_site};
use crate::error::Error;
use crate::service::{AppState, Peer, read_body, reset};
use crate::state::State;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, request};
use http_body_util::Full;
use serde::Serialize;
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "/_iamlite/";
/// Header that carries the admin token (`Authorization: Bearer <token>` works too).
pub const TOKEN_HEADER: &str = "x-iamlite-admin-token";
/// State imports may be much larger than an API request.
const MAX_STATE_BYTES: usize = 256 * 1024 * 1024;
/// A clock change is a few bytes of JSON.
const MAX_CLOCK_BYTES: usize = 1024;

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

fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &Message { error: message })
}

/// The one place this face turns a core error into a response.
fn error_response(e: &Error) -> Response<Full<Bytes>> {
    let status = match e {
        Error::InvalidState { .. } | Error::BodyUnreadable | Error::InvalidMarker => {
            StatusCode::BAD_REQUEST
        }
        Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        Error::StorageFault(f) if f.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = refuse(status, &e.to_string());
    crate::service::retry_after(&mut response);
    response
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
    accounts: i64,
    users: i64,
    access_keys: i64,
    sessions: i64,
    mfa_devices: i64,
    /// `ok`, or `read-only: <fault>` while a storage fault makes writes fail.
    storage: String,
}

/// The test clock as `GET /_iamlite/clock` shows it.
#[derive(Serialize)]
struct ClockView {
    now: String,
    offset_seconds: f64,
}

fn clock_view(state: &AppState) -> Response<Full<Bytes>> {
    json(
        StatusCode::OK,
        &ClockView {
            now: crate::state::millis_to_rfc3339(state.clock.now_millis()),
            offset_seconds: state.clock.offset_millis() as f64 / 1000.0,
        },
    )
}

/// `{"advance": "13h"}` or `{"reset": true}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    advance: Option<String>,
    reset: Option<bool>,
}

fn change_clock(state: &AppState, body: &[u8]) -> Response<Full<Bytes>> {
    let change: ClockChange = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"advance\": \"13h\"}} or {{\"reset\": true}}: {e}"),
            );
        }
    };
    match (change.advance, change.reset) {
        (Some(by), None) => match humantime::parse_duration(&by) {
            Ok(d) => state.clock.advance(d),
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("advance '{by}' is not a duration such as 90s or 13h: {e}"),
                );
            }
        },
        (None, Some(true)) => state.clock.reset(),
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "give either \"advance\" (a duration) or \"reset\": true",
            );
        }
    }
    tracing::info!(offset_ms = state.clock.offset_millis(), "clock changed");
    clock_view(state)
}

fn token_ok(state: &AppState, headers: &HeaderMap) -> bool {
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
    let (parts, body) = req.into_parts();
    // Without a token only this machine's processes are served: in a container listening on
    // 0.0.0.0, the health check inside, not the host through the port mapping.
    let from_loopback = parts
        .extensions
        .get::<Peer>()
        .is_some_and(|p| p.0.ip().to_canonical().is_loopback());
    let response = if state.config.admin_token.is_none() && !from_loopback {
        refuse(
            StatusCode::NOT_FOUND,
            "admin endpoints answer requests from this machine only, unless --admin-token is set",
        )
    } else if sent_by_another_site(&parts) {
        refuse(
            StatusCode::FORBIDDEN,
            "admin endpoints refuse requests sent by another site's page",
        )
    } else if state.config.admin_token.is_none() && !host_allowed(&state.config, &parts) {
        refuse(
            StatusCode::FORBIDDEN,
            "admin endpoints answer only to a loopback host name (see --allowed-host)",
        )
    } else if !token_ok(state, &parts.headers) {
        refuse(StatusCode::FORBIDDEN, "missing or wrong admin token")
    } else {
        route(state, &parts, body).await
    };
    tracing::info!(path = parts.uri.path(), method = %parts.method, status = response.status().as_u16(), "admin");
    response
}

async fn health(state: &AppState) -> Result<Response<Full<Bytes>>, Error> {
    let (accounts, users, keys) = state.store.counts().await?;
    let (sessions, mfa_devices) = state.store.session_and_device_counts().await?;
    Ok(json(
        StatusCode::OK,
        &Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: state.started.elapsed().as_secs_f64(),
            accounts,
            users,
            access_keys: keys,
            sessions,
            mfa_devices,
            storage: state
                .store
                .fault()
                .map_or_else(|| "ok".to_string(), |f| format!("read-only: {}", f.label())),
        },
    ))
}

async fn route<B>(state: &AppState, parts: &request::Parts, body: B) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = parts.uri.path().trim_start_matches(PREFIX);
    let result = match (&parts.method, path) {
        (&Method::GET, "health") => health(state).await,
        (&Method::GET, "clock") => Ok(clock_view(state)),
        (&Method::POST, "clock") => match read_body(state, parts, body, MAX_CLOCK_BYTES).await {
            Ok(b) => Ok(change_clock(state, &b)),
            Err(e) => Err(e),
        },
        (&Method::POST, "reset") => reset(state)
            .await
            .map(|()| json(StatusCode::OK, &serde_json::json!({ "status": "reset" }))),
        (&Method::GET, "state") => state.store.export().await.map(|s| json(StatusCode::OK, &s)),
        (&Method::POST, "state") => {
            let bytes = match read_body(state, parts, body, MAX_STATE_BYTES).await {
                Ok(b) => b,
                Err(e) => return error_response(&e),
            };
            match serde_json::from_slice::<State>(&bytes) {
                Err(e) => Ok(refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("not a state document: {e}"),
                )),
                Ok(s) => {
                    state.console.end_all();
                    state.store.import(s).await.map(|()| {
                        json(StatusCode::OK, &serde_json::json!({ "status": "imported" }))
                    })
                }
            }
        }
        (_, "health" | "reset" | "state" | "clock") => Ok(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed here",
        )),
        _ => Ok(refuse(StatusCode::NOT_FOUND, "no such admin endpoint")),
    };
    result.unwrap_or_else(|e| error_response(&e))
}
