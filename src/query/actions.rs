//! The actions the AWS face answers: one variant per AWS action holding the core's typed input,
//! parsed before any state is touched, and the dispatch from each to the core and back to XML.

use super::AwsService;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use crate::core::{self, Ctx};
use crate::model::Flavor;

/// OUTSCALE's EIM takes any `Version` that is a date: osc-cli sends the day it runs.
fn accepts_dated_version(service: AwsService, version: &str, flavor: Flavor) -> bool {
    let date = time::macros::format_description!("[year]-[month]-[day]");
    flavor == Flavor::Outscale
        && service == AwsService::Iam
        && time::Date::parse(version, &date).is_ok()
}

/// How one action reads its parameters and writes its result.
pub(crate) trait QueryAction: Sized {
    /// What the core answers for it.
    type Output;
    fn parse(params: &Params) -> ApiResult<Self>;
    /// `Some` is the rendered `<ActionResult>` element; `None` an answer with metadata only.
    fn render(output: Self::Output) -> ApiResult<Option<String>>;
}

macro_rules! actions {
    ($( $service:ident $name:ident => $handler:ident ),* $(,)?) => {
        /// A parsed, validated request.
        #[derive(Debug)]
        pub enum Action {
            $( $name(core::$name), )*
        }

        /// Every action iamlite implements, with its service.
        pub const SUPPORTED: &[(AwsService, &str)] = &[ $( (AwsService::$service, stringify!($name)), )* ];

        impl Action {
            /// Reads `Action` and `Version`, then the action's own parameters.
            pub fn parse(service: AwsService, params: &Params, flavor: Flavor) -> ApiResult<Action> {
                let name = params.get("Action").ok_or_else(ApiError::missing_action)?;
                let version = params.get("Version").unwrap_or("NO_VERSION_SPECIFIED");
                if version == service.version() || accepts_dated_version(service, version, flavor) {
                    match name {
                        $( stringify!($name) if service == AwsService::$service => {
                            return Ok(Action::$name(<core::$name as QueryAction>::parse(params)?));
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

            /// Runs the action in the core and renders its `<ActionResult>`, if it has one.
            pub async fn execute(self, ctx: &Ctx<'_>) -> ApiResult<Option<String>> {
                match self {
                    $( Action::$name(input) => {
                        let output = core::$handler(ctx, input).await?;
                        <core::$name as QueryAction>::render(output)
                    } )*
                }
            }
        }
    };
}

actions! {
    Iam CreateAccessKey => create_access_key,
    Iam UpdateAccessKey => update_access_key,
    Iam DeleteAccessKey => delete_access_key,
    Iam ListAccessKeys => list_access_keys,
    Iam GetAccessKeyLastUsed => get_access_key_last_used,
    Iam CreateUser => create_user,
    Iam GetUser => get_user,
    Iam ListUsers => list_users,
    Iam UpdateUser => update_user,
    Iam DeleteUser => delete_user,
    Iam TagUser => tag_user,
    Iam UntagUser => untag_user,
    Iam ListUserTags => list_user_tags,
    Iam CreateVirtualMFADevice => create_virtual_mfa_device,
    Iam EnableMFADevice => enable_mfa_device,
    Iam DeactivateMFADevice => deactivate_mfa_device,
    Iam DeleteVirtualMFADevice => delete_virtual_mfa_device,
    Iam ListMFADevices => list_mfa_devices,
    Iam ListVirtualMFADevices => list_virtual_mfa_devices,
    Sts GetCallerIdentity => get_caller_identity,
    Sts GetAccessKeyInfo => get_access_key_info,
    Sts GetSessionToken => get_session_token,
}
