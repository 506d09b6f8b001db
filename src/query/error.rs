//! The AWS face's errors: an AWS error code, its HTTP status, and AWS's message text; the one place
//! where a core `Error` becomes what IAM or STS would answer.
//!
//! Every message AWS writes is produced by a constructor here, so each text exists exactly once.

use crate::error::{AuthError, Error};

use http::StatusCode;
use std::fmt;

/// Who is at fault, as AWS writes it in `<Type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }
}

/// AWS error codes, spelled exactly as they appear in `<Code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredToken,
    IncompleteSignature,
    InvalidAction,
    InvalidAuthenticationCode,
    InvalidClientTokenId,
    InvalidInput,
    LimitExceeded,
    MalformedInput,
    MalformedQueryString,
    MissingAction,
    MissingAuthenticationToken,
    NoSuchEntity,
    RequestEntityTooLarge,
    RequestTimeout,
    ServiceFailure,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    ValidationError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::DeleteConflict => "DeleteConflict",
            ErrorCode::EntityAlreadyExists => "EntityAlreadyExists",
            ErrorCode::ExpiredToken => "ExpiredToken",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::InvalidAuthenticationCode => "InvalidAuthenticationCode",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::LimitExceeded => "LimitExceeded",
            ErrorCode::MalformedInput => "MalformedInput",
            ErrorCode::MalformedQueryString => "MalformedQueryString",
            ErrorCode::MissingAction => "MissingAction",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorCode::NoSuchEntity => "NoSuchEntity",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLarge",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::ServiceFailure => "ServiceFailure",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::ValidationError => "ValidationError",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::AccessDenied
            | ErrorCode::ExpiredToken
            | ErrorCode::InvalidAuthenticationCode
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            ErrorCode::NoSuchEntity => StatusCode::NOT_FOUND,
            // AWS's common-errors table lists MalformedQueryString with 404.
            ErrorCode::MalformedQueryString => StatusCode::NOT_FOUND,
            ErrorCode::DeleteConflict
            | ErrorCode::EntityAlreadyExists
            | ErrorCode::LimitExceeded => StatusCode::CONFLICT,
            ErrorCode::RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::ServiceFailure => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::IncompleteSignature
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidInput
            | ErrorCode::MalformedInput
            | ErrorCode::MissingAction
            | ErrorCode::ValidationError => StatusCode::BAD_REQUEST,
        }
    }

    /// Errors raised before any operation was found, which AWS answers in its generic fault
    /// namespace rather than the service's.
    pub fn is_protocol_level(self) -> bool {
        matches!(self, ErrorCode::InvalidAction | ErrorCode::MissingAction)
    }

    pub fn fault(self) -> Fault {
        if self.status().is_server_error() {
            Fault::Receiver
        } else {
            Fault::Sender
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client will see it. Messages never contain secrets; like AWS, IncompleteSignature
/// echoes the client's own Authorization header back to it (which is why messages are not logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    // --- authentication -------------------------------------------------------------------

    pub fn missing_authentication_token() -> Self {
        Self::new(
            ErrorCode::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        )
    }

    pub fn incomplete_signature(sentence: &str, authorization: &str) -> Self {
        Self::new(
            ErrorCode::IncompleteSignature,
            format!("{sentence} Authorization={authorization}"),
        )
    }

    pub fn invalid_client_token_id() -> Self {
        Self::new(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid.",
        )
    }

    pub fn signature_does_not_match() -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    }

    pub fn signature_expired(request: &str, earliest: &str, now: &str) -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            format!(
                "Signature expired: {request} is now earlier than {earliest} ({now} - 15 min.)"
            ),
        )
    }

    pub fn signature_not_yet_current(request: &str, latest: &str, now: &str) -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            format!(
                "Signature not yet current: {request} is still later than {latest} ({now} + 15 min.)"
            ),
        )
    }

    pub fn scope_date_mismatch(scope_date: &str, amz_date: &str) -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
                 '{scope_date}' != '{}', from '{amz_date}'.",
                amz_date.get(..8).unwrap_or(amz_date)
            ),
        )
    }

    pub fn wrong_service_scope(expected: &str) -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            format!("Credential should be scoped to correct service: '{expected}'. "),
        )
    }

    // --- protocol ---------------------------------------------------------------------------

    /// What IAM answers for a policy ARN it cannot parse.
    pub fn invalid_arn(arn: &str) -> Self {
        Self::new(ErrorCode::InvalidInput, format!("ARN {arn} is not valid."))
    }

    pub fn invalid_action(action: &str, version: &str) -> Self {
        Self::new(
            ErrorCode::InvalidAction,
            format!("Could not find operation {action} for version {version}"),
        )
    }

    pub fn missing_action() -> Self {
        Self::new(ErrorCode::MissingAction, "Missing Action")
    }

    pub fn malformed_query_string(detail: &str) -> Self {
        Self::new(
            ErrorCode::MalformedQueryString,
            format!("The query string contains a syntax error: {detail}"),
        )
    }

    pub fn request_entity_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::RequestEntityTooLarge,
            format!("Request body must not exceed {limit} bytes."),
        )
    }

    pub fn request_timeout() -> Self {
        Self::new(
            ErrorCode::RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period.",
        )
    }

    pub fn service_failure() -> Self {
        Self::new(
            ErrorCode::ServiceFailure,
            "Request processing has failed due to some unknown error, exception or failure.",
        )
    }

    // --- IAM entities -----------------------------------------------------------------------

    pub fn no_such_user(name: &str) -> Self {
        Self::new(
            ErrorCode::NoSuchEntity,
            format!("The user with name {name} cannot be found."),
        )
    }

    pub fn no_such_access_key(id: &str) -> Self {
        Self::new(
            ErrorCode::NoSuchEntity,
            format!("The Access Key with id {id} cannot be found."),
        )
    }

    pub fn user_already_exists(name: &str) -> Self {
        Self::new(
            ErrorCode::EntityAlreadyExists,
            format!("User with name {name} already exists."),
        )
    }

    pub fn access_key_quota(limit: usize) -> Self {
        Self::new(
            ErrorCode::LimitExceeded,
            format!("Cannot exceed quota for AccessKeysPerUser: {limit}"),
        )
    }

    pub fn tag_quota() -> Self {
        Self::new(
            ErrorCode::LimitExceeded,
            "The number of tags has reached the maximum limit.",
        )
    }

    pub fn delete_conflict_access_keys() -> Self {
        Self::new(
            ErrorCode::DeleteConflict,
            "Cannot delete entity, must delete access keys first.",
        )
    }

    pub fn duplicate_tag_keys() -> Self {
        Self::new(
            ErrorCode::InvalidInput,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        )
    }

    pub fn access_denied_last_used(caller_arn: &str, key_id: &str) -> Self {
        // AWS writes this one without a colon after "perform".
        Self::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {caller_arn} is not authorized to perform iam:GetAccessKeyLastUsed on resource: access key {key_id}"
            ),
        )
    }

    pub fn invalid_marker() -> Self {
        Self::new(ErrorCode::ValidationError, "Invalid Marker.")
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiError::missing_authentication_token(),
            AuthError::Incomplete {
                sentence,
                authorization: Some(header),
            } => ApiError::incomplete_signature(&sentence, &header),
            AuthError::Incomplete {
                sentence,
                authorization: None,
            } => ApiError::new(
                ErrorCode::IncompleteSignature,
                format!("{sentence} Re-examine the query-string parameters."),
            ),
            AuthError::Refused(_) => ApiError::invalid_client_token_id(),
            AuthError::SignatureMismatch => ApiError::signature_does_not_match(),
            AuthError::Expired {
                request,
                earliest,
                now,
            } => ApiError::signature_expired(&request, &earliest, &now),
            AuthError::NotYetCurrent {
                request,
                latest,
                now,
            } => ApiError::signature_not_yet_current(&request, &latest, &now),
            AuthError::ScopeDateMismatch {
                scope_date,
                amz_date,
            } => ApiError::scope_date_mismatch(&scope_date, &amz_date),
            AuthError::WrongService { expected } => ApiError::wrong_service_scope(expected),
            // No final period: IAM writes it so, and STS too on most endpoints.
            AuthError::ExpiredToken => ApiError::new(
                ErrorCode::ExpiredToken,
                "The security token included in the request is expired",
            ),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Auth(a) => a.into(),
            Error::NoSuchUser { name } => ApiError::no_such_user(&name),
            Error::NoSuchAccessKey { access_key_id } => {
                ApiError::no_such_access_key(&access_key_id)
            }
            Error::UserAlreadyExists { name } => ApiError::user_already_exists(&name),
            Error::AccessKeyQuota { limit } => ApiError::access_key_quota(limit),
            Error::TagQuota { .. } => ApiError::tag_quota(),
            Error::UserHasAccessKeys { .. } => ApiError::delete_conflict_access_keys(),
            Error::DuplicateTagKeys => ApiError::duplicate_tag_keys(),
            // Rules of OUTSCALE's face, which the IAM face never asks for; worded as IAM would.
            Error::KeyNotInactive { access_key_id } => ApiError::new(
                ErrorCode::DeleteConflict,
                format!("The Access Key with id {access_key_id} must be Inactive to be deleted."),
            ),
            Error::ExpirationInPast { .. } => {
                ApiError::new(ErrorCode::InvalidInput, "The expiration date has passed.")
            }
            Error::NoSuchMfaDevice { serial_number } => ApiError::new(
                ErrorCode::NoSuchEntity,
                format!("MFA Device with serial number {serial_number} does not exist."),
            ),
            Error::MfaDeviceExists => {
                ApiError::new(ErrorCode::EntityAlreadyExists, "MFA device already exists.")
            }
            Error::MfaDeviceInUse => ApiError::new(
                ErrorCode::EntityAlreadyExists,
                "MFA Device is already in use.",
            ),
            Error::MfaDeviceAssigned => ApiError::new(
                ErrorCode::DeleteConflict,
                "MFA Device is in use; deactivate it before deleting it.",
            ),
            Error::InvalidAuthenticationCode => ApiError::new(
                ErrorCode::InvalidAuthenticationCode,
                "Authentication code for device is not valid.",
            ),
            Error::UserHasMfaDevice => ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete entity, must delete MFA device first.",
            ),
            // Two spaces after "code.", as AWS writes it.
            Error::MfaNotAssociated => ApiError::new(
                ErrorCode::AccessDenied,
                "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
            ),
            Error::MfaCodeRejected => ApiError::new(
                ErrorCode::AccessDenied,
                "MultiFactorAuthentication failed with invalid MFA one time pass code.",
            ),
            Error::SessionCannotCall { action } => ApiError::new(
                ErrorCode::AccessDenied,
                format!("Cannot call {action} with session credentials"),
            ),
            Error::NotKeyOwner {
                caller_arn,
                access_key_id,
            } => ApiError::access_denied_last_used(&caller_arn, &access_key_id),
            Error::InvalidMarker => ApiError::invalid_marker(),
            Error::BodyTooLarge { limit } => ApiError::request_entity_too_large(limit),
            Error::BodyTimeout => ApiError::request_timeout(),
            Error::BodyUnreadable => ApiError::new(
                ErrorCode::MalformedInput,
                "The request body could not be read.",
            ),
            Error::InvalidState { reason } => ApiError::new(ErrorCode::ValidationError, reason),
            Error::ShuttingDown => {
                ApiError::new(ErrorCode::ServiceUnavailable, "The store is shutting down.")
            }
            Error::Storage => ApiError::service_failure(),
            // Both are retried by the SDKs (500 and 503 are transient statuses to botocore and
            // aws-smithy alike); 503 says the failure is temporary, and Retry-After says when.
            Error::StorageFault(fault) if fault.is_transient() => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The request has failed due to a temporary failure of the server.",
            ),
            Error::StorageFault(_) => ApiError::service_failure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_error_is_a_sender_fault_and_4xx() {
        for code in [
            ErrorCode::NoSuchEntity,
            ErrorCode::LimitExceeded,
            ErrorCode::SignatureDoesNotMatch,
            ErrorCode::MalformedQueryString,
            ErrorCode::RequestEntityTooLarge,
        ] {
            assert!(code.status().is_client_error(), "{code}");
            assert_eq!(code.fault(), Fault::Sender);
        }
        assert_eq!(ErrorCode::ServiceFailure.fault(), Fault::Receiver);
    }

    #[test]
    fn scope_date_mismatch_names_both_dates() {
        let e = ApiError::scope_date_mismatch("20150830", "20150831T123600Z");
        assert_eq!(
            e.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '20150830' != '20150831', from '20150831T123600Z'."
        );
    }
}
