//! User actions: create, read, list, rename or move, delete, and tag users.

use super::{Ctx, PageRequest};
use crate::error::{Error, Result};
use crate::model::{Page, Principal, Tag, User, root_arn};
use crate::store::UserUpdate;

/// Tag keys are compared without regard to case; a request naming one twice is refused.
fn check_distinct_tag_keys(tags: &[Tag]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if !seen.insert(t.key.to_lowercase()) {
            return Err(Error::DuplicateTagKeys);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub user_name: String,
    pub path: String,
    pub permissions_boundary: Option<String>,
    pub tags: Vec<Tag>,
    /// The EIM user's email address (OUTSCALE).
    pub email: Option<String>,
}

pub async fn create_user(ctx: &Ctx<'_>, input: CreateUser) -> Result<User> {
    check_distinct_tag_keys(&input.tags)?;
    let account = &ctx.caller.account_id;
    ctx.store
        .create_user(
            User {
                user_id: String::new(),
                account_id: account.clone(),
                name: input.user_name,
                path: input.path,
                create_date: ctx.now,
                permissions_boundary: input.permissions_boundary,
                tags: input.tags,
                email: input.email,
                last_modified: ctx.now,
            },
            ctx.ids.clone(),
        )
        .await
}

#[derive(Debug, Clone)]
pub struct GetUser {
    pub user_name: Option<String>,
}

/// GetUser's answer: a user, or the root user, which has no name or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserView {
    User(User),
    Root {
        account_id: String,
        arn: String,
        create_date: i64,
    },
}

pub async fn get_user(ctx: &Ctx<'_>, input: GetUser) -> Result<UserView> {
    let account = &ctx.caller.account_id;
    match (input.user_name, &ctx.caller.principal) {
        (Some(name), _) => Ok(UserView::User(ctx.store.get_user(account, &name).await?)),
        (None, Principal::User { name, .. }) => {
            Ok(UserView::User(ctx.store.get_user(account, name).await?))
        }
        (None, Principal::Root) => Ok(UserView::Root {
            account_id: account.clone(),
            arn: root_arn(account),
            create_date: ctx.store.account_create_date(account).await?,
        }),
    }
}

#[derive(Debug, Clone)]
pub struct ListUsers {
    pub path_prefix: String,
    pub page: PageRequest,
}

/// Users in name order (ignoring case), without their tags or permissions boundary.
pub async fn list_users(ctx: &Ctx<'_>, input: ListUsers) -> Result<Page<User>> {
    ctx.store
        .list_users(&ctx.caller.account_id, &input.path_prefix, &input.page)
        .await
}

#[derive(Debug, Clone, Default)]
pub struct UpdateUser {
    pub user_name: String,
    pub new_user_name: Option<String>,
    pub new_path: Option<String>,
    pub new_email: Option<String>,
}

/// Answers the user as it is after the change.
pub async fn update_user(ctx: &Ctx<'_>, input: UpdateUser) -> Result<User> {
    ctx.store
        .update_user(
            &ctx.caller.account_id,
            input.user_name,
            UserUpdate {
                new_name: input.new_user_name,
                new_path: input.new_path,
                new_email: input.new_email,
            },
            ctx.now,
        )
        .await
}

#[derive(Debug, Clone)]
pub struct DeleteUser {
    pub user_name: String,
}

pub async fn delete_user(ctx: &Ctx<'_>, input: DeleteUser) -> Result<()> {
    ctx.store
        .delete_user(&ctx.caller.account_id, input.user_name)
        .await
}

#[derive(Debug, Clone)]
pub struct TagUser {
    pub user_name: String,
    pub tags: Vec<Tag>,
}

pub async fn tag_user(ctx: &Ctx<'_>, input: TagUser) -> Result<()> {
    check_distinct_tag_keys(&input.tags)?;
    ctx.store
        .tag_user(&ctx.caller.account_id, input.user_name, input.tags)
        .await
}

#[derive(Debug, Clone)]
pub struct UntagUser {
    pub user_name: String,
    pub tag_keys: Vec<String>,
}

pub async fn untag_user(ctx: &Ctx<'_>, input: UntagUser) -> Result<()> {
    ctx.store
        .untag_user(&ctx.caller.account_id, input.user_name, input.tag_keys)
        .await
}

#[derive(Debug, Clone)]
pub struct ListUserTags {
    pub user_name: String,
    pub page: PageRequest,
}

pub async fn list_user_tags(ctx: &Ctx<'_>, input: ListUserTags) -> Result<Page<Tag>> {
    ctx.store
        .list_user_tags(&ctx.caller.account_id, &input.user_name, &input.page)
        .await
}
