//! Virtual MFA devices: create one with its seed and QR code, enable it for a user with two
//! consecutive codes, deactivate, delete and list.

use super::{Ctx, PageRequest};
use crate::error::{Error, Result};
use crate::model::{MfaDevice, Page};
use crate::otp;
use crate::store::Assignment;

#[derive(Debug, Clone)]
pub struct CreateVirtualMFADevice {
    pub name: String,
    pub path: String,
}

/// A new device with what an authenticator app needs: its seed and the QR code of its URI.
#[derive(Debug, Clone)]
pub struct NewMfaDevice {
    pub device: MfaDevice,
    pub qr_code_png: Vec<u8>,
}

pub async fn create_virtual_mfa_device(
    ctx: &Ctx<'_>,
    input: CreateVirtualMFADevice,
) -> Result<NewMfaDevice> {
    let account = &ctx.caller.account_id;
    let seed = ctx.ids.mfa_seed();
    // The URI names the device and, as no user has it yet, the account.
    let uri = otp::otpauth_uri(&input.name, account, seed.expose());
    let qr_code_png = otp::qr_png(&uri).ok_or_else(|| {
        tracing::error!("cannot draw the QR code of a new MFA device");
        Error::Storage
    })?;
    let device = ctx
        .store
        .create_virtual_mfa_device(account, input.name, input.path, seed, ctx.now)
        .await?;
    Ok(NewMfaDevice {
        device,
        qr_code_png,
    })
}

#[derive(Debug, Clone)]
pub struct EnableMFADevice {
    pub user_name: String,
    pub serial_number: String,
    pub authentication_code1: String,
    pub authentication_code2: String,
}

pub async fn enable_mfa_device(ctx: &Ctx<'_>, input: EnableMFADevice) -> Result<()> {
    ctx.store
        .enable_mfa_device(
            &ctx.caller.account_id,
            input.user_name,
            input.serial_number,
            (input.authentication_code1, input.authentication_code2),
            ctx.now,
        )
        .await
}

#[derive(Debug, Clone)]
pub struct DeactivateMFADevice {
    pub user_name: Option<String>,
    pub serial_number: String,
}

/// A virtual device is deleted when deactivated, as IAM does (it no longer lists it).
pub async fn deactivate_mfa_device(ctx: &Ctx<'_>, input: DeactivateMFADevice) -> Result<()> {
    ctx.store
        .deactivate_mfa_device(&ctx.caller.account_id, input.user_name, input.serial_number)
        .await
}

#[derive(Debug, Clone)]
pub struct DeleteVirtualMFADevice {
    pub serial_number: String,
}

pub async fn delete_virtual_mfa_device(ctx: &Ctx<'_>, input: DeleteVirtualMFADevice) -> Result<()> {
    ctx.store
        .delete_virtual_mfa_device(&ctx.caller.account_id, input.serial_number)
        .await
}

#[derive(Debug, Clone)]
pub struct ListMFADevices {
    /// `None`: the calling user's own devices.
    pub user_name: Option<String>,
    pub page: PageRequest,
}

pub async fn list_mfa_devices(ctx: &Ctx<'_>, input: ListMFADevices) -> Result<Page<MfaDevice>> {
    let name = match (input.user_name, &ctx.caller.principal) {
        (Some(name), _) => name,
        (None, crate::model::Principal::User { name, .. }) => name.clone(),
        // The root user's own devices are managed in the console, not through this API.
        (None, crate::model::Principal::Root) => {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
    };
    ctx.store
        .list_mfa_devices(&ctx.caller.account_id, &name, &input.page)
        .await
}

#[derive(Debug, Clone)]
pub struct ListVirtualMFADevices {
    pub assignment: Assignment,
    pub page: PageRequest,
}

pub async fn list_virtual_mfa_devices(
    ctx: &Ctx<'_>,
    input: ListVirtualMFADevices,
) -> Result<Page<MfaDevice>> {
    ctx.store
        .list_virtual_mfa_devices(&ctx.caller.account_id, input.assignment, &input.page)
        .await
}
