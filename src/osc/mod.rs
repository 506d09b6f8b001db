//! The OUTSCALE face: the OUTSCALE API's access-key and user calls (`POST /api/v1/<Action>`,
//! `/api/latest/<Action>` or `/<Action>`, JSON in and out), over the same core and store as the
//! AWS face; `respond` is the one place where this face turns an error into a response.

mod actions;
mod auth;
pub mod dates;
pub mod error;
mod input;

pub use actions::{ACTIONS, PASSWORD_ACTIONS};
pub use auth::POLICY;

use crate::core::Ctx;
use crate::service::{Answer, AppState, read_body};
use bytes::Bytes;
use error::OscError;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Response, StatusCode, request};
use http_body_util::Full;
use serde::Serialize;

/// The answer's request id, also in `ResponseContext.RequestId`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const JSON_CONTENT_TYPE: &str = "application/json";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResponseContext<'a> {
    pub request_id: &'a str,
}

/// The call a path names, if it is an OUTSCALE API path: `/api/v1/<Action>` or
/// `/api/latest/<Action>` (any action, so an unknown one gets this face's error), or `/<Action>`
/// for the calls served here. Repeated slashes are collapsed (osc-cli sends `//api/latest/...`).
pub fn action_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some("api"), Some("v1" | "latest"), Some(action), None) => Some(action),
        (Some(action), None, None, None) if ACTIONS.contains(&action) => Some(action),
        _ => None,
    }
}

async fn process<B>(
    state: &AppState,
    parts: &request::Parts,
    body: B,
    action: &str,
    caller_key: &mut Option<String>,
) -> Result<serde_json::Value, OscError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if parts.method != Method::POST {
        return Err(OscError::method_not_allowed());
    }
    let body = read_body(state, parts, body, state.config.limits.max_body_bytes).await?;
    if !ACTIONS.contains(&action) {
        return Err(OscError::unknown_action(action));
    }
    let payload_sha256 = crate::sigv4::payload_hash(&body);
    let now = state.clock.now_millis();
    let verified = auth::authenticate(state, parts, &payload_sha256, action, now).await?;
    let caller = verified.caller();
    caller_key.clone_from(&caller.access_key_id);
    // Managing keys is IAM's business: session credentials need MFA here too.
    let action: &'static str = ACTIONS
        .iter()
        .copied()
        .find(|a| *a == action)
        .unwrap_or("-");
    crate::core::sessions::check_session_may_call(caller, crate::core::sessions::Api::Iam, action)?;
    let ctx = Ctx {
        store: &state.store,
        ids: &state.ids,
        caller,
        now,
    };
    actions::run(action, &body, &ctx).await
}

fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    crate::service::retry_after(&mut response);
    response
}

/// Writes the payload with its `ResponseContext`, or the error as `{"Errors":[...]}`.
fn respond(result: Result<serde_json::Value, OscError>, request_id: &str) -> Response<Full<Bytes>> {
    match result {
        Ok(mut payload) => {
            if let serde_json::Value::Object(map) = &mut payload {
                map.insert(
                    "ResponseContext".to_string(),
                    serde_json::json!({ "RequestId": request_id }),
                );
            }
            let body = serde_json::to_vec(&payload).unwrap_or_default();
            json_response(StatusCode::OK, body, request_id)
        }
        Err(e) => {
            tracing::debug!(request_id = %request_id, code = e.code, "request failed");
            json_response(e.status, e.to_json(request_id), request_id)
        }
    }
}

/// Answers one OUTSCALE API request. Never fails: every problem becomes an OUTSCALE error.
pub async fn handle<B>(state: &AppState, parts: request::Parts, body: B, request_id: &str) -> Answer
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = parts.uri.path().to_string();
    let action = action_of(&path).unwrap_or("-");
    let mut caller_key = None;
    let result = process(state, &parts, body, action, &mut caller_key).await;
    Answer {
        response: respond(result, request_id),
        action: ACTIONS
            .iter()
            .copied()
            .find(|a| *a == action)
            .unwrap_or("-"),
        access_key_id: caller_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_path_shapes_name_the_call() {
        assert_eq!(action_of("/api/v1/ReadAccessKeys"), Some("ReadAccessKeys"));
        assert_eq!(
            action_of("//api/latest/CreateAccessKey"),
            Some("CreateAccessKey")
        );
        assert_eq!(action_of("/api/v1//DeleteUser/"), Some("DeleteUser"));
        assert_eq!(action_of("/ReadUsers"), Some("ReadUsers"));
        assert_eq!(action_of("/api/v1/ReadVms"), Some("ReadVms"));
        assert_eq!(action_of("/ReadVms"), None);
        assert_eq!(action_of("/"), None);
        assert_eq!(action_of("/api/v2/ReadUsers"), None);
    }
}
