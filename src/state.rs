//! The whole state as a JSON document (secrets included), for export, import and snapshots.

use crate::model::LastUsed;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Tag written into every export so a future format can be told apart.
pub const STATE_FORMAT: &str = "iamlite-state-v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: String,
    pub accounts: Vec<AccountState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountState {
    pub id: String,
    pub create_date: String,
    #[serde(default)]
    pub root_access_keys: Vec<KeyState>,
    #[serde(default)]
    pub users: Vec<UserState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_devices: Vec<MfaDeviceState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionState>,
}

/// A virtual MFA device, its TOTP seed (base32) included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaDeviceState {
    pub name: String,
    pub path: String,
    pub seed: String,
    pub create_date: String,
    /// The user the device is enabled for, with the date it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_date: Option<String>,
}

/// Session credentials, secret and token included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionState {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// `None`: the root user's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    pub parent_access_key_id: String,
    pub create_date: String,
    pub expiration: String,
    pub mfa: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserState {
    pub user_id: String,
    pub name: String,
    pub path: String,
    pub create_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagState>,
    #[serde(default)]
    pub access_keys: Vec<KeyState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagState {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyState {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub status: String,
    pub create_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<LastUsedState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastUsedState {
    pub date: String,
    pub service: String,
    pub region: String,
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds (`2024-01-31T12:00:00.123Z`).
pub fn millis_to_rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

pub fn rfc3339_to_millis(s: &str) -> Result<i64, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(crate::clock::unix_millis)
        .map_err(|_| format!("'{s}' is not an RFC 3339 timestamp"))
}

impl LastUsedState {
    pub fn from_model(u: &LastUsed) -> Self {
        LastUsedState {
            date: millis_to_rfc3339(u.date),
            service: u.service.clone(),
            region: u.region.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_milliseconds() {
        let s = millis_to_rfc3339(1_706_702_400_123);
        assert_eq!(s, "2024-01-31T12:00:00.123Z");
        assert_eq!(rfc3339_to_millis(&s), Ok(1_706_702_400_123));
    }
}
