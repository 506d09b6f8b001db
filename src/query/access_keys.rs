//! Access-key actions on the AWS face: CreateAccessKey, UpdateAccessKey, DeleteAccessKey,
//! ListAccessKeys and GetAccessKeyLastUsed, read from Query parameters and written as IAM's XML.

use super::actions::QueryAction;
use super::error::{ApiError, ApiResult, ErrorCode};
use super::params::Params;
use super::validate::{
    ValidationStyle, Validator, optional_user_name, pagination, required_key_id,
};
use super::xml::{self, Listing, timestamp};
use crate::core::{
    CreateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed, KeyLastUsed, ListAccessKeys,
    MustBeInactive, UpdateAccessKey,
};
use crate::model::{AccessKeyMeta, Change, CreatedKey, KeyStatus, Page, USER_NAME};
use serde::Serialize;

/// What `ServiceName` and `Region` say for a key that was never used.
const NOT_USED: &str = "N/A";

fn validator() -> Validator {
    Validator::new(ValidationStyle::Iam)
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
            // `Expired` is in IAM's status enum; it is how IAM shows a key past its expiration.
            status: if meta.expired {
                "Expired"
            } else {
                meta.status.as_str()
            },
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

impl QueryAction for CreateAccessKey {
    type Output = CreatedKey;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        v.finish()?;
        Ok(CreateAccessKey {
            user_name,
            ..CreateAccessKey::default()
        })
    }

    fn render(key: CreatedKey) -> ApiResult<Option<String>> {
        let result = CreateAccessKeyResult {
            access_key: AccessKeyXml::new(key.meta, Some(key.secret.expose().to_string())),
        };
        xml::result("CreateAccessKey", &result).map(Some)
    }
}

impl QueryAction for UpdateAccessKey {
    type Output = AccessKeyMeta;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        let access_key_id = required_key_id(params, &mut v);
        let status = match v.required("status", params.get("Status")) {
            Some("Expired") | None => None,
            Some(s) => KeyStatus::parse(s).or_else(|| {
                v.constraint("status", Some(s), "Member must satisfy enum value set");
                None
            }),
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
            status: Some(status),
            expiration: Change::Keep,
            tag: Change::Keep,
        })
    }

    fn render(_: AccessKeyMeta) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

impl QueryAction for DeleteAccessKey {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        let access_key_id = required_key_id(params, &mut v);
        v.finish()?;
        Ok(DeleteAccessKey {
            user_name,
            access_key_id,
            must_be_inactive: MustBeInactive::Never,
        })
    }

    fn render(_: ()) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

impl QueryAction for ListAccessKeys {
    type Output = Page<AccessKeyMeta>;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        let page = pagination(params, &mut v)?;
        v.finish()?;
        Ok(ListAccessKeys { user_name, page })
    }

    fn render(page: Page<AccessKeyMeta>) -> ApiResult<Option<String>> {
        let result = Listing::new("AccessKeyMetadata", page, |k| AccessKeyXml::new(k, None));
        xml::result("ListAccessKeys", &result).map(Some)
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

impl QueryAction for GetAccessKeyLastUsed {
    type Output = KeyLastUsed;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let access_key_id = required_key_id(params, &mut v);
        v.finish()?;
        Ok(GetAccessKeyLastUsed { access_key_id })
    }

    fn render(key: KeyLastUsed) -> ApiResult<Option<String>> {
        let access_key_last_used = match key.last_used {
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
            user_name: key.user_name,
            access_key_last_used,
        };
        xml::result("GetAccessKeyLastUsed", &result).map(Some)
    }
}
