//! User actions: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, TagUser, UntagUser, ListUserTags.

use super::{Ctx, Pagination, check_duplicate_tag_keys, owned, parse_tags};
use crate::error::{ApiError, ApiResult};
use crate::model::{
    ARN_LENGTH, PATH_PREFIX_PATTERN, Principal, TAG_KEY_PATTERN, TAGS_PER_USER, User,
    ValidationStyle, Validator, is_policy_arn, is_valid_path_prefix, is_valid_tag_key, root_arn,
};
use crate::query::Params;
use crate::xml::{self, Members, TagXml, UserXml, timestamp};
use serde::Serialize;

/// Existing user names may be up to 128 characters; new ones up to 64.
const EXISTING_NAME_MAX: usize = 128;
const NEW_NAME_MAX: usize = 64;

fn validator() -> Validator {
    Validator::new(ValidationStyle::Iam)
}

fn required_user_name(params: &Params, v: &mut Validator, max: usize) -> String {
    let name = v.required("userName", params.get("UserName"));
    if let Some(n) = name {
        v.user_name("userName", n, max);
    }
    name.unwrap_or_default().to_string()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserResult {
    user: UserXml,
}

#[derive(Debug)]
pub struct CreateUser {
    pub user_name: String,
    pub path: String,
    pub permissions_boundary: Option<String>,
    pub tags: Vec<crate::model::Tag>,
}

impl CreateUser {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, NEW_NAME_MAX);
        let path = params.get("Path").unwrap_or("/");
        v.path("path", path);
        let permissions_boundary = params.get("PermissionsBoundary");
        if let Some(arn) = permissions_boundary {
            let (min, max) = ARN_LENGTH;
            v.length("permissionsBoundary", arn, min, max);
        }
        let tags = parse_tags(params, &mut v).unwrap_or_default();
        v.finish()?;
        if let Some(arn) = permissions_boundary
            && !is_policy_arn(arn)
        {
            return Err(ApiError::invalid_arn(arn));
        }
        check_duplicate_tag_keys(&tags)?;
        Ok(CreateUser {
            user_name,
            path: path.to_string(),
            permissions_boundary: permissions_boundary.map(str::to_string),
            tags,
        })
    }
}

pub async fn create_user(ctx: &Ctx<'_>, input: CreateUser) -> ApiResult<Option<String>> {
    let account = &ctx.caller.account_id;
    let user_id = ctx.ids.user_id(account);
    let user = ctx
        .store
        .create_user(User {
            user_id,
            account_id: account.clone(),
            name: input.user_name,
            path: input.path,
            create_date: ctx.now,
            permissions_boundary: input.permissions_boundary,
            tags: input.tags,
        })
        .await?;
    xml::result(
        "CreateUser",
        &UserResult {
            user: UserXml::new(user, true),
        },
    )
    .map(Some)
}

#[derive(Debug)]
pub struct GetUser {
    pub user_name: Option<String>,
}

impl GetUser {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = params.get("UserName");
        if let Some(n) = user_name {
            v.user_name("userName", n, EXISTING_NAME_MAX);
        }
        v.finish()?;
        Ok(GetUser {
            user_name: owned(user_name),
        })
    }
}

pub async fn get_user(ctx: &Ctx<'_>, input: GetUser) -> ApiResult<Option<String>> {
    let account = &ctx.caller.account_id;
    let user = match (input.user_name, &ctx.caller.principal) {
        (Some(name), _) => UserXml::new(ctx.store.get_user(account, &name)?, true),
        (None, Principal::User { name, .. }) => {
            UserXml::new(ctx.store.get_user(account, name)?, true)
        }
        // The root user has no name or path: AWS answers with the account id and the root ARN.
        (None, Principal::Root) => UserXml {
            path: None,
            user_name: None,
            user_id: account.clone(),
            arn: root_arn(account),
            create_date: timestamp(ctx.store.account_create_date(account)?),
            permissions_boundary: None,
            tags: None,
        },
    };
    xml::result("GetUser", &UserResult { user }).map(Some)
}

#[derive(Debug)]
pub struct ListUsers {
    pub path_prefix: String,
    pub page: Pagination,
}

