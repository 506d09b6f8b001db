//! Who the caller is (GetCallerIdentity) and which account a key belongs to (GetAccessKeyInfo).

use super::Ctx;
use crate::error::{AuthError, Error, Result};
use crate::ids::account_from_key_id;

#[derive(Debug, Clone)]
pub struct GetCallerIdentity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub arn: String,
    /// AWS's `aws:userid`: the account id for root, the `AIDA…` id for a user.
    pub user_id: String,
    pub account: String,
}

pub async fn get_caller_identity(
    ctx: &Ctx<'_>,
    _input: GetCallerIdentity,
) -> Result<CallerIdentity> {
    Ok(CallerIdentity {
        arn: ctx.caller.arn(),
        user_id: ctx.caller.user_id().to_string(),
        account: ctx.caller.account_id.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct GetAccessKeyInfo {
    pub access_key_id: String,
}

/// A key iamlite knows answers with its account (seeded keys need not encode theirs); any other
/// current-generation id is decoded as AWS does, without looking it up. Old-generation ids (such as
/// the documentation example) carry no account, so unknown ones are refused.
pub async fn get_access_key_info(ctx: &Ctx<'_>, input: GetAccessKeyInfo) -> Result<String> {
    let known = ctx
        .store
        .credential(&input.access_key_id)
        .await?
        .map(|c| c.account_id);
    known
        .or_else(|| account_from_key_id(&input.access_key_id))
        .ok_or(Error::Auth(AuthError::Refused(
            crate::error::Refusal::UnknownKey,
        )))
}
