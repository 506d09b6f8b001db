//! The core's one error: what went wrong, with the facts a face needs to word it its own way.
//!
//! Faces never see SQL or signature internals: the AWS Query face turns an `Error` into AWS's code
//! and message (`query::error`), other faces into theirs. Messages here carry no secrets.

use std::fmt;

/// Why a request's credentials were refused, before or while checking its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Neither an Authorization header nor a presigned query.
    Missing,
    /// The signature claim is malformed. `sentence` says how; `authorization` is the header as the
    /// client sent it (header mode), `None` for a presigned query.
    Incomplete {
        sentence: String,
        authorization: Option<String>,
    },
    /// The access key cannot sign requests (the reason is for logs only: clients see one answer).
    Refused(Refusal),
    /// The signature is not the one the key would make.
    SignatureMismatch,
    /// The request's date is more than the allowed skew before `now`.
    Expired {
        request: String,
        earliest: String,
        now: String,
    },
    /// The request's date is more than the allowed skew after `now`.
    NotYetCurrent {
        request: String,
        latest: String,
        now: String,
    },
    /// The credential scope's date is not the request's date.
    ScopeDateMismatch {
        scope_date: String,
        amz_date: String,
    },
    /// The credential scope names a service this endpoint does not serve.
    WrongService { expected: &'static str },
    /// Session credentials whose expiration has passed (with their right token).
    ExpiredToken,
}

/// Why a key was refused; logged, never shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownKey,
    InactiveKey,
    /// A session token came with a long-term key (iamlite has issued no session credentials).
    UnexpectedToken,
    /// The key's expiration date has passed.
    ExpiredKey,
    /// A login or password that does not match an account's.
    WrongPassword,
    /// A session key id without its token, or with another token.
    TokenMismatch,
    /// Session credentials without MFA on an API that needs it (IAM).
    SessionWithoutMfa,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownKey => "unknown key",
            Refusal::InactiveKey => "inactive key",
            Refusal::UnexpectedToken => "session token with a long-term key",
            Refusal::ExpiredKey => "expired key",
            Refusal::WrongPassword => "wrong login or password",
            Refusal::TokenMismatch => "session token missing or not the session's",
            Refusal::SessionWithoutMfa => "session without MFA on IAM",
        }
    }
}

/// Everything that can go wrong in the core, as facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Auth(AuthError),
    NoSuchUser {
        name: String,
    },
    NoSuchAccessKey {
        access_key_id: String,
    },
    UserAlreadyExists {
        name: String,
    },
    AccessKeyQuota {
        limit: usize,
    },
    TagQuota {
        limit: usize,
    },
    /// DeleteUser on a user that still has access keys.
    UserHasAccessKeys {
        name: String,
    },
    /// Two tags in one request whose keys differ only in case.
    DuplicateTagKeys,
    /// OUTSCALE deletes an EIM user's key only once it is INACTIVE.
    KeyNotInactive {
        access_key_id: String,
    },
    /// An expiration date that has already passed.
    ExpirationInPast {
        date: i64,
    },
    NoSuchMfaDevice {
        serial_number: String,
    },
    /// CreateVirtualMFADevice with a name the account already has.
    MfaDeviceExists,
    /// EnableMFADevice on a device already enabled for a user.
    MfaDeviceInUse,
    /// DeleteVirtualMFADevice on a device still enabled for a user.
    MfaDeviceAssigned,
    /// EnableMFADevice's two codes are not two consecutive codes of the device.
    InvalidAuthenticationCode,
    /// DeleteUser on a user that still has an MFA device.
    UserHasMfaDevice,
    /// GetSessionToken's serial number is not a device enabled for the caller.
    MfaNotAssociated,
    /// GetSessionToken's code is wrong, or was already used.
    MfaCodeRejected,
    /// Session credentials may not call this action.
    SessionCannotCall {
        action: &'static str,
    },
    /// The caller asked about a key of another account.
    NotKeyOwner {
        caller_arn: String,
        access_key_id: String,
    },
    /// A pagination marker this server did not issue.
    InvalidMarker,
    /// A request body over the limit (in bytes).
    BodyTooLarge {
        limit: usize,
    },
    /// The request body did not arrive within the body timeout.
    BodyTimeout,
    /// The request body's framing was broken (bad chunk size, cut short).
    BodyUnreadable,
    /// A seed or state document that breaks a rule; `reason` names the entity and the rule.
    InvalidState {
        reason: String,
    },
    /// The store is closing; nothing more is written.
    ShuttingDown,
    /// The store failed in a way that is not a named fault; the cause went to the log.
    Storage,
    /// A named storage fault (disk full, read-only, damaged file...); the path went to the log.
    StorageFault(crate::store::Fault),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(e)
    }
}

