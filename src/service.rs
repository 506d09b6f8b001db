//! One request, start to finish: the router that picks a face by path, the body limits every face
//! reads under, and the one log line per request.
//!
//! Faces: `/_iamlite/` is the admin face (`admin`); `/console` the web console (`console`, unless
//! turned off); `/api/v1/<Action>`, `/api/latest/<Action>` and
//! `/<Action>` for an OUTSCALE call are the OUTSCALE API (`osc`); everything else is the AWS Query
//! API (`query`). Each face turns its own errors into responses.

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::seed::Seed;
use crate::store::Store;
use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Request, Response, request};
use http_body_util::{BodyExt, Full, Limited};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// Everything requests share.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub ids: Arc<IdGen>,
    pub auth: Authenticator,
    /// Root logins and passwords for OUTSCALE's Basic authentication.
    pub logins: crate::auth::Logins,
    /// The time lifetimes are judged by (tests move it).
    pub clock: Arc<Clock>,
    /// What a reset returns to: the configured default account plus the seed file.
    pub boot_seed: Arc<Seed>,
    /// The web console's sign-in sessions.
    pub console: crate::console::Sessions,
    pub started: Instant,
}

/// Seconds a client is told to wait before retrying a 503 (a storage fault, or shutting down).
const RETRY_AFTER_SECONDS: &str = "1";

/// Adds `Retry-After` to a 503, so that clients other than the SDKs (which back off on their
/// own) know when to try again.
pub fn retry_after<B>(response: &mut Response<B>) {
    if response.status() == http::StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
}

/// The address a request came from, as the connection saw it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

/// Returns the store to the boot seed in one transaction, and the clock to real time.
pub async fn reset(state: &AppState) -> Result<()> {
    state.clock.reset();
    // Key ids may name other principals (or other secrets) afterwards.
    state.console.end_all();
    state
        .store
        .reset(
            state.boot_seed.clone(),
            state.ids.clone(),
            state.clock.now_millis(),
        )
        .await
}

/// Which face answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Admin,
    Console,
    Osc,
    Query,
}

/// Chooses the face by path alone: nothing is read before the face knows how to answer. The AWS
/// APIs name their action in the parameters, so any other path stays theirs.
pub fn route(path: &str, console: bool) -> Face {
    if path.starts_with(crate::admin::PREFIX) {
        Face::Admin
    } else if console && crate::console::is_console_path(path) {
        Face::Console
    } else if crate::osc::action_of(path).is_some() {
        Face::Osc
    } else {
        Face::Query
    }
}

/// A face's answer and what the request line of the log reports about it.
pub struct Answer {
    pub response: Response<Full<Bytes>>,
    pub action: &'static str,
    pub access_key_id: Option<String>,
}

/// Reads a body of at most `limit` bytes within the body timeout.
pub(crate) async fn read_body<B>(
    state: &AppState,
    parts: &request::Parts,
    body: B,
    limit: usize,
) -> Result<Bytes>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::BodyTooLarge { limit });
    }
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(state.config.limits.body_read_timeout, collect).await {
        Err(_) => Err(Error::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Error::BodyTooLarge { limit })
        }
        // Broken framing (a bad chunk size, a body cut short): a malformed request, not a query string.
        Ok(Err(_)) => Err(Error::BodyUnreadable),
    }
}

/// Answers one HTTP request. Never fails: every problem becomes an error response of the face.
pub async fn handle<B>(
    state: Arc<AppState>,
    req: Request<B>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let face = route(req.uri().path(), state.config.console);
    if face == Face::Admin {
        return Ok(crate::admin::handle(&state, req).await);
    }
    // The console shows no request id; drawing it from the id source would shift every later id
    // of an `--id-seed` run whenever a page is viewed.
    let request_id = if face == Face::Console {
        uuid::Uuid::new_v4().hyphenated().to_string()
    } else {
        state.ids.request_id()
    };
    let (parts, body) = req.into_parts();
    let answer = match face {
        Face::Osc => crate::osc::handle(&state, parts, body, &request_id).await,
        Face::Console => crate::console::handle(&state, parts, body).await,
        _ => crate::query::handle(&state, parts, body, &request_id).await,
    };
    tracing::info!(
        request_id = %request_id,
        action = answer.action,
        access_key_id = answer.access_key_id.as_deref().unwrap_or("-"),
        status = answer.response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(answer.response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_prefix_picks_the_admin_face_and_everything_else_the_query_api() {
        let route = |p| route(p, true);
        assert_eq!(route("/_iamlite/health"), Face::Admin);
        assert_eq!(route("/console"), Face::Console);
        assert_eq!(route("/console/users/alice"), Face::Console);
        assert_eq!(super::route("/console", false), Face::Query);
        assert_eq!(route("/api/v1/ReadAccessKeys"), Face::Osc);
        assert_eq!(route("//api/latest/CreateAccessKey"), Face::Osc);
        assert_eq!(route("/CreateAccessKey"), Face::Osc);
        assert_eq!(route("/"), Face::Query);
        assert_eq!(route("/_iamlite"), Face::Query);
        assert_eq!(route("/anything"), Face::Query);
    }
}
