//! The AWS face: IAM and STS over the Query protocol. Form parameters become a typed `Action`,
//! the core runs it, and the result or error is written as AWS writes it; `respond` is the one
//! place where this face turns an error into a response.

mod access_keys;
mod actions;
pub mod error;
mod mfa;
pub mod params;
mod sts;
mod users;
pub mod validate;
pub mod xml;

pub(crate) use actions::QueryAction;
pub use actions::{Action, SUPPORTED};
pub use error::{ApiError, ApiResult, ErrorCode, Fault};
pub use params::Params;

use crate::auth::Policy;
use crate::core::Ctx;
use crate::core::sessions::{Api, check_session_may_call};
use crate::model::Flavor;
use crate::service::{Answer, AppState, read_body};
use crate::sigv4::{self, RequestParts};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode, request};
use http_body_util::Full;
use time::OffsetDateTime;
use validate::ValidationStyle;

pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
pub const STS_EXTENDED_REQUEST_ID_HEADER: &str = "x-amz-sts-extended-request-id";
/// The region named in STS's extended request id when no verified scope gave one.
const DEFAULT_REGION: &str = "us-east-1";
const XML_CONTENT_TYPE: &str = "text/xml";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The two AWS services served on one endpoint; the SigV4 scope says which one a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsService {
    Iam,
    Sts,
}

impl AwsService {
    /// The service a credential scope names; OUTSCALE's EIM (`eim`) is its IAM.
    pub fn from_scope(name: &str) -> Option<AwsService> {
        match name {
            "iam" | "eim" => Some(AwsService::Iam),
            "sts" => Some(AwsService::Sts),
            _ => None,
        }
    }

    pub fn signing_name(self) -> &'static str {
        match self {
            AwsService::Iam => "iam",
            AwsService::Sts => "sts",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            AwsService::Iam => "2010-05-08",
            AwsService::Sts => "2011-06-15",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            AwsService::Iam => xml::IAM_NAMESPACE,
            AwsService::Sts => xml::STS_NAMESPACE,
        }
    }

    pub fn validation_style(self) -> ValidationStyle {
        match self {
            AwsService::Iam => ValidationStyle::Iam,
            AwsService::Sts => ValidationStyle::Sts,
        }
    }
}

/// AWS4 signatures scoped to IAM or STS; any other scope is told to use IAM's.
pub const POLICY: Policy = Policy {
    schemes: sigv4::AWS_ONLY,
    services: &["iam", "sts"],
    host_without_port: false,
};

/// OUTSCALE's EIM answers the same IAM API, scoped `eim` (as osc-cli's `eim` service signs).
pub const OUTSCALE_POLICY: Policy = Policy {
    schemes: sigv4::AWS_ONLY,
    services: &["iam", "sts", "eim"],
    host_without_port: false,
};

/// What the IAM face accepts in `flavor`.
pub fn policy(flavor: Flavor) -> &'static Policy {
    match flavor {
        Flavor::Aws => &POLICY,
        Flavor::Outscale => &OUTSCALE_POLICY,
    }
}

/// What is known of the request as it goes, for the error namespace and the log line.
struct Progress {
    service: AwsService,
    action: &'static str,
    access_key_id: Option<String>,
    /// The verified scope's region, once known.
    region: Option<String>,
}

/// Which namespace an error should carry, judged from the claimed (not yet verified) scope.
fn claimed_service(parts: &request::Parts) -> AwsService {
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let query = parts.uri.query().unwrap_or_default().as_bytes();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    if contains(auth, b"/sts/aws4_request") || contains(query, b"%2Fsts%2Faws4_request") {
        AwsService::Sts
    } else {
        AwsService::Iam
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

async fn process<B>(
    state: &AppState,
    parts: &request::Parts,
    body: B,
    progress: &mut Progress,
) -> ApiResult<Option<String>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let body = read_body(state, parts, body, state.config.limits.max_body_bytes).await?;
    let payload_sha256 = sigv4::payload_hash(&body);
    let request_parts = RequestParts::of(parts, &payload_sha256);
    let now = state.clock.now_millis();
    let verified = state
        .auth
        .authenticate(
            &state.store,
            &request_parts,
            OffsetDateTime::now_utc(),
            now,
            policy(state.config.flavor),
        )
        .await?;
    let service = AwsService::from_scope(&verified.scope.service).unwrap_or(AwsService::Iam);
    progress.service = service;
    progress.access_key_id = verified.caller.access_key_id.clone();
    progress.region = Some(verified.scope.region.clone());
    verified.record_use(&state.store, now);

    let form: &[u8] = if is_form(parts) { &body } else { b"" };
    let params = Params::parse(request_parts.query.as_bytes(), form)?;
    let action = Action::parse(service, &params, state.config.flavor)?;
    progress.action = action.name();
    let api = match service {
        AwsService::Iam => Api::Iam,
        AwsService::Sts => Api::Sts {
            get_caller_identity: progress.action == "GetCallerIdentity",
        },
    };
    check_session_may_call(&verified.caller, api, progress.action)?;
    let ctx = Ctx {
        store: &state.store,
        ids: &state.ids,
        caller: &verified.caller,
        now,
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
    crate::service::retry_after(&mut response);
    response
}

/// Writes the result, or the error as AWS's `ErrorResponse`, with AWS's headers.
fn respond(
    state: &AppState,
    result: ApiResult<Option<String>>,
    progress: &Progress,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let namespace = progress.service.namespace();
    let mut response = match result {
        Ok(result) => {
            let body = xml::success(namespace, progress.action, result.as_deref(), request_id);
            xml_response(StatusCode::OK, body, request_id)
        }
        Err(err) => {
            let body = xml::error(namespace, &err, request_id);
            // Only the code: messages may echo the client's Authorization header.
            tracing::debug!(request_id = %request_id, code = %err.code, "request failed");
            xml_response(err.code.status(), body, request_id)
        }
    };
    if progress.service == AwsService::Sts {
        // STS sends a second, opaque request id on every answer; some clients log it.
        let region = progress.region.as_deref().unwrap_or(DEFAULT_REGION);
        let epoch_ms = crate::clock::unix_millis(OffsetDateTime::now_utc());
        let extended = state.ids.sts_extended_request_id(region, epoch_ms);
        if let Ok(v) = HeaderValue::from_str(&extended) {
            response
                .headers_mut()
                .insert(STS_EXTENDED_REQUEST_ID_HEADER, v);
        }
    }
    response
}

/// Answers one Query API request. Never fails: every problem becomes an AWS-shaped error response.
pub async fn handle<B>(state: &AppState, parts: request::Parts, body: B, request_id: &str) -> Answer
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut progress = Progress {
        service: claimed_service(&parts),
        action: "-",
        access_key_id: None,
        region: None,
    };
    let result = process(state, &parts, body, &mut progress).await;
    Answer {
        response: respond(state, result, &progress, request_id),
        action: progress.action,
        access_key_id: progress.access_key_id,
    }
}