impl Error {
    pub fn invalid_state(reason: impl Into<String>) -> Self {
        Error::InvalidState {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => f.write_str("no signature"),
            AuthError::Incomplete { sentence, .. } => write!(f, "incomplete signature: {sentence}"),
            AuthError::Refused(why) => write!(f, "credentials refused: {}", why.as_str()),
            AuthError::SignatureMismatch => f.write_str("signature mismatch"),
            AuthError::Expired { request, now, .. } => {
                write!(f, "signature expired: {request} (now {now})")
            }
            AuthError::NotYetCurrent { request, now, .. } => {
                write!(f, "signature not yet current: {request} (now {now})")
            }
            AuthError::ScopeDateMismatch {
                scope_date,
                amz_date,
            } => write!(f, "scope date {scope_date} is not the date of {amz_date}"),
            AuthError::WrongService { expected } => {
                write!(f, "credential scope should name service {expected}")
            }
            AuthError::ExpiredToken => f.write_str("expired session"),
        }
    }
}

impl std::error::Error for AuthError {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Auth(a) => a.fmt(f),
            Error::NoSuchUser { name } => write!(f, "no user named {name}"),
            Error::NoSuchAccessKey { access_key_id } => {
                write!(f, "no access key {access_key_id}")
            }
            Error::UserAlreadyExists { name } => write!(f, "user {name} already exists"),
            Error::AccessKeyQuota { limit } => write!(f, "more than {limit} access keys"),
            Error::TagQuota { limit } => write!(f, "more than {limit} tags"),
            Error::UserHasAccessKeys { name } => write!(f, "user {name} still has access keys"),
            Error::DuplicateTagKeys => f.write_str("duplicate tag keys"),
            Error::KeyNotInactive { access_key_id } => {
                write!(f, "access key {access_key_id} is not inactive")
            }
            Error::ExpirationInPast { date } => {
                write!(f, "expiration date {date} (ms) has passed")
            }
            Error::NoSuchMfaDevice { serial_number } => {
                write!(f, "no MFA device {serial_number}")
            }
            Error::MfaDeviceExists => f.write_str("MFA device name taken"),
            Error::MfaDeviceInUse => f.write_str("MFA device already enabled"),
            Error::MfaDeviceAssigned => f.write_str("MFA device still enabled for a user"),
            Error::InvalidAuthenticationCode => f.write_str("invalid authentication codes"),
            Error::UserHasMfaDevice => f.write_str("user still has an MFA device"),
            Error::MfaNotAssociated => f.write_str("MFA device not associated with the caller"),
            Error::MfaCodeRejected => f.write_str("MFA code rejected"),
            Error::SessionCannotCall { action } => {
                write!(f, "session credentials cannot call {action}")
            }
            Error::NotKeyOwner { access_key_id, .. } => {
                write!(f, "access key {access_key_id} belongs to another account")
            }
            Error::InvalidMarker => f.write_str("invalid marker"),
            Error::BodyTooLarge { limit } => write!(f, "request body over {limit} bytes"),
            Error::BodyTimeout => f.write_str("request body not received in time"),
            Error::BodyUnreadable => f.write_str("request body could not be read"),
            Error::InvalidState { reason } => f.write_str(reason),
            Error::ShuttingDown => f.write_str("the store is shutting down"),
            Error::Storage => f.write_str("storage failure (see the log)"),
            Error::StorageFault(fault) => write!(f, "storage fault: {}", fault.label()),
        }
    }
}

impl std::error::Error for Error {}
