//! The actions iamlite answers: one enum variant per AWS action holding its validated input, parsed
//! before any state is touched, and the dispatch to each action's handler.

pub mod access_keys;
pub mod sts;
pub mod users;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids::IdGen;
use crate::model::{
    Caller, TAG_KEY_PATTERN, TAG_VALUE_PATTERN, TAGS_PER_USER, Tag, ValidationStyle, Validator,
    is_valid_tag_key, is_valid_tag_value,
};
use crate::query::Params;
use crate::store::Store;
use crate::xml::{IAM_NAMESPACE, STS_NAMESPACE};

/// The two AWS services served on one endpoint; the SigV4 scope says which one a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
}

impl Service {
    pub fn from_scope(name: &str) -> Option<Service> {
        match name {
            "iam" => Some(Service::Iam),
            "sts" => Some(Service::Sts),
            _ => None,
        }
    }

    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Service::Iam => "2010-05-08",
            Service::Sts => "2011-06-15",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Service::Iam => IAM_NAMESPACE,
            Service::Sts => STS_NAMESPACE,
        }
    }

    pub fn validation_style(self) -> ValidationStyle {
        match self {
            Service::Iam => ValidationStyle::Iam,
            Service::Sts => ValidationStyle::Sts,
        }
    }
}

/// What a handler may use: the store, the id source, the verified caller and the request's time.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub ids: &'a IdGen,
    pub caller: &'a Caller,
    /// Milliseconds since the Unix epoch.
    pub now: i64,
}

macro_rules! actions {
    ($( $service:ident $name:ident => $module:ident :: $handler:ident ),* $(,)?) => {
        /// A parsed, validated request.
        #[derive(Debug)]
        pub enum Action {
            $( $name($module::$name), )*
        }

        /// Every action iamlite implements, with its service.
        pub const SUPPORTED: &[(Service, &str)] = &[ $( (Service::$service, stringify!($name)), )* ];

        impl Action {
            /// Reads `Action` and `Version`, then the action's own parameters.
            pub fn parse(service: Service, params: &Params) -> ApiResult<Action> {
                let name = params.get("Action").ok_or_else(ApiError::missing_action)?;
                let version = params.get("Version").unwrap_or("NO_VERSION_SPECIFIED");
                if version == service.version() {
                    match name {
                        $( stringify!($name) if service == Service::$service => {
                            return Ok(Action::$name($module::$name::parse(params)?));
                        } )*
                        _ => {}
                    }
                }
                Err(ApiError::invalid_action(name, version))
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $( Action::$name(_) => stringify!($name), )*
                }
            }

            /// Runs the action; `Some` is the rendered `<ActionResult>` element.
            pub async fn execute(self, ctx: &Ctx<'_>) -> ApiResult<Option<String>> {
                match self {
                    $( Action::$name(input) => $module::$handler(ctx, input).await, )*
                }
            }
        }
    };
}

actions! {
    Iam CreateAccessKey => access_keys::create_access_key,
    Iam UpdateAccessKey => access_keys::update_access_key,
    Iam DeleteAccessKey => access_keys::delete_access_key,
    Iam ListAccessKeys => access_keys::list_access_keys,
    Iam GetAccessKeyLastUsed => access_keys::get_access_key_last_used,
    Iam CreateUser => users::create_user,
    Iam GetUser => users::get_user,
    Iam ListUsers => users::list_users,
    Iam UpdateUser => users::update_user,
    Iam DeleteUser => users::delete_user,
    Iam TagUser => users::tag_user,
    Iam UntagUser => users::untag_user,
    Iam ListUserTags => users::list_user_tags,
    Sts GetCallerIdentity => sts::get_caller_identity,
    Sts GetAccessKeyInfo => sts::get_access_key_info,
}

// --- parameter helpers shared by the action modules -------------------------------------------

pub(crate) fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

/// `Marker` and `MaxItems` of the IAM list actions.
#[derive(Debug)]
pub struct Pagination {
    pub marker: Option<String>,
    pub max_items: usize,
}

pub const DEFAULT_MAX_ITEMS: usize = 100;
pub const MAX_MAX_ITEMS: usize = 1000;

impl Pagination {
    pub fn parse(params: &Params, v: &mut Validator) -> ApiResult<Pagination> {
        let marker = params.get("Marker");
        if let Some(m) = marker {
            let ok = !m.is_empty() && m.chars().all(|c| ('\u{20}'..='\u{ff}').contains(&c));
            v.text("marker", m, (1, 320), ok, crate::model::MARKER_PATTERN);
        }
        let max_items = match params.get("MaxItems") {
            None => DEFAULT_MAX_ITEMS,
            Some(raw) => {
                // AWS reads integers as Java ints: empty, non-numeric (spaces included) and
                // out-of-i32 values fail to decode before any validation (measured on STS).
                if raw.is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::MalformedInput,
                        "missing value for decimal type",
                    ));
                }
                let n = i64::from(raw.parse::<i32>().map_err(|_| {
                    ApiError::new(
                        ErrorCode::MalformedInput,
                        format!("Invalid value for parameter MaxItems: '{raw}' is not an integer."),
                    )
                })?);
                if n < 1 {
                    v.constraint(
                        "maxItems",
                        Some(raw),
                        "Member must have value greater than or equal to 1",
                    );
                } else if n > MAX_MAX_ITEMS as i64 {
                    v.constraint(
                        "maxItems",
                        Some(raw),
                        &format!("Member must have value less than or equal to {MAX_MAX_ITEMS}"),
                    );
                }
                n.clamp(1, MAX_MAX_ITEMS as i64) as usize
            }
        };
        Ok(Pagination {
            marker: owned(marker),
            max_items,
        })
    }
}

/// `Tags.member.N.Key/Value` with AWS's per-tag constraints; `None` if the list was not sent.
pub fn parse_tags(params: &Params, v: &mut Validator) -> Option<Vec<Tag>> {
    if !params.has_list("Tags") {
        return None;
    }
    let members = params.members("Tags");
    if members.len() > TAGS_PER_USER {
        v.constraint(
            "tags",
            Some(""),
            &format!("Member must have length less than or equal to {TAGS_PER_USER}"),
        );
        return Some(Vec::new());
    }
    let mut tags = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let n = i + 1;
        let key_field = format!("tags.{n}.member.key");
        let value_field = format!("tags.{n}.member.value");
        let key = v.required(&key_field, m.get("Key").copied());
        let value = v.required(&value_field, m.get("Value").copied());
        if let Some(key) = key {
            let ok = is_valid_tag_key(key);
            v.text(&key_field, key, (1, 128), ok, TAG_KEY_PATTERN);
        }
        if let Some(value) = value {
            let ok = is_valid_tag_value(value);
            v.text(&value_field, value, (0, 256), ok, TAG_VALUE_PATTERN);
        }
        if let (Some(key), Some(value)) = (key, value) {
            tags.push(Tag {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }
    Some(tags)
}

/// Tag keys are compared without regard to case; a request naming one twice is refused.
pub fn check_duplicate_tag_keys(tags: &[Tag]) -> ApiResult<()> {
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if !seen.insert(t.key.to_lowercase()) {
            return Err(ApiError::duplicate_tag_keys());
        }
    }
    Ok(())
}
