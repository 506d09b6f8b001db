//! One request, start to finish: body limits, request id, authentication, parsing, dispatch and rendering.
//! This is the only place an `ApiError` becomes an HTTP response.

use crate::actions::{Action, Ctx, Service};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids::IdGen;
use crate::model::LastUsed;
use crate::query::Params;
use crate::seed::Seed;
use crate::sigv4::{self, RequestParts};
use crate::store::Store;
use crate::xml;
use bytes::Bytes;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode, request};
use http_body_util::{BodyExt, Full, Limited};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
pub const STS_EXTENDED_REQUEST_ID_HEADER: &str = "x-amz-sts-extended-request-id";
/// The region named in STS's extended request id when no verified scope gave one.
const DEFAULT_REGION: &str = "us-east-1";
const XML_CONTENT_TYPE: &str = "text/xml";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Everything requests share.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub ids: Arc<IdGen>,
    pub auth: Authenticator,
    /// What a reset returns to: the configured default account plus the seed file.
    pub boot_seed: Arc<Seed>,
    pub started: Instant,
    /// Whether `/_iamlite/` is served: on loopback, or anywhere once an admin token is set.
    pub admin_allowed: bool,
}

/// Returns the store to the boot seed in one transaction.
pub async fn reset(state: &AppState) -> ApiResult<()> {
    state
        .store
        .reset(
            state.boot_seed.clone(),
            state.ids.clone(),
            crate::now_millis(),
        )
        .await
}

/// What the per-request log line reports.
struct Outcome {
    service: Service,
    action: &'static str,
    access_key_id: Option<String>,
    /// The verified scope's region, once known.
    region: Option<String>,
}

/// Which namespace an error should carry, judged from the claimed (not yet verified) scope.
fn claimed_service(parts: &request::Parts) -> Service {
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let query = parts.uri.query().unwrap_or_default().as_bytes();
    let is_sts = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    if is_sts(auth, b"/sts/aws4_request") || is_sts(query, b"%2Fsts%2Faws4_request") {
        Service::Sts
    } else {
        Service::Iam
    }
}

fn is_form(parts: &request::Parts) -> bool {
    match parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // SDKs always send a content type; a bare body is still read as a form.
        None => true,
        Some(ct) => ct
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE)),
    }
}

/// Reads a body of at most `limit` bytes within the body timeout.
pub(crate) async fn read_body<B>(
    state: &AppState,
    parts: &request::Parts,
    body: B,
    limit: usize,
) -> ApiResult<Bytes>
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
        return Err(ApiError::request_entity_too_large(limit));
    }
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(state.config.limits.body_read_timeout, collect).await {
        Err(_) => Err(ApiError::request_timeout()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::request_entity_too_large(limit))
        }
        // Broken framing (a bad chunk size, a body cut short): a malformed request, not a query string.
        Ok(Err(_)) => Err(ApiError::new(
            ErrorCode::MalformedInput,
            "The request body could not be read.",
        )),
    }
}

async fn process<B>(
    state: &AppState,
    parts: &request::Parts,
    body: B,
    outcome: &mut Outcome,
) -> ApiResult<Option<String>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let body = read_body(state, parts, body, state.config.limits.max_body_bytes).await?;
    let payload_sha256 = sigv4::payload_hash(&body);
    let request_parts = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        payload_sha256: &payload_sha256,
    };
    let now = OffsetDateTime::now_utc();
    let now_ms = crate::unix_millis(now);
    let verified = state.auth.authenticate(&state.store, &request_parts, now)?;
    outcome.service = verified.service;
    outcome.access_key_id = Some(verified.caller.access_key_id.clone());
    outcome.region = Some(verified.scope.region.clone());
    state.store.touch_last_used(
        &verified.caller.access_key_id,
        LastUsed {
            date: now_ms,
            service: verified.scope.service.clone(),
            region: verified.scope.region.clone(),
        },
    );

    let form: &[u8] = if is_form(parts) { &body } else { b"" };
    let params = Params::parse(request_parts.query.as_bytes(), form)?;
    let action = Action::parse(verified.service, &params)?;
    outcome.action = action.name();
    let ctx = Ctx {
        store: &state.store,
        ids: &state.ids,
        caller: &verified.caller,
        now: now_ms,
    };
    action.execute(&ctx).await
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(XML_CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// Answers one HTTP request. Never fails: every problem becomes an AWS-shaped error response.
pub async fn handle<B>(
    state: Arc<AppState>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    if req.uri().path().starts_with(crate::admin::PREFIX) {
        return Ok(crate::admin::handle(&state, req).await);
    }
    let request_id = state.ids.request_id();
    let (parts, body) = req.into_parts();
    let mut outcome = Outcome {
        service: claimed_service(&parts),
        action: "-",
        access_key_id: None,
        region: None,
    };
    let result = process(&state, &parts, body, &mut outcome).await;
    let response = match result {
        Ok(result) => {
            let body = xml::success(
                outcome.service.namespace(),
                outcome.action,
                result.as_deref(),
                &request_id,
            );
            xml_response(StatusCode::OK, body, &request_id)
        }
        Err(err) => {
            let body = xml::error(outcome.service.namespace(), &err, &request_id);
            // Only the code: messages may echo the client's Authorization header.
            tracing::debug!(request_id = %request_id, code = %err.code, "request failed");
            xml_response(err.code.status(), body, &request_id)
        }
    };
    let mut response = response;
    if outcome.service == Service::Sts {
        // STS sends a second, opaque request id on every answer; some clients log it.
        let region = outcome.region.as_deref().unwrap_or(DEFAULT_REGION);
        let extended = state
            .ids
            .sts_extended_request_id(region, crate::now_millis());
        if let Ok(v) = HeaderValue::from_str(&extended) {
            response
                .headers_mut()
                .insert(STS_EXTENDED_REQUEST_ID_HEADER, v);
        }
    }
    tracing::info!(
        request_id = %request_id,
        action = outcome.action,
        access_key_id = outcome.access_key_id.as_deref().unwrap_or("-"),
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(response)
}
