//! The OUTSCALE face's errors: `{"Errors":[{"Code","Type","Details"}]}` with OUTSCALE's codes, and
//! the one place where a core `Error` becomes what the OUTSCALE API answers.
//!
//! Codes come from OUTSCALE's published error list (osc-sdk-python's `gateway_errors.yaml` and the
//! API's errors page): 1 authentication, 4000 unknown access key, 4045/4047/4108 parameters,
//! 5075 unknown user, 6003 wrong state, 7000 missing parameter, 9000/9022 conflicts, 10005 quota.

use crate::error::{AuthError, Error, Refusal};
use http::StatusCode;
use serde::Serialize;

/// One OUTSCALE error, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscError {
    pub status: StatusCode,
    pub code: &'static str,
    pub kind: &'static str,
    pub details: String,
}

impl OscError {
    fn new(status: StatusCode, code: &'static str, kind: &'static str, details: String) -> Self {
        OscError {
            status,
            code,
            kind,
            details,
        }
    }

    /// Authentication failed (code 1, 401).
    pub fn access_denied(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "1",
            "AccessDenied",
            details.into(),
        )
    }

    /// Login and password were sent to a call that takes only a signature (code 9, 401).
    pub fn password_not_allowed(action: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "9",
            "AuthFailure",
            format!("Authentication using login/password is not allowed for {action}."),
        )
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "7000",
            "MissingParameter",
            format!("The parameter {name} is required."),
        )
    }

    pub fn unknown_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "4045",
            "InvalidParameter",
            format!("The parameter {name} is not valid for this call."),
        )
    }

    pub fn wrong_type(name: &str, expected: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "4108",
            "InvalidParameterValue",
            format!("The parameter {name} must be {expected}."),
        )
    }

    pub fn invalid_value(name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "4047",
            "InvalidParameterValue",
            format!("Invalid value for parameter {name}: {why}"),
        )
    }

    pub fn malformed_body(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "4047",
            "InvalidParameterValue",
            format!("The request body is not a JSON object: {why}"),
        )
    }

    pub fn unknown_action(action: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "4045",
            "InvalidParameter",
            format!("The action {action} is not supported."),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "2",
            "AccessDenied",
            "The OUTSCALE API is called with POST.".to_string(),
        )
    }

    fn auth(e: AuthError) -> Self {
        let details = match e {
            AuthError::Missing => "The request is not authenticated.".to_string(),
            AuthError::Refused(Refusal::ExpiredKey) => "The access key has expired.".to_string(),
            AuthError::ExpiredToken => "The session credentials have expired.".to_string(),
            AuthError::Refused(Refusal::WrongPassword) => {
                "The login or the password is wrong.".to_string()
            }
            AuthError::Refused(_) => "The access key is unknown or inactive.".to_string(),
            AuthError::SignatureMismatch => {
                "The request signature does not match the one computed.".to_string()
            }
            other => other.to_string(),
        };
        Self::access_denied(details)
    }
}

impl From<Error> for OscError {
    fn from(e: Error) -> Self {
        let bad = StatusCode::BAD_REQUEST;
        let conflict = StatusCode::CONFLICT;
        match e {
            Error::Auth(a) => OscError::auth(a),
            Error::NoSuchUser { name } => Self::new(
                bad,
                "5075",
                "InvalidResource",
                format!("The user {name} does not exist."),
            ),
            Error::NoSuchAccessKey { access_key_id } => Self::new(
                bad,
                "4000",
                "InvalidParameterValue",
                format!("The access key {access_key_id} does not exist."),
            ),
            Error::UserAlreadyExists { name } => Self::new(
                conflict,
                "9022",
                "ResourceConflict",
                format!("A user named {name} already exists."),
            ),
            Error::AccessKeyQuota { limit } => Self::new(
                bad,
                "10005",
                "TooManyResources (QuotaExceded)",
                format!("You cannot have more than {limit} access keys."),
            ),
            Error::TagQuota { limit } => Self::new(
                bad,
                "10041",
                "TooManyResources (QuotaExceded)",
                format!("You cannot have more than {limit} tags."),
            ),
            Error::UserHasAccessKeys { name } => Self::new(
                conflict,
                "9000",
                "ResourceConflict",
                format!("The user {name} still has access keys; delete them first."),
            ),
            Error::DuplicateTagKeys => Self::invalid_value("Tags", "a tag key is repeated."),
            Error::KeyNotInactive { access_key_id } => Self::new(
                bad,
                "6003",
                "InvalidState",
                format!(
                    "The access key {access_key_id} of an EIM user must be INACTIVE to be deleted."
                ),
            ),
            Error::ExpirationInPast { .. } => {
                Self::invalid_value("ExpirationDate", "the date must be in the future.")
            }
            // The IAM face's MFA and session rules; OUTSCALE's calls meet only the last one.
            Error::SessionCannotCall { action } => Self::new(
                StatusCode::UNAUTHORIZED,
                "4",
                "AccessDenied",
                format!("Session credentials cannot call {action}."),
            ),
            Error::NoSuchMfaDevice { serial_number } => Self::new(
                bad,
                "4047",
                "InvalidParameterValue",
                format!("The MFA device {serial_number} does not exist."),
            ),
            e @ (Error::MfaDeviceExists
            | Error::MfaDeviceInUse
            | Error::MfaDeviceAssigned
            | Error::UserHasMfaDevice) => {
                Self::new(conflict, "9000", "ResourceConflict", e.to_string())
            }
            e @ (Error::InvalidAuthenticationCode
            | Error::MfaNotAssociated
            | Error::MfaCodeRejected) => Self::access_denied(e.to_string()),
            Error::NotKeyOwner { access_key_id, .. } => Self::new(
                bad,
                "4000",
                "InvalidParameterValue",
                format!("The access key {access_key_id} does not exist."),
            ),
            Error::InvalidMarker => Self::invalid_value("FirstItem", "out of range."),
            Error::BodyTooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "4106",
                "InvalidParameterValue",
                format!("The request body must not exceed {limit} bytes."),
            ),
            Error::BodyTimeout => Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "0",
                "DefaultError",
                "The request body did not arrive in time.".to_string(),
            ),
            Error::BodyUnreadable => Self::malformed_body("it could not be read"),
            Error::InvalidState { reason } => {
                Self::new(bad, "4047", "InvalidParameterValue", reason)
            }
            Error::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "0",
                "DefaultError",
                "The server is shutting down.".to_string(),
            ),
            Error::Storage => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "0",
                "DefaultError",
                "The request failed; see the server's log.".to_string(),
            ),
            Error::StorageFault(fault) if fault.is_transient() => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "0",
                "DefaultError",
                format!("Storage is unavailable ({}); retry later.", fault.label()),
            ),
            Error::StorageFault(fault) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "0",
                "DefaultError",
                format!("Storage failed ({}); see the server's log.", fault.label()),
            ),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorJson<'a> {
    code: &'a str,
    details: &'a str,
    #[serde(rename = "Type")]
    kind: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse<'a> {
    errors: [ErrorJson<'a>; 1],
    response_context: super::ResponseContext<'a>,
}

impl OscError {
    /// `{"Errors":[{"Code","Details","Type"}],"ResponseContext":{"RequestId"}}`.
    pub fn to_json(&self, request_id: &str) -> Vec<u8> {
        let body = ErrorResponse {
            errors: [ErrorJson {
                code: self.code,
                details: &self.details,
                kind: self.kind,
            }],
            response_context: super::ResponseContext { request_id },
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}
