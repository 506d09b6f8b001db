//! Domain types (users, access keys, callers, secrets), ARNs, and AWS's input constraints with their messages.

use crate::error::{ApiError, ApiResult, ErrorCode};
use std::fmt;
use std::sync::LazyLock;
use zeroize::Zeroizing;

/// AWS's quota on access keys per user (and for the root user).
pub const ACCESS_KEYS_PER_USER: usize = 2;
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

    pub fn from_db(s: &str) -> KeyStatus {
        if s == "Active" {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
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
}

/// A freshly created key: the only moment its secret is returned.
#[derive(Debug, Clone)]
pub struct NewAccessKey {
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
    /// When `status` took effect (0 for seeded keys: long since propagated).
    pub status_changed: i64,
    /// What the key was before that change; `None` if the change created it.
    pub prior_status: Option<KeyStatus>,
}

impl Credential {
    /// The status other IAM hosts would still see at `now`, given a propagation delay: a change
    /// only takes effect once the delay has passed since it was made.
    pub fn effective_status(&self, now: i64, delay_ms: i64) -> Option<KeyStatus> {
        if now < self.status_changed.saturating_add(delay_ms) {
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
    pub access_key_id: String,
    pub principal: Principal,
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

/// The model's `arnType` length bounds, which a permissions boundary must meet.
pub const ARN_LENGTH: (usize, usize) = (20, 2048);

/// A permissions boundary as CreateUser would accept it: a policy ARN of the model's length.
pub fn is_valid_permissions_boundary(arn: &str) -> bool {
    let (min, max) = ARN_LENGTH;
    (min..=max).contains(&arn.chars().count()) && is_policy_arn(arn)
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

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

// --- input constraints ----------------------------------------------------------------------

pub const USER_NAME_PATTERN_MESSAGE: &str =
    "It must contain only alphanumeric characters and/or the following: +=,.@_-";
pub const PATH_PATTERN: &str = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)";
pub const PATH_PREFIX_PATTERN: &str = r"\u002F[\u0021-\u007F]*";
pub const ACCESS_KEY_ID_PATTERN: &str = r"[\w]+";
pub const STS_ACCESS_KEY_ID_PATTERN: &str = r"[\w]*";
pub const MARKER_PATTERN: &str = r"[\u0020-\u00FF]+";
pub const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
pub const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";

/// `\w` as AWS's (Java) patterns mean it: ASCII letters, digits and underscore.
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn is_user_name_char(c: char) -> bool {
    is_word_char(c) || "+=,.@-".contains(c)
}

pub fn is_valid_path(p: &str) -> bool {
    p == "/"
        || (p.len() >= 3
            && p.starts_with('/')
            && p.ends_with('/')
            && p.bytes().all(|b| (0x21..=0x7e).contains(&b)))
}

pub fn is_valid_path_prefix(p: &str) -> bool {
    p.starts_with('/') && p.bytes().all(|b| (0x21..=0x7f).contains(&b))
}

/// AWS's tag patterns are Java regular expressions; `regex` has the same Unicode general
/// categories, so the model's pattern text is used as it is.
fn whole_match(pattern: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{pattern})$")).expect("the model's tag patterns compile")
}

static TAG_KEY_RE: LazyLock<regex::Regex> = LazyLock::new(|| whole_match(TAG_KEY_PATTERN));
static TAG_VALUE_RE: LazyLock<regex::Regex> = LazyLock::new(|| whole_match(TAG_VALUE_PATTERN));

pub fn is_valid_tag_key(s: &str) -> bool {
    TAG_KEY_RE.is_match(s)
}

pub fn is_valid_tag_value(s: &str) -> bool {
    TAG_VALUE_RE.is_match(s)
}

/// Which way a service writes ValidationError: IAM leaves the value out, STS quotes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationStyle {
    Iam,
    Sts,
}

/// Collects constraint violations and reports them as AWS does: `N validation error(s) detected: a; b`.
#[derive(Debug)]
pub struct Validator {
    style: ValidationStyle,
    violations: Vec<String>,
    special: Option<ApiError>,
}

impl Validator {
    pub fn new(style: ValidationStyle) -> Self {
        Validator {
            style,
            violations: Vec::new(),
            special: None,
        }
    }

    fn push(&mut self, field: &str, value: Option<&str>, constraint: &str) {
        let subject = match (self.style, value) {
            (_, None) => "Value null".to_string(),
            (ValidationStyle::Iam, Some(_)) => "Value".to_string(),
            (ValidationStyle::Sts, Some(v)) => format!("Value '{v}'"),
        };
        self.violations.push(format!(
            "{subject} at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// A required parameter: records `Member must not be null` when absent.
    pub fn required<'a>(&mut self, field: &str, value: Option<&'a str>) -> Option<&'a str> {
        if value.is_none() {
            self.push(field, None, "Member must not be null");
        }
        value
    }

    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) -> bool {
        let n = value.chars().count();
        if n < min {
            self.push(
                field,
                Some(value),
                &format!("Member must have length greater than or equal to {min}"),
            );
            false
        } else if n > max {
            self.push(
                field,
                Some(value),
                &format!("Member must have length less than or equal to {max}"),
            );
            false
        } else {
            true
        }
    }

    pub fn pattern(&mut self, field: &str, value: &str, ok: bool, pattern: &str) {
        if !ok {
            self.push(
                field,
                Some(value),
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    pub fn constraint(&mut self, field: &str, value: Option<&str>, constraint: &str) {
        self.push(field, value, constraint);
    }

    /// A string with a length range and a pattern. AWS reports every constraint a value breaks,
    /// the pattern before the length (as STS writes `2 validation errors detected`).
    pub fn text(
        &mut self,
        field: &str,
        value: &str,
        (min, max): (usize, usize),
        pattern_ok: bool,
        pattern: &str,
    ) {
        self.pattern(field, value, pattern_ok, pattern);
        self.length(field, value, min, max);
    }

    /// User names get AWS's own sentence instead of the generic pattern text.
    pub fn user_name(&mut self, field: &str, value: &str, max: usize) {
        if self.length(field, value, 1, max) && !value.chars().all(is_user_name_char) {
            self.special.get_or_insert_with(|| {
                ApiError::new(
                    ErrorCode::ValidationError,
                    format!(
                        "The specified value for {field} is invalid. {USER_NAME_PATTERN_MESSAGE}"
                    ),
                )
            });
        }
    }

    pub fn access_key_id(&mut self, field: &str, value: &str) {
        let ok = !value.is_empty() && value.chars().all(is_word_char);
        self.text(field, value, (16, 128), ok, ACCESS_KEY_ID_PATTERN);
    }

    pub fn path(&mut self, field: &str, value: &str) {
        self.text(field, value, (1, 512), is_valid_path(value), PATH_PATTERN);
    }

    pub fn finish(self) -> ApiResult<()> {
        if let Some(special) = self.special {
            return Err(special);
        }
        match self.violations.len() {
            0 => Ok(()),
            1 => Err(ApiError::new(
                ErrorCode::ValidationError,
                format!("1 validation error detected: {}", self.violations[0]),
            )),
            n => Err(ApiError::new(
                ErrorCode::ValidationError,
                format!(
                    "{n} validation errors detected: {}",
                    self.violations.join("; ")
                ),
            )),
        }
    }
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
    fn paths_follow_the_model_pattern() {
        for ok in ["/", "///", "/a/", "/a/b/", "/~!/"] {
            assert!(is_valid_path(ok), "{ok}");
        }
        for bad in ["", "//", "a/", "/a", "/a b/", "/é/"] {
            assert!(!is_valid_path(bad), "{bad}");
        }
    }

    #[test]
    fn iam_style_leaves_the_value_out() {
        let mut v = Validator::new(ValidationStyle::Iam);
        v.length("userName", &"a".repeat(65), 1, 64);
        let e = v.finish().unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value at 'userName' failed to satisfy constraint: \
             Member must have length less than or equal to 64"
        );
    }

    #[test]
    fn several_violations_are_joined() {
        let mut v = Validator::new(ValidationStyle::Sts);
        v.length("accessKeyId", "abc", 16, 128);
        v.required("other", None);
        let e = v.finish().unwrap_err();
        assert_eq!(
            e.message,
            "2 validation errors detected: Value 'abc' at 'accessKeyId' failed to satisfy constraint: \
             Member must have length greater than or equal to 16; Value null at 'other' failed to \
             satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn bad_user_name_gets_the_special_sentence() {
        let mut v = Validator::new(ValidationStyle::Iam);
        v.user_name("userName", "bad/name", 64);
        assert_eq!(
            v.finish().unwrap_err().message,
            "The specified value for userName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
    }
}
