//! Access-key actions: create, update, delete, list, and when a key was last used.

use super::{Ctx, PageRequest};
use crate::error::{Error, Result};
use crate::model::{AccessKeyMeta, CreatedKey, KeyStatus, LastUsed, Owner, Page};

/// `user_name: None` means the caller itself (the root user included), in every action here.
#[derive(Debug, Clone)]
pub struct CreateAccessKey {
    pub user_name: Option<String>,
}

pub async fn create_access_key(ctx: &Ctx<'_>, input: CreateAccessKey) -> Result<CreatedKey> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    let secret = ctx.ids.secret();
    ctx.store
        .create_access_key(
            &ctx.caller.account_id,
            owner,
            ctx.ids.clone(),
            secret,
            ctx.now,
        )
        .await
}

#[derive(Debug, Clone)]
pub struct UpdateAccessKey {
    pub user_name: Option<String>,
    pub access_key_id: String,
    pub status: KeyStatus,
}

pub async fn update_access_key(ctx: &Ctx<'_>, input: UpdateAccessKey) -> Result<()> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    ctx.store
        .update_access_key(
            &ctx.caller.account_id,
            owner,
            input.access_key_id,
            input.status,
            ctx.now,
        )
        .await
}

#[derive(Debug, Clone)]
pub struct DeleteAccessKey {
    pub user_name: Option<String>,
    pub access_key_id: String,
}

pub async fn delete_access_key(ctx: &Ctx<'_>, input: DeleteAccessKey) -> Result<()> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    ctx.store
        .delete_access_key(&ctx.caller.account_id, owner, input.access_key_id, ctx.now)
        .await
}

#[derive(Debug, Clone)]
pub struct ListAccessKeys {
    pub user_name: Option<String>,
    pub page: PageRequest,
}

pub async fn list_access_keys(ctx: &Ctx<'_>, input: ListAccessKeys) -> Result<Page<AccessKeyMeta>> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    ctx.store
        .list_access_keys(&ctx.caller.account_id, &owner, &input.page)
}

#[derive(Debug, Clone)]
pub struct GetAccessKeyLastUsed {
    pub access_key_id: String,
}

/// Whose key it is (`None`: the root user's) and its last use (`None`: never used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLastUsed {
    pub user_name: Option<String>,
    pub last_used: Option<LastUsed>,
}

/// Only keys of the caller's account can be asked about; any other id, known or not, is refused
/// as AWS refuses it (AccessDenied, not NoSuchEntity).
pub async fn get_access_key_last_used(
    ctx: &Ctx<'_>,
    input: GetAccessKeyLastUsed,
) -> Result<KeyLastUsed> {
    ctx.store
        .access_key_last_used(&ctx.caller.account_id, &input.access_key_id)?
        .ok_or_else(|| Error::NotKeyOwner {
            caller_arn: ctx.caller.arn(),
            access_key_id: input.access_key_id,
        })
}
