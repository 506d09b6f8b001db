//! AWS's ValidationError wording for the model's rules, and the parameters several actions share
//! (`Marker`/`MaxItems`, `Tags.member.N`, an optional or required user name or key id).

use super::error::{ApiError, ApiResult, ErrorCode};
use super::params::Params;
use crate::core::PageRequest;
use crate::model::{
    ACCESS_KEY_ID, MARKER, TAG_KEY, TAG_VALUE, TAGS_PER_USER, Tag, TextRule,
    USER_NAME_PATTERN_MESSAGE,
};

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

    pub fn length(&mut self, field: &str, value: &str, rule: &TextRule) -> bool {
        let n = value.chars().count();
        if n < rule.min {
            let c = format!(
                "Member must have length greater than or equal to {}",
                rule.min
            );
            self.push(field, Some(value), &c);
            false
        } else if n > rule.max {
            let c = format!("Member must have length less than or equal to {}", rule.max);
            self.push(field, Some(value), &c);
            false
        } else {
            true
        }
    }

    pub fn constraint(&mut self, field: &str, value: Option<&str>, constraint: &str) {
        self.push(field, value, constraint);
    }

    /// A string under a rule. AWS reports every constraint a value breaks, the pattern before the
    /// length (as STS writes `2 validation errors detected`).
    pub fn rule(&mut self, field: &str, value: &str, rule: &TextRule) {
        if !rule.pattern_ok(value) {
            let c = format!(
                "Member must satisfy regular expression pattern: {}",
                rule.pattern
            );
            self.push(field, Some(value), &c);
        }
        self.length(field, value, rule);
    }

    /// User names get IAM's own sentence instead of the generic pattern text.
    pub fn user_name(&mut self, field: &str, value: &str, rule: &TextRule) {
        if self.length(field, value, rule) && !rule.pattern_ok(value) {
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

/// An optional `UserName` under `rule`.
pub fn optional_user_name(params: &Params, v: &mut Validator, rule: &TextRule) -> Option<String> {
    let name = params.get("UserName");
    if let Some(n) = name {
        v.user_name("userName", n, rule);
    }
    name.map(str::to_string)
}

/// A required `UserName` under `rule` (empty when absent; `finish` then fails).
pub fn required_user_name(params: &Params, v: &mut Validator, rule: &TextRule) -> String {
    let name = v.required("userName", params.get("UserName"));
    if let Some(n) = name {
        v.user_name("userName", n, rule);
    }
    name.unwrap_or_default().to_string()
}

/// A required `AccessKeyId` (empty when absent; `finish` then fails).
pub fn required_key_id(params: &Params, v: &mut Validator) -> String {
    let id = v.required("accessKeyId", params.get("AccessKeyId"));
    if let Some(id) = id {
        v.rule("accessKeyId", id, &ACCESS_KEY_ID);
    }
    id.unwrap_or_default().to_string()
}

/// An integer parameter, read as AWS reads them (Java ints): empty, non-numeric (spaces included)
/// and out-of-i32 values fail to decode before any validation (measured on STS).
pub fn integer(params: &Params, name: &str) -> ApiResult<Option<i64>> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MalformedInput,
            "missing value for decimal type",
        ));
    }
    raw.parse::<i32>().map(|n| Some(i64::from(n))).map_err(|_| {
        ApiError::new(
            ErrorCode::MalformedInput,
            format!("Invalid value for parameter {name}: '{raw}' is not an integer."),
        )
    })
}

pub const DEFAULT_MAX_ITEMS: usize = 100;
pub const MAX_MAX_ITEMS: usize = 1000;

/// `Marker` and `MaxItems` of the IAM list actions.
pub fn pagination(params: &Params, v: &mut Validator) -> ApiResult<PageRequest> {
    let marker = params.get("Marker");
    if let Some(m) = marker {
        v.rule("marker", m, &MARKER);
    }
    let max_items = match (integer(params, "MaxItems")?, params.get("MaxItems")) {
        (Some(n), Some(raw)) => {
            if n < 1 {
                v.constraint(
                    "maxItems",
                    Some(raw),
                    "Member must have value greater than or equal to 1",
                );
            } else if n > MAX_MAX_ITEMS as i64 {
                v.constraint(
                    "maxItems",
                    Some(raw),
                    &format!("Member must have value less than or equal to {MAX_MAX_ITEMS}"),
                );
            }
            n.clamp(1, MAX_MAX_ITEMS as i64) as usize
        }
        _ => DEFAULT_MAX_ITEMS,
    };
    Ok(PageRequest {
        marker: marker.map(str::to_string),
        max_items,
    })
}

/// The constraint AWS writes for a list longer than the tag quota.
pub fn too_many_tags_constraint() -> String {
    format!("Member must have length less than or equal to {TAGS_PER_USER}")
}

/// `Tags.member.N.Key/Value` with AWS's per-tag constraints; `None` if the list was not sent.
pub fn tags(params: &Params, v: &mut Validator) -> Option<Vec<Tag>> {
    if !params.has_list("Tags") {
        return None;
    }
    let members = params.members("Tags");
    if members.len() > TAGS_PER_USER {
        v.constraint("tags", Some(""), &too_many_tags_constraint());
        return Some(Vec::new());
    }
    let mut tags = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let n = i + 1;
        let key_field = format!("tags.{n}.member.key");
        let value_field = format!("tags.{n}.member.value");
        let key = v.required(&key_field, m.get("Key").copied());
        let value = v.required(&value_field, m.get("Value").copied());
        if let Some(key) = key {
            v.rule(&key_field, key, &TAG_KEY);
        }
        if let Some(value) = value {
            v.rule(&value_field, value, &TAG_VALUE);
        }
        if let (Some(key), Some(value)) = (key, value) {
            tags.push(Tag {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }
    Some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NEW_USER_NAME;

    #[test]
    fn iam_style_leaves_the_value_out() {
        let mut v = Validator::new(ValidationStyle::Iam);
        v.length("userName", &"a".repeat(65), &NEW_USER_NAME);
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
        v.length("accessKeyId", "abc", &ACCESS_KEY_ID);
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
        v.user_name("userName", "bad/name", &NEW_USER_NAME);
        assert_eq!(
            v.finish().unwrap_err().message,
            "The specified value for userName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-"
        );
    }
}
