//! The OUTSCALE API's calls: each reads its JSON body into the core's input, honours `DryRun`, runs
//! the core action and writes the answer's payload as the spec names its fields.

use super::dates;
use super::error::OscError;
use super::input::{self, parse_body};
use crate::core::{self, Ctx, PageRequest};
use crate::model::{AccessKeyMeta, Change, CreatedKey, NEW_USER_NAME, USER_NAME, User};
use serde::Serialize;
use serde_json::Value;

/// Every call this face answers.
pub const ACTIONS: &[&str] = &[
    "CreateAccessKey",
    "ReadAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateUser",
    "ReadUsers",
    "UpdateUser",
    "DeleteUser",
];

/// The calls that also take login/password authentication (OUTSCALE's `BasicAuth`).
pub const PASSWORD_ACTIONS: &[&str] = &[
    "CreateAccessKey",
    "ReadAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
];

/// Most items one ReadUsers page holds, and its default.
const MAX_RESULTS_PER_PAGE: i64 = 1000;
const DEFAULT_RESULTS_PER_PAGE: i64 = 100;
/// The core's largest page, used to read whole listings.
const CORE_PAGE: usize = 1000;

/// `AccessKey` and `AccessKeySecretKey`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyJson {
    access_key_id: String,
    creation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_date: Option<String>,
    last_modification_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
}

impl AccessKeyJson {
    fn new(meta: AccessKeyMeta, secret_key: Option<String>) -> Self {
        AccessKeyJson {
            access_key_id: meta.access_key_id,
            creation_date: dates::format(meta.create_date),
            expiration_date: meta.expiration.map(dates::format),
            last_modification_date: dates::format(meta.last_modified),
            secret_key,
            state: input::state_name(meta.status),
            tag: meta.tag,
        }
    }
}

/// `User`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserJson {
    creation_date: String,
    last_modification_date: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_email: Option<String>,
    user_id: String,
    user_name: String,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        UserJson {
            creation_date: dates::format(u.create_date),
            last_modification_date: dates::format(u.last_modified),
            path: u.path,
            user_email: u.email,
            user_id: u.user_id,
            user_name: u.name,
        }
    }
}

fn payload(value: impl Serialize) -> Result<Value, OscError> {
    serde_json::to_value(value).map_err(|e| {
        tracing::error!(error = %e, "cannot render response");
        OscError::from(crate::error::Error::Storage)
    })
}

fn empty() -> Value {
    Value::Object(serde_json::Map::new())
}

fn user_name(name: Option<&str>) -> Result<(), OscError> {
    input::check_opt("UserName", name, &USER_NAME)
}

fn expiration(value: Option<&str>) -> Result<Option<i64>, OscError> {
    value.map(|v| input::date("ExpirationDate", v)).transpose()
}

/// Runs `action` with `body` for the caller in `ctx`; the answer's payload, without its
/// `ResponseContext`. A `DryRun` checks the input and stops before any change.
pub async fn run(action: &str, body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    match action {
        "CreateAccessKey" => create_access_key(body, ctx).await,
        "ReadAccessKeys" => read_access_keys(body, ctx).await,
        "UpdateAccessKey" => update_access_key(body, ctx).await,
        "DeleteAccessKey" => delete_access_key(body, ctx).await,
        "CreateUser" => create_user(body, ctx).await,
        "ReadUsers" => read_users(body, ctx).await,
        "UpdateUser" => update_user(body, ctx).await,
        "DeleteUser" => delete_user(body, ctx).await,
        other => Err(OscError::unknown_action(other)),
    }
}

async fn create_access_key(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::CreateAccessKeyRequest = parse_body(body)?;
    user_name(req.user_name.as_deref())?;
    input::tag(req.tag.as_deref())?;
    let expiration = expiration(req.expiration_date.as_deref())?;
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    let key: CreatedKey = core::create_access_key(
        ctx,
        core::CreateAccessKey {
            user_name: req.user_name,
            expiration,
            tag: req.tag,
        },
    )
    .await?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        access_key: AccessKeyJson,
    }
    let secret = key.secret.expose().to_string();
    payload(Reply {
        access_key: AccessKeyJson::new(key.meta, Some(secret)),
    })
}

async fn read_access_keys(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::ReadAccessKeysRequest = parse_body(body)?;
    user_name(req.user_name.as_deref())?;
    input::tag(req.tag.as_deref())?;
    let filters = req.filters.unwrap_or_default();
    let states = filters
        .states
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|s| input::state("Filters.States", s))
        .collect::<Result<Vec<_>, _>>()?;
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    let mut keys = Vec::new();
    let mut marker = None;
    loop {
        let page = core::list_access_keys(
            ctx,
            core::ListAccessKeys {
                user_name: req.user_name.clone(),
                page: PageRequest {
                    marker,
                    max_items: CORE_PAGE,
                },
            },
        )
        .await?;
        keys.extend(page.items);
        match page.next {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    let wanted_ids = filters.access_key_ids.as_deref();
    let access_keys: Vec<AccessKeyJson> = keys
        .into_iter()
        .filter(|k| wanted_ids.is_none_or(|ids| ids.contains(&k.access_key_id)))
        .filter(|k| states.is_empty() || states.contains(&k.status))
        .filter(|k| req.tag.is_none() || k.tag == req.tag)
        .map(|k| AccessKeyJson::new(k, None))
        .collect();
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        access_keys: Vec<AccessKeyJson>,
    }
    payload(Reply { access_keys })
}

