//! Access-key actions: CreateAccessKey, UpdateAccessKey, DeleteAccessKey, ListAccessKeys, GetAccessKeyLastUsed.

use super::{Ctx, Pagination, owned};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::model::{AccessKeyMeta, KeyStatus, Owner, ValidationStyle, Validator};
use crate::query::Params;
use crate::xml::{self, Members, timestamp};
use serde::Serialize;

/// What `ServiceName` and `Region` say for a key that was never used.
const NOT_USED: &str = "N/A";

fn validator() -> Validator {
    Validator::new(ValidationStyle::Iam)
}

/// The optional `UserName` of the access-key actions (an existing user: up to 128 characters).
fn optional_user_name(params: &Params, v: &mut Validator) -> Option<String> {
    let name = params.get("UserName");
    if let Some(n) = name {
        v.user_name("userName", n, 128);
    }
    owned(name)
}

fn required_key_id(params: &Params, v: &mut Validator) -> String {
    let id = v.required("accessKeyId", params.get("AccessKeyId"));
    if let Some(id) = id {
        v.access_key_id("accessKeyId", id);
    }
    id.unwrap_or_default().to_string()
}

#[derive(Debug)]
pub struct CreateAccessKey {
    pub user_name: Option<String>,
}

impl CreateAccessKey {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v);
        v.finish()?;
        Ok(CreateAccessKey { user_name })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    access_key_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
    create_date: String,
}

impl AccessKeyXml {
    fn new(meta: AccessKeyMeta, secret: Option<String>) -> Self {
        AccessKeyXml {
            user_name: meta.user_name,
            access_key_id: meta.access_key_id,
            status: meta.status.as_str(),
            secret_access_key: secret,
            create_date: timestamp(meta.create_date),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAccessKeyResult {
    access_key: AccessKeyXml,
}

pub async fn create_access_key(ctx: &Ctx<'_>, input: CreateAccessKey) -> ApiResult<Option<String>> {
    let account = &ctx.caller.account_id;
    let owner = Owner::resolve(input.user_name, ctx.caller);
    let id = ctx.ids.access_key_id(account);
    let secret = ctx.ids.secret();
    let key = ctx
        .store
        .create_access_key(account, owner, id, secret, ctx.now)
        .await?;
    let result = CreateAccessKeyResult {
        access_key: AccessKeyXml::new(key.meta, Some(key.secret.expose().to_string())),
    };
    xml::result("CreateAccessKey", &result).map(Some)
}

#[derive(Debug)]
pub struct UpdateAccessKey {
    pub user_name: Option<String>,
    pub access_key_id: String,
    pub status: KeyStatus,
}

impl UpdateAccessKey {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v);
        let access_key_id = required_key_id(params, &mut v);
        let status = match v.required("status", params.get("Status")) {
            Some("Active") => Some(KeyStatus::Active),
            Some("Inactive") => Some(KeyStatus::Inactive),
            Some("Expired") => None,
            Some(other) => {
                v.constraint("status", Some(other), "Member must satisfy enum value set");
                None
            }
            None => None,
        };
        v.finish()?;
        // `Expired` is in the shared status enum, but an access key can only be Active or Inactive.
        let status = status.ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "Access key status can only be set to Active or Inactive.",
            )
        })?;
        Ok(UpdateAccessKey {
            user_name,
            access_key_id,
            status,
        })
    }
}

pub async fn update_access_key(ctx: &Ctx<'_>, input: UpdateAccessKey) -> ApiResult<Option<String>> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    ctx.store
        .update_access_key(
            &ctx.caller.account_id,
            owner,
            input.access_key_id,
            input.status,
            ctx.now,
        )
        .await?;
    Ok(None)
}

#[derive(Debug)]
pub struct DeleteAccessKey {
    pub user_name: Option<String>,
    pub access_key_id: String,
}

impl DeleteAccessKey {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v);
        let access_key_id = required_key_id(params, &mut v);
        v.finish()?;
        Ok(DeleteAccessKey {
            user_name,
            access_key_id,
        })
    }
}

pub async fn delete_access_key(ctx: &Ctx<'_>, input: DeleteAccessKey) -> ApiResult<Option<String>> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    ctx.store
        .delete_access_key(&ctx.caller.account_id, owner, input.access_key_id, ctx.now)
        .await?;
    Ok(None)
}

#[derive(Debug)]
pub struct ListAccessKeys {
    pub user_name: Option<String>,
    pub page: Pagination,
}

impl ListAccessKeys {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v);
        let page = Pagination::parse(params, &mut v)?;
        v.finish()?;
        Ok(ListAccessKeys { user_name, page })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAccessKeysResult {
    access_key_metadata: Members<AccessKeyXml>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_access_keys(ctx: &Ctx<'_>, input: ListAccessKeys) -> ApiResult<Option<String>> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    let page = ctx.store.list_access_keys(
        &ctx.caller.account_id,
        &owner,
        input.page.marker.as_deref(),
        input.page.max_items,
    )?;
    let result = ListAccessKeysResult {
        access_key_metadata: page
            .items
            .into_iter()
            .map(|k| AccessKeyXml::new(k, None))
            .collect::<Vec<_>>()
            .into(),
        is_truncated: page.next.is_some(),
        marker: page.next,
    };
    xml::result("ListAccessKeys", &result).map(Some)
}

#[derive(Debug)]
pub struct GetAccessKeyLastUsed {
    pub access_key_id: String,
}

impl GetAccessKeyLastUsed {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let access_key_id = required_key_id(params, &mut v);
        v.finish()?;
        Ok(GetAccessKeyLastUsed { access_key_id })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LastUsedXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_date: Option<String>,
    service_name: String,
    region: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessKeyLastUsedResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    access_key_last_used: LastUsedXml,
}

pub async fn get_access_key_last_used(
    ctx: &Ctx<'_>,
    input: GetAccessKeyLastUsed,
) -> ApiResult<Option<String>> {
    let (user_name, used) = ctx
        .store
        .access_key_last_used(&ctx.caller.account_id, &input.access_key_id)?
        .ok_or_else(|| {
            ApiError::access_denied_last_used(&ctx.caller.arn(), &input.access_key_id)
        })?;
    let access_key_last_used = match used {
        Some(u) => LastUsedXml {
            last_used_date: Some(timestamp(u.date)),
            service_name: u.service,
            region: u.region,
        },
        None => LastUsedXml {
            last_used_date: None,
            service_name: NOT_USED.to_string(),
            region: NOT_USED.to_string(),
        },
    };
    let result = GetAccessKeyLastUsedResult {
        user_name,
        access_key_last_used,
    };
    xml::result("GetAccessKeyLastUsed", &result).map(Some)
}
