//! Domain types (users, access keys, callers, secrets), ARNs, and each of AWS's input rules, once.
//!
//! Faces word a broken rule their own way (the Query face as AWS's ValidationError); the seed
//! loader and state import check the same rules.

mod rules;

pub use rules::*;

use std::fmt;
use zeroize::Zeroizing;

/// AWS's quota on access keys per user (and for the root user).
pub const ACCESS_KEYS_PER_USER: usize = 2;
/// OUTSCALE's quota on access keys per EIM user (and for the root user).
pub const OUTSCALE_ACCESS_KEYS_PER_USER: usize = 10;

/// Which cloud's IAM the emulator behaves as: the quota on keys and the shape of key ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavor {
    /// AWS: `AKIA…` key ids that encode the account, 2 keys per user.
    #[default]
    Aws,
    /// OUTSCALE: 20-character key ids of A-Z and 0-9, 10 keys per user.
    Outscale,
}

impl Flavor {
    pub fn key_quota(self) -> usize {
        match self {
            Flavor::Aws => ACCESS_KEYS_PER_USER,
            Flavor::Outscale => OUTSCALE_ACCESS_KEYS_PER_USER,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Aws => "aws",
            Flavor::Outscale => "outscale",
        }
    }
}
/// AWS's quota on tags per IAM resource.
pub const TAGS_PER_USER: usize = 50;

/// A secret access key. It never prints itself and its memory is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it must leave the process (CreateAccessKey, signing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An access key's status. AWS's enum also has `Expired`, which access keys never take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }

    /// `Active` or `Inactive`, spelled as AWS spells them.
    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    /// Milliseconds since the Unix epoch.
    pub create_date: i64,
    /// ARN of the managed policy set as the user's permissions boundary.
    pub permissions_boundary: Option<String>,
    pub tags: Vec<Tag>,
    /// The EIM user's email address (OUTSCALE's `UserEmail`).
    pub email: Option<String>,
    /// When the user was last changed (creation counts).
    pub last_modified: i64,
}

impl User {
    pub fn arn(&self) -> String {
        user_arn(&self.account_id, &self.path, &self.name)
    }
}

/// An access key without its secret, as ListAccessKeys shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMeta {
    pub access_key_id: String,
    /// `None` for the root user's keys.
    pub user_name: Option<String>,
    pub status: KeyStatus,
    pub create_date: i64,
    /// When the key stops working, if ever.
    pub expiration: Option<i64>,
    /// Whether the expiration had passed when the key was read (IAM then shows `Expired`).
    pub expired: bool,
    /// OUTSCALE's free-form tag on the key.
    pub tag: Option<String>,
    /// When the key was last changed (creation counts).
    pub last_modified: i64,
}

/// A freshly created key: the only moment its secret is returned.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub meta: AccessKeyMeta,
    pub secret: Secret,
}

/// The identity behind an access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Root,
    User {
        user_id: String,
        name: String,
        path: String,
    },
}

/// What the store knows about an access key when a request signed with it arrives.
#[derive(Debug, Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub account_id: String,
    pub principal: Principal,
    pub secret: Secret,
    pub status: KeyStatus,
    pub create_date: i64,
    /// When `status` reaches authentication: the change's time plus the propagation delay in
    /// force when it was made (0 for seeded keys: long since propagated).
    pub status_effective: i64,
    /// What the key was before that change; `None` if the change created it.
    pub prior_status: Option<KeyStatus>,
    /// When the key stops working, if ever (judged by the clock, at once: no propagation).
    pub expiration: Option<i64>,
}

impl Credential {
    /// Whether the key's own expiration date has passed at `now` (judged at once: expiration
    /// does not propagate).
    pub fn expired_at(&self, now: i64) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }

    /// The status other IAM hosts would still see at `now`: a change takes effect only once it
    /// has propagated. The deadline was fixed when the change was made, so restarting with a
    /// longer delay does not bring old keys back.
    pub fn effective_status(&self, now: i64) -> Option<KeyStatus> {
        if now < self.status_effective {
            self.prior_status
        } else {
            Some(self.status)
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    /// The key that signed the request; `None` for a root user signed in with a password.
    pub access_key_id: Option<String>,
    pub principal: Principal,
    /// Set when the request was signed with session credentials.
    pub session: Option<SessionInfo>,
}

/// What a request signed with session credentials may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// GetSessionToken checked an MFA code: IAM accepts the session.
    pub mfa: bool,
}

/// Session credentials from GetSessionToken, as the store keeps them.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_key_id: String,
    pub account_id: String,
    pub principal: Principal,
    pub secret: Secret,
    pub token: Secret,
    /// When the credentials stop working (milliseconds since the epoch, by the clock).
    pub expiration: i64,
    pub mfa: bool,
}

/// A virtual MFA device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaDevice {
    /// The device's ARN, `arn:aws:iam::<account>:mfa<path><name>`.
    pub serial_number: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    /// The TOTP secret, base32.
    pub seed: Secret,
    /// The user the device is enabled for.
    pub user: Option<User>,
    pub enable_date: Option<i64>,
    pub create_date: i64,
}

pub fn mfa_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:mfa{path}{name}")
}

impl Caller {
    pub fn arn(&self) -> String {
        match &self.principal {
            Principal::Root => root_arn(&self.account_id),
            Principal::User { name, path, .. } => user_arn(&self.account_id, path, name),
        }
    }

    /// AWS's `aws:userid`: the account id for root, the `AIDA…` id for a user.
    pub fn user_id(&self) -> &str {
        match &self.principal {
            Principal::Root => &self.account_id,
            Principal::User { user_id, .. } => user_id,
        }
    }
}

/// Whose keys an access-key action works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Root,
    User(String),
}

impl Owner {
    /// `UserName` when given, otherwise the caller itself (AWS's caller-derived user name).
    pub fn resolve(user_name: Option<String>, caller: &Caller) -> Owner {
        match (user_name, &caller.principal) {
            (Some(name), _) => Owner::User(name),
            (None, Principal::Root) => Owner::Root,
            (None, Principal::User { name, .. }) => Owner::User(name.clone()),
        }
    }
}

/// What an update does to an optional field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    Keep,
    Set(T),
    Clear,
}

impl<T> Change<T> {
    /// `(mode, value)` for SQL: 0 keeps the field, 1 sets it to `value`, 2 clears it.
    pub fn as_sql(&self) -> (i64, Option<&T>) {
        match self {
            Change::Keep => (0, None),
            Change::Set(v) => (1, Some(v)),
            Change::Clear => (2, None),
        }
    }
}

/// When an access key was last used, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    pub date: i64,
    pub service: String,
    pub region: String,
}

/// One page of a listing; `next` is the opaque marker of the following page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

pub fn user_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user{path}{name}")
}

pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// A managed policy ARN, AWS's (`arn:aws:iam::aws:policy/...`) or an account's
/// (`arn:aws:iam::123456789012:policy/...`): what a permissions boundary must name.
pub fn is_policy_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    (account == "aws" || is_account_id(account))
        && resource
            .strip_prefix("policy/")
            .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
}

/// The session key ids GetSessionToken issues start with this.
pub const SESSION_KEY_PREFIX: &str = "ASIA";

/// An OUTSCALE access key id: 20 characters of A-Z and 0-9.
pub fn is_outscale_access_key_id(id: &str) -> bool {
    id.len() == 20
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_include_the_path() {
        assert_eq!(
            user_arn("123456789012", "/", "alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(
            user_arn("123456789012", "/division/", "alice"),
            "arn:aws:iam::123456789012:user/division/alice"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
    }
}