async fn update_access_key(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::UpdateAccessKeyRequest = parse_body(body)?;
    user_name(req.user_name.as_deref())?;
    input::tag(req.tag.as_deref())?;
    let status = req
        .state
        .as_deref()
        .map(|s| input::state("State", s))
        .transpose()?;
    let date = expiration(req.expiration_date.as_deref())?;
    // As documented: without an ExpirationDate the key is set to never expire, and
    // ClearExpirationDate wins over an ExpirationDate.
    let expiration = match (req.clear_expiration_date == Some(true), date) {
        (true, _) | (false, None) => Change::Clear,
        (false, Some(d)) => Change::Set(d),
    };
    let tag = match (req.clear_tag == Some(true), req.tag) {
        (true, _) => Change::Clear,
        (false, Some(t)) => Change::Set(t),
        (false, None) => Change::Keep,
    };
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    let key = core::update_access_key(
        ctx,
        core::UpdateAccessKey {
            user_name: req.user_name,
            access_key_id: req.access_key_id,
            status,
            expiration,
            tag,
        },
    )
    .await?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        access_key: AccessKeyJson,
    }
    payload(Reply {
        access_key: AccessKeyJson::new(key, None),
    })
}

async fn delete_access_key(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::DeleteAccessKeyRequest = parse_body(body)?;
    user_name(req.user_name.as_deref())?;
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    core::delete_access_key(
        ctx,
        core::DeleteAccessKey {
            user_name: req.user_name,
            access_key_id: req.access_key_id,
            must_be_inactive: core::MustBeInactive::UsersKeys,
        },
    )
    .await?;
    Ok(empty())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserReply {
    user: UserJson,
}

async fn create_user(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::CreateUserRequest = parse_body(body)?;
    input::check("UserName", &req.user_name, &NEW_USER_NAME)?;
    input::path("Path", req.path.as_deref())?;
    input::email("UserEmail", req.user_email.as_deref())?;
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    let user = core::create_user(
        ctx,
        core::CreateUser {
            user_name: req.user_name,
            path: req.path.unwrap_or_else(|| "/".to_string()),
            email: req.user_email,
            ..core::CreateUser::default()
        },
    )
    .await?;
    payload(UserReply { user: user.into() })
}

async fn read_users(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::ReadUsersRequest = parse_body(body)?;
    let first = req.first_item.unwrap_or(0);
    if first < 0 {
        return Err(OscError::invalid_value(
            "FirstItem",
            "it must be 0 or more.",
        ));
    }
    let per_page = req.results_per_page.unwrap_or(DEFAULT_RESULTS_PER_PAGE);
    if !(1..=MAX_RESULTS_PER_PAGE).contains(&per_page) {
        return Err(OscError::invalid_value(
            "ResultsPerPage",
            &format!("it must be between 1 and {MAX_RESULTS_PER_PAGE}."),
        ));
    }
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    let wanted_ids = req.filters.unwrap_or_default().user_ids;
    let mut users = Vec::new();
    let mut marker = None;
    loop {
        let page = core::list_users(
            ctx,
            core::ListUsers {
                path_prefix: "/".to_string(),
                page: PageRequest {
                    marker,
                    max_items: CORE_PAGE,
                },
            },
        )
        .await?;
        users.extend(page.items.into_iter().filter(|u| {
            wanted_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&u.user_id))
        }));
        match page.next {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    let start = usize::try_from(first).unwrap_or(usize::MAX);
    let count = usize::try_from(per_page).unwrap_or(usize::MAX);
    let has_more = users.len() > start.saturating_add(count);
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        users: Vec<UserJson>,
        has_more_items: bool,
    }
    payload(Reply {
        users: users
            .into_iter()
            .skip(start)
            .take(count)
            .map(UserJson::from)
            .collect(),
        has_more_items: has_more,
    })
}

async fn update_user(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::UpdateUserRequest = parse_body(body)?;
    input::check("UserName", &req.user_name, &USER_NAME)?;
    input::check_opt("NewUserName", req.new_user_name.as_deref(), &NEW_USER_NAME)?;
    input::path("NewPath", req.new_path.as_deref())?;
    input::email("NewUserEmail", req.new_user_email.as_deref())?;
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    let user = core::update_user(
        ctx,
        core::UpdateUser {
            user_name: req.user_name,
            new_user_name: req.new_user_name,
            new_path: req.new_path,
            new_email: req.new_user_email,
        },
    )
    .await?;
    payload(UserReply { user: user.into() })
}

async fn delete_user(body: &[u8], ctx: &Ctx<'_>) -> Result<Value, OscError> {
    let req: input::DeleteUserRequest = parse_body(body)?;
    input::check("UserName", &req.user_name, &USER_NAME)?;
    if req.dry_run == Some(true) {
        return Ok(empty());
    }
    core::delete_user(
        ctx,
        core::DeleteUser {
            user_name: req.user_name,
        },
    )
    .await?;
    Ok(empty())
}
