//! User actions on the AWS face: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, TagUser,
//! UntagUser and ListUserTags, read from Query parameters and written as IAM's XML.

use super::actions::QueryAction;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::validate::{
    ValidationStyle, Validator, optional_user_name, pagination, required_user_name, tags,
    too_many_tags_constraint,
};
use super::xml::{self, Listing, TagXml, UserXml};
use crate::core::{
    CreateUser, DeleteUser, GetUser, ListUserTags, ListUsers, TagUser, UntagUser, UpdateUser,
    UserView,
};
use crate::model::{
    NEW_USER_NAME, PATH, PATH_PREFIX, PERMISSIONS_BOUNDARY, Page, TAG_KEY, TAGS_PER_USER, Tag,
    USER_NAME, User,
};
use serde::Serialize;

fn validator() -> Validator {
    Validator::new(ValidationStyle::Iam)
}

fn no_result(_: ()) -> ApiResult<Option<String>> {
    Ok(None)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserResult {
    user: UserXml,
}

impl QueryAction for CreateUser {
    type Output = User;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &NEW_USER_NAME);
        let path = params.get("Path").unwrap_or("/");
        v.rule("path", path, &PATH);
        let permissions_boundary = params.get("PermissionsBoundary");
        if let Some(arn) = permissions_boundary {
            v.length("permissionsBoundary", arn, &PERMISSIONS_BOUNDARY);
        }
        let tags = tags(params, &mut v).unwrap_or_default();
        v.finish()?;
        if let Some(arn) = permissions_boundary
            && !PERMISSIONS_BOUNDARY.pattern_ok(arn)
        {
            return Err(ApiError::invalid_arn(arn));
        }
        Ok(CreateUser {
            user_name,
            path: path.to_string(),
            permissions_boundary: permissions_boundary.map(str::to_string),
            tags,
            email: None,
        })
    }

    fn render(user: User) -> ApiResult<Option<String>> {
        let user = UserXml::new(user, true);
        xml::result("CreateUser", &UserResult { user }).map(Some)
    }
}

impl QueryAction for GetUser {
    type Output = UserView;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        v.finish()?;
        Ok(GetUser { user_name })
    }

    fn render(view: UserView) -> ApiResult<Option<String>> {
        let user = UserXml::from_view(view);
        xml::result("GetUser", &UserResult { user }).map(Some)
    }
}

impl QueryAction for ListUsers {
    type Output = Page<User>;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let path_prefix = params.get("PathPrefix").unwrap_or("/");
        v.rule("pathPrefix", path_prefix, &PATH_PREFIX);
        let page = pagination(params, &mut v)?;
        v.finish()?;
        Ok(ListUsers {
            path_prefix: path_prefix.to_string(),
            page,
        })
    }

    fn render(page: Page<User>) -> ApiResult<Option<String>> {
        let result = Listing::new("Users", page, |u| UserXml::new(u, false));
        xml::result("ListUsers", &result).map(Some)
    }
}

impl QueryAction for UpdateUser {
    type Output = User;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &USER_NAME);
        let new_user_name = params.get("NewUserName");
        if let Some(n) = new_user_name {
            v.user_name("newUserName", n, &NEW_USER_NAME);
        }
        let new_path = params.get("NewPath");
        if let Some(p) = new_path {
            v.rule("newPath", p, &PATH);
        }
        v.finish()?;
        Ok(UpdateUser {
            user_name,
            new_user_name: new_user_name.map(str::to_string),
            new_path: new_path.map(str::to_string),
            new_email: None,
        })
    }

    fn render(_: User) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

impl QueryAction for DeleteUser {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &USER_NAME);
        v.finish()?;
        Ok(DeleteUser { user_name })
    }

    fn render(out: ()) -> ApiResult<Option<String>> {
        no_result(out)
    }
}

impl QueryAction for TagUser {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &USER_NAME);
        let tags = tags(params, &mut v);
        if tags.is_none() {
            v.required("tags", None);
        }
        v.finish()?;
        Ok(TagUser {
            user_name,
            tags: tags.unwrap_or_default(),
        })
    }

    fn render(out: ()) -> ApiResult<Option<String>> {
        no_result(out)
    }
}

impl QueryAction for UntagUser {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &USER_NAME);
        let mut tag_keys = Vec::new();
        if !params.has_list("TagKeys") {
            v.required("tagKeys", None);
        } else {
            let members = params.members("TagKeys");
            if members.len() > TAGS_PER_USER {
                v.constraint("tagKeys", Some(""), &too_many_tags_constraint());
            }
            let key_constraint = format!(
                "Member must satisfy constraint: [Member must have length less than or equal to {}, \
                 Member must have length greater than or equal to {}, Member must satisfy regular \
                 expression pattern: {}, Member must not be null]",
                TAG_KEY.max, TAG_KEY.min, TAG_KEY.pattern
            );
            let mut reported = false;
            for m in &members {
                let key = m.get("").copied().unwrap_or_default();
                if TAG_KEY.check(key) {
                    tag_keys.push(key.to_string());
                } else if !reported {
                    v.constraint("tagKeys", Some(key), &key_constraint);
                    reported = true;
                }
            }
        }
        v.finish()?;
        Ok(UntagUser {
            user_name,
            tag_keys,
        })
    }

    fn render(out: ()) -> ApiResult<Option<String>> {
        no_result(out)
    }
}

impl QueryAction for ListUserTags {
    type Output = Page<Tag>;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &USER_NAME);
        let page = pagination(params, &mut v)?;
        v.finish()?;
        Ok(ListUserTags { user_name, page })
    }

    fn render(page: Page<Tag>) -> ApiResult<Option<String>> {
        let result = Listing::new("Tags", page, TagXml::from);
        xml::result("ListUserTags", &result).map(Some)
    }
}
