//! The actions, face-neutral: typed input in, typed output or an `Error` out.
//!
//! Faces (the AWS Query API today) parse their wire format into these inputs and render the
//! outputs; the rules that need a transaction (quotas, name uniqueness, DeleteConflict) are the
//! store's, so they hold under concurrency.

pub mod access_keys;
pub mod identity;
pub mod mfa;
pub mod sessions;
pub mod users;

pub use access_keys::{
    CreateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed, KeyLastUsed, ListAccessKeys,
    MustBeInactive, UpdateAccessKey, create_access_key, delete_access_key,
    get_access_key_last_used, list_access_keys, update_access_key,
};
pub use identity::{
    CallerIdentity, GetAccessKeyInfo, GetCallerIdentity, get_access_key_info, get_caller_identity,
};
pub use mfa::{
    CreateVirtualMFADevice, DeactivateMFADevice, DeleteVirtualMFADevice, EnableMFADevice,
    ListMFADevices, ListVirtualMFADevices, NewMfaDevice, create_virtual_mfa_device,
    deactivate_mfa_device, delete_virtual_mfa_device, enable_mfa_device, list_mfa_devices,
    list_virtual_mfa_devices,
};
pub use sessions::{GetSessionToken, SessionCredentials, get_session_token};
pub use users::{
    CreateUser, DeleteUser, GetUser, ListUserTags, ListUsers, TagUser, UntagUser, UpdateUser,
    UserView, create_user, delete_user, get_user, list_user_tags, list_users, tag_user, untag_user,
    update_user,
};

use crate::ids::IdGen;
use crate::model::Caller;
use crate::store::Store;
use std::sync::Arc;

/// What an action may use: the store, the id source, the verified caller and the request's time.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub ids: &'a Arc<IdGen>,
    pub caller: &'a Caller,
    /// The clock's time, in milliseconds since the Unix epoch.
    pub now: i64,
}

/// Which page of a listing: an opaque marker from the previous page, and the most items to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub marker: Option<String>,
    pub max_items: usize,
}
