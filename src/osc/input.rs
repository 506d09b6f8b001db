//! The OUTSCALE API's request bodies as the spec defines them (every field optional unless the spec
//! requires it, unknown fields refused), and the checks of their values.

use super::error::OscError;
use crate::clock::parse_iso8601;
use crate::model::{EMAIL, KEY_TAG, KeyStatus, PATH, TextRule};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Reads a body into `T`; an empty body is `{}` (oapi-cli sends none when a call has no argument).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, OscError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| OscError::malformed_body(&e.to_string()))?;
    if !value.is_object() {
        return Err(OscError::malformed_body("it must be an object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        classify(&path, &inner)
    })
}

/// Turns serde's message into OUTSCALE's code for it, naming the parameter by its path.
fn classify(path: &str, message: &str) -> OscError {
    let between_backticks = |m: &str| m.split('`').nth(1).map(str::to_string);
    let parent = |name: String| {
        let prefix = path.trim_end_matches('.').trim_end_matches('?');
        if prefix.is_empty() || prefix == "." {
            name
        } else {
            format!("{prefix}.{name}")
        }
    };
    if message.starts_with("unknown field") {
        // The path already ends with the unknown field's own name.
        let name = match path {
            "" | "." => between_backticks(message).unwrap_or_default(),
            p => p.to_string(),
        };
        OscError::unknown_parameter(&name)
    } else if message.starts_with("missing field") {
        let name = between_backticks(message).unwrap_or_default();
        OscError::missing_parameter(&parent(name))
    } else if let Some(expected) = message.split(", expected ").nth(1) {
        OscError::wrong_type(path, expected)
    } else {
        OscError::invalid_value(path, message)
    }
}

/// A string under a rule, or `InvalidParameterValue` naming the parameter.
pub fn check(name: &str, value: &str, rule: &TextRule) -> Result<(), OscError> {
    if rule.check(value) {
        Ok(())
    } else if !rule.length_ok(value) {
        Err(OscError::invalid_value(
            name,
            &format!(
                "the length must be between {} and {} characters.",
                rule.min, rule.max
            ),
        ))
    } else {
        Err(OscError::invalid_value(
            name,
            "it contains characters that are not allowed.",
        ))
    }
}

pub fn check_opt(name: &str, value: Option<&str>, rule: &TextRule) -> Result<(), OscError> {
    value.map_or(Ok(()), |v| check(name, v, rule))
}

/// `ACTIVE` or `INACTIVE`.
pub fn state(name: &str, value: &str) -> Result<KeyStatus, OscError> {
    match value {
        "ACTIVE" => Ok(KeyStatus::Active),
        "INACTIVE" => Ok(KeyStatus::Inactive),
        _ => Err(OscError::invalid_value(
            name,
            "the state must be ACTIVE or INACTIVE.",
        )),
    }
}

/// How OUTSCALE writes a key's state.
pub fn state_name(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "ACTIVE",
        KeyStatus::Inactive => "INACTIVE",
    }
}

/// An ISO 8601 date (`2063-04-05`) or date and time (`2063-04-05T00:00:00.000Z`).
pub fn date(name: &str, value: &str) -> Result<i64, OscError> {
    parse_iso8601(value).ok_or_else(|| {
        OscError::invalid_value(
            name,
            "expected an ISO 8601 date or date and time, such as 2063-04-05 or 2063-04-05T00:00:00.000Z.",
        )
    })
}

pub fn tag(value: Option<&str>) -> Result<(), OscError> {
    check_opt("Tag", value, &KEY_TAG)
}

pub fn email(name: &str, value: Option<&str>) -> Result<(), OscError> {
    check_opt(name, value, &EMAIL)
}

pub fn path(name: &str, value: Option<&str>) -> Result<(), OscError> {
    check_opt(name, value, &PATH)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CreateAccessKeyRequest {
    pub dry_run: Option<bool>,
    pub expiration_date: Option<String>,
    pub tag: Option<String>,
    pub user_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct FiltersAccessKeys {
    pub access_key_ids: Option<Vec<String>>,
    pub states: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ReadAccessKeysRequest {
    pub dry_run: Option<bool>,
    pub filters: Option<FiltersAccessKeys>,
    pub tag: Option<String>,
    pub user_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateAccessKeyRequest {
    pub access_key_id: String,
    pub clear_expiration_date: Option<bool>,
    pub clear_tag: Option<bool>,
    pub dry_run: Option<bool>,
    pub expiration_date: Option<String>,
    pub state: Option<String>,
    pub tag: Option<String>,
    pub user_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeleteAccessKeyRequest {
    pub access_key_id: String,
    pub dry_run: Option<bool>,
    pub user_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CreateUserRequest {
    pub dry_run: Option<bool>,
    pub path: Option<String>,
    pub user_email: Option<String>,
    pub user_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct FiltersUsers {
    pub user_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ReadUsersRequest {
    pub dry_run: Option<bool>,
    pub filters: Option<FiltersUsers>,
    pub first_item: Option<i64>,
    pub results_per_page: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateUserRequest {
    pub dry_run: Option<bool>,
    pub new_path: Option<String>,
    pub new_user_email: Option<String>,
    pub new_user_name: Option<String>,
    pub user_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct DeleteUserRequest {
    pub dry_run: Option<bool>,
    pub user_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_become_outscale_codes_naming_the_parameter() {
        let e = parse_body::<DeleteAccessKeyRequest>(b"{}").unwrap_err();
        assert_eq!(
            (e.code, e.details.as_str()),
            ("7000", "The parameter AccessKeyId is required.")
        );
        let e =
            parse_body::<DeleteAccessKeyRequest>(br#"{"AccessKeyId":"A","Bogus":1}"#).unwrap_err();
        assert_eq!(
            (e.code, e.details.as_str()),
            ("4045", "The parameter Bogus is not valid for this call.")
        );
        let e = parse_body::<DeleteAccessKeyRequest>(br#"{"AccessKeyId":5}"#).unwrap_err();
        assert_eq!(e.code, "4108");
        assert!(
            e.details.starts_with("The parameter AccessKeyId must be"),
            "{}",
            e.details
        );
        let e =
            parse_body::<ReadAccessKeysRequest>(br#"{"Filters":{"States":"ACTIVE"}}"#).unwrap_err();
        assert_eq!(e.code, "4108");
        assert!(e.details.contains("Filters.States"), "{}", e.details);
        let e = parse_body::<ReadAccessKeysRequest>(br#"{"Filters":{"Nope":[]}}"#).unwrap_err();
        assert_eq!(
            e.details,
            "The parameter Filters.Nope is not valid for this call."
        );
        for bad in [&b"[]"[..], b"nope", b"{\"a\":"] {
            assert_eq!(
                parse_body::<ReadAccessKeysRequest>(bad).unwrap_err().code,
                "4047"
            );
        }
        assert!(parse_body::<ReadAccessKeysRequest>(b"").is_ok());
        assert!(parse_body::<ReadAccessKeysRequest>(b"  \n").is_ok());
    }
}
