//! STS actions on the shared endpoint: GetCallerIdentity and GetAccessKeyInfo.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::ids::account_from_key_id;
use crate::model::{STS_ACCESS_KEY_ID_PATTERN, ValidationStyle, Validator, is_word_char};
use crate::query::Params;
use crate::xml;
use serde::Serialize;

#[derive(Debug)]
pub struct GetCallerIdentity;

impl GetCallerIdentity {
    pub fn parse(_params: &Params) -> ApiResult<Self> {
        Ok(GetCallerIdentity)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult {
    arn: String,
    user_id: String,
    account: String,
}

pub async fn get_caller_identity(
    ctx: &Ctx<'_>,
    _input: GetCallerIdentity,
) -> ApiResult<Option<String>> {
    let result = GetCallerIdentityResult {
        arn: ctx.caller.arn(),
        user_id: ctx.caller.user_id().to_string(),
        account: ctx.caller.account_id.clone(),
    };
    xml::result("GetCallerIdentity", &result).map(Some)
}

#[derive(Debug)]
pub struct GetAccessKeyInfo {
    pub access_key_id: String,
}

impl GetAccessKeyInfo {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = Validator::new(ValidationStyle::Sts);
        let id = v.required("accessKeyId", params.get("AccessKeyId"));
        if let Some(id) = id {
            // STS's model writes the key id rule with `*` (IAM's with `+`); the message quotes it.
            let ok = id.chars().all(is_word_char);
            v.text("accessKeyId", id, (16, 128), ok, STS_ACCESS_KEY_ID_PATTERN);
        }
        v.finish()?;
        Ok(GetAccessKeyInfo {
            access_key_id: id.unwrap_or_default().to_string(),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessKeyInfoResult {
    account: String,
}

/// A key iamlite knows answers with its account (seeded keys need not encode theirs); any other
/// current-generation id is decoded as AWS does, without looking it up. Old-generation ids (such as
/// the documentation example) carry no account, so unknown ones are refused.
pub async fn get_access_key_info(
    ctx: &Ctx<'_>,
    input: GetAccessKeyInfo,
) -> ApiResult<Option<String>> {
    let known = ctx
        .store
        .credential(&input.access_key_id)?
        .map(|c| c.account_id);
    let account = known
        .or_else(|| account_from_key_id(&input.access_key_id))
        .ok_or_else(ApiError::invalid_client_token_id)?;
    xml::result("GetAccessKeyInfo", &GetAccessKeyInfoResult { account }).map(Some)
}
