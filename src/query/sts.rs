//! STS actions on the AWS face: GetCallerIdentity and GetAccessKeyInfo.

use super::actions::QueryAction;
use super::error::ApiResult;
use super::params::Params;
use super::validate::{ValidationStyle, Validator};
use super::xml;
use crate::core::{CallerIdentity, GetAccessKeyInfo, GetCallerIdentity};
use crate::model::STS_ACCESS_KEY_ID;
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