impl ListUsers {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let path_prefix = params.get("PathPrefix").unwrap_or("/");
        v.text(
            "pathPrefix",
            path_prefix,
            (1, 512),
            is_valid_path_prefix(path_prefix),
            PATH_PREFIX_PATTERN,
        );
        let page = Pagination::parse(params, &mut v)?;
        v.finish()?;
        Ok(ListUsers {
            path_prefix: path_prefix.to_string(),
            page,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersResult {
    users: Members<UserXml>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_users(ctx: &Ctx<'_>, input: ListUsers) -> ApiResult<Option<String>> {
    let page = ctx.store.list_users(
        &ctx.caller.account_id,
        &input.path_prefix,
        input.page.marker.as_deref(),
        input.page.max_items,
    )?;
    let result = ListUsersResult {
        users: page
            .items
            .into_iter()
            .map(|u| UserXml::new(u, false))
            .collect::<Vec<_>>()
            .into(),
        is_truncated: page.next.is_some(),
        marker: page.next,
    };
    xml::result("ListUsers", &result).map(Some)
}

#[derive(Debug)]
pub struct UpdateUser {
    pub user_name: String,
    pub new_user_name: Option<String>,
    pub new_path: Option<String>,
}

impl UpdateUser {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, EXISTING_NAME_MAX);
        let new_user_name = params.get("NewUserName");
        if let Some(n) = new_user_name {
            v.user_name("newUserName", n, NEW_NAME_MAX);
        }
        let new_path = params.get("NewPath");
        if let Some(p) = new_path {
            v.path("newPath", p);
        }
        v.finish()?;
        Ok(UpdateUser {
            user_name,
            new_user_name: owned(new_user_name),
            new_path: owned(new_path),
        })
    }
}

pub async fn update_user(ctx: &Ctx<'_>, input: UpdateUser) -> ApiResult<Option<String>> {
    ctx.store
        .update_user(
            &ctx.caller.account_id,
            input.user_name,
            input.new_user_name,
            input.new_path,
        )
        .await?;
    Ok(None)
}

#[derive(Debug)]
pub struct DeleteUser {
    pub user_name: String,
}

impl DeleteUser {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, EXISTING_NAME_MAX);
        v.finish()?;
        Ok(DeleteUser { user_name })
    }
}

pub async fn delete_user(ctx: &Ctx<'_>, input: DeleteUser) -> ApiResult<Option<String>> {
    ctx.store
        .delete_user(&ctx.caller.account_id, input.user_name)
        .await?;
    Ok(None)
}

#[derive(Debug)]
pub struct TagUser {
    pub user_name: String,
    pub tags: Vec<crate::model::Tag>,
}

impl TagUser {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, EXISTING_NAME_MAX);
        let tags = parse_tags(params, &mut v);
        if tags.is_none() {
            v.required("tags", None);
        }
        v.finish()?;
        let tags = tags.unwrap_or_default();
        check_duplicate_tag_keys(&tags)?;
        Ok(TagUser { user_name, tags })
    }
}

pub async fn tag_user(ctx: &Ctx<'_>, input: TagUser) -> ApiResult<Option<String>> {
    ctx.store
        .tag_user(&ctx.caller.account_id, input.user_name, input.tags)
        .await?;
    Ok(None)
}

#[derive(Debug)]
pub struct UntagUser {
    pub user_name: String,
    pub tag_keys: Vec<String>,
}

impl UntagUser {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, EXISTING_NAME_MAX);
        let mut tag_keys = Vec::new();
        if !params.has_list("TagKeys") {
            v.required("tagKeys", None);
        } else {
            let members = params.members("TagKeys");
            if members.len() > TAGS_PER_USER {
                v.constraint(
                    "tagKeys",
                    Some(""),
                    &format!("Member must have length less than or equal to {TAGS_PER_USER}"),
                );
            }
            let key_constraint = format!(
                "Member must satisfy constraint: [Member must have length less than or equal to 128, \
                 Member must have length greater than or equal to 1, Member must satisfy regular \
                 expression pattern: {TAG_KEY_PATTERN}, Member must not be null]"
            );
            let mut reported = false;
            for m in &members {
                let key = m.get("").copied().unwrap_or_default();
                let n = key.chars().count();
                if !(1..=128).contains(&n) || !is_valid_tag_key(key) {
                    if !reported {
                        v.constraint("tagKeys", Some(key), &key_constraint);
                        reported = true;
                    }
                } else {
                    tag_keys.push(key.to_string());
                }
            }
        }
        v.finish()?;
        Ok(UntagUser {
            user_name,
            tag_keys,
        })
    }
}

pub async fn untag_user(ctx: &Ctx<'_>, input: UntagUser) -> ApiResult<Option<String>> {
    ctx.store
        .untag_user(&ctx.caller.account_id, input.user_name, input.tag_keys)
        .await?;
    Ok(None)
}

#[derive(Debug)]
pub struct ListUserTags {
    pub user_name: String,
    pub page: Pagination,
}

impl ListUserTags {
    pub fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, EXISTING_NAME_MAX);
        let page = Pagination::parse(params, &mut v)?;
        v.finish()?;
        Ok(ListUserTags { user_name, page })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListUserTagsResult {
    tags: Members<TagXml>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_user_tags(ctx: &Ctx<'_>, input: ListUserTags) -> ApiResult<Option<String>> {
    let page = ctx.store.list_user_tags(
        &ctx.caller.account_id,
        &input.user_name,
        input.page.marker.as_deref(),
        input.page.max_items,
    )?;
    let result = ListUserTagsResult {
        tags: page
            .items
            .into_iter()
            .map(TagXml::from)
            .collect::<Vec<_>>()
            .into(),
        is_truncated: page.next.is_some(),
        marker: page.next,
    };
    xml::result("ListUserTags", &result).map(Some)
}
