//! STS actions on the AWS face: GetCallerIdentity and GetAccessKeyInfo.

use super::actions::QueryAction;
use super::error::ApiResult;
use super::params::Params;
use super::validate::integer;
use super::validate::{ValidationStyle, Validator};
use super::xml;
use crate::core::sessions::{MAX_DURATION_SECONDS, MIN_DURATION_SECONDS};
use crate::core::{
    CallerIdentity, GetAccessKeyInfo, GetCallerIdentity, GetSessionToken, SessionCredentials,
};
use crate::model::{STS_ACCESS_KEY_ID, STS_MFA_CODE, STS_MFA_SERIAL};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult {
    arn: String,
    user_id: String,
    account: String,
}

impl QueryAction for GetCallerIdentity {
    type Output = CallerIdentity;

    fn parse(_params: &Params) -> ApiResult<Self> {
        Ok(GetCallerIdentity)
    }

    fn render(id: CallerIdentity) -> ApiResult<Option<String>> {
        let result = GetCallerIdentityResult {
            arn: id.arn,
            user_id: id.user_id,
            account: id.account,
        };
        xml::result("GetCallerIdentity", &result).map(Some)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessKeyInfoResult {
    account: String,
}

impl QueryAction for GetAccessKeyInfo {
    type Output = String;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = Validator::new(ValidationStyle::Sts);
        let id = v.required("accessKeyId", params.get("AccessKeyId"));
        if let Some(id) = id {
            v.rule("accessKeyId", id, &STS_ACCESS_KEY_ID);
        }
        v.finish()?;
        Ok(GetAccessKeyInfo {
            access_key_id: id.unwrap_or_default().to_string(),
        })
    }

    fn render(account: String) -> ApiResult<Option<String>> {
        xml::result("GetAccessKeyInfo", &GetAccessKeyInfoResult { account }).map(Some)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsXml {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetSessionTokenResult {
    credentials: CredentialsXml,
}

impl QueryAction for GetSessionToken {
    type Output = SessionCredentials;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = Validator::new(ValidationStyle::Sts);
        let duration_seconds = integer(params, "DurationSeconds")?;
        if let (Some(d), Some(raw)) = (duration_seconds, params.get("DurationSeconds")) {
            if d < MIN_DURATION_SECONDS {
                v.constraint(
                    "durationSeconds",
                    Some(raw),
                    &format!(
                        "Member must have value greater than or equal to {MIN_DURATION_SECONDS}"
                    ),
                );
            } else if d > MAX_DURATION_SECONDS {
                v.constraint(
                    "durationSeconds",
                    Some(raw),
                    &format!("Member must have value less than or equal to {MAX_DURATION_SECONDS}"),
                );
            }
        }
        let serial_number = params.get("SerialNumber");
        if let Some(s) = serial_number {
            v.rule("serialNumber", s, &STS_MFA_SERIAL);
        }
        let token_code = params.get("TokenCode");
        if let Some(c) = token_code {
            v.rule("tokenCode", c, &STS_MFA_CODE);
        }
        v.finish()?;
        Ok(GetSessionToken {
            duration_seconds,
            serial_number: serial_number.map(str::to_string),
            token_code: token_code.map(str::to_string),
        })
    }

    fn render(c: SessionCredentials) -> ApiResult<Option<String>> {
        let result = GetSessionTokenResult {
            credentials: CredentialsXml {
                access_key_id: c.access_key_id,
                secret_access_key: c.secret.expose().to_string(),
                session_token: c.token.expose().to_string(),
                expiration: xml::timestamp(c.expiration),
            },
        };
        xml::result("GetSessionToken", &result).map(Some)
    }
}
