//! Access-key actions: create, update, delete, list, and when a key was last used.

use super::{Ctx, PageRequest};
use crate::error::{Error, Result};
use crate::model::{AccessKeyMeta, Change, CreatedKey, KeyStatus, LastUsed, Owner, Page};
use crate::store::{KeyUpdate, NewKeyDetails};

/// An expiration date must lie ahead of the clock.
fn check_expiration(expiration: Option<i64>, now: i64) -> Result<()> {
    match expiration {
        Some(date) if date <= now => Err(Error::ExpirationInPast { date }),
        _ => Ok(()),
    }
}

/// `user_name: None` means the caller itself (the root user included), in every action here.
#[derive(Debug, Clone, Default)]
pub struct CreateAccessKey {
    pub user_name: Option<String>,
    /// When the key stops working (OUTSCALE); `None`: never.
    pub expiration: Option<i64>,
    /// OUTSCALE's free-form tag.
    pub tag: Option<String>,
}

pub async fn create_access_key(ctx: &Ctx<'_>, input: CreateAccessKey) -> Result<CreatedKey> {
    check_expiration(input.expiration, ctx.now)?;
    let owner = Owner::resolve(input.user_name, ctx.caller);
    let secret = ctx.ids.secret();
    ctx.store
        .create_access_key(
            &ctx.caller.account_id,
            owner,
            ctx.ids.clone(),
            secret,
            ctx.now,
            NewKeyDetails {
                expiration: input.expiration,
                tag: input.tag,
            },
        )
        .await
}

#[derive(Debug, Clone)]
pub struct UpdateAccessKey {
    pub user_name: Option<String>,
    pub access_key_id: String,
    /// `None` keeps the status (OUTSCALE may change only the expiration or tag).
    pub status: Option<KeyStatus>,
    pub expiration: Change<i64>,
    pub tag: Change<String>,
}

/// Answers the key as it is after the change.
pub async fn update_access_key(ctx: &Ctx<'_>, input: UpdateAccessKey) -> Result<AccessKeyMeta> {
    if let Change::Set(date) = input.expiration {
        check_expiration(Some(date), ctx.now)?;
    }
    let owner = Owner::resolve(input.user_name, ctx.caller);
    ctx.store
        .update_access_key(
            &ctx.caller.account_id,
            owner,
            input.access_key_id,
            KeyUpdate {
                status: input.status,
                expiration: input.expiration,
                tag: input.tag,
            },
            ctx.now,
        )
        .await
}

/// Which keys must be Inactive before they can be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MustBeInactive {
    /// IAM's API deletes either state.
    Never,
    /// OUTSCALE's rule: an EIM user's key (root keys need not be).
    UsersKeys,
    /// The consoles' rule, root keys included.
    Always,
}

#[derive(Debug, Clone)]
pub struct DeleteAccessKey {
    pub user_name: Option<String>,
    pub access_key_id: String,
    pub must_be_inactive: MustBeInactive,
}

pub async fn delete_access_key(ctx: &Ctx<'_>, input: DeleteAccessKey) -> Result<()> {
    let owner = Owner::resolve(input.user_name, ctx.caller);
    let only_if_inactive = match input.must_be_inactive {
        MustBeInactive::Never => false,
        MustBeInactive::UsersKeys => matches!(owner, Owner::User(_)),
        MustBeInactive::Always => true,
    };
    ctx.store
        .delete_access_key(
            &ctx.caller.account_id,
            owner,
            input.access_key_id,
            ctx.now,
            only_if_inactive,
        )
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
        .list_access_keys(&ctx.caller.account_id, &owner, &input.page, ctx.now)
        .await
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
        .access_key_last_used(&ctx.caller.account_id, &input.access_key_id)
        .await?
        .ok_or_else(|| Error::NotKeyOwner {
            caller_arn: ctx.caller.arn(),
            access_key_id: input.access_key_id,
        })
}
