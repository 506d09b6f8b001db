//! Virtual MFA device actions on the AWS face: CreateVirtualMFADevice, EnableMFADevice,
//! DeactivateMFADevice, DeleteVirtualMFADevice, ListMFADevices and ListVirtualMFADevices.

use super::actions::QueryAction;
use super::error::{ApiError, ApiResult, ErrorCode};
use super::params::Params;
use super::validate::{
    ValidationStyle, Validator, optional_user_name, pagination, required_user_name,
};
use super::xml::{self, Listing, UserXml, timestamp};
use crate::core::{
    CreateVirtualMFADevice, DeactivateMFADevice, DeleteVirtualMFADevice, EnableMFADevice,
    ListMFADevices, ListVirtualMFADevices, NewMfaDevice,
};
use crate::model::{MFA_CODE, MFA_DEVICE_NAME, MFA_SERIAL, MfaDevice, PATH, Page, USER_NAME};
use crate::store::Assignment;
use data_encoding::BASE64;
use serde::Serialize;

fn validator() -> Validator {
    Validator::new(ValidationStyle::Iam)
}

fn required(params: &Params, v: &mut Validator, name: &str, field: &str) -> String {
    v.required(field, params.get(name))
        .unwrap_or_default()
        .to_string()
}

fn serial_number(params: &Params, v: &mut Validator) -> String {
    let serial = required(params, v, "SerialNumber", "serialNumber");
    if params.get("SerialNumber").is_some() {
        v.rule("serialNumber", &serial, &MFA_SERIAL);
    }
    serial
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NewDeviceXml {
    serial_number: String,
    /// Blobs are base64 on the wire: the base32 seed's text, and the PNG's bytes.
    base32_string_seed: String,
    #[serde(rename = "QRCodePNG")]
    qr_code_png: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateVirtualMFADeviceResult {
    #[serde(rename = "VirtualMFADevice")]
    virtual_mfa_device: NewDeviceXml,
}

impl QueryAction for CreateVirtualMFADevice {
    type Output = NewMfaDevice;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let name = required(
            params,
            &mut v,
            "VirtualMFADeviceName",
            "virtualMFADeviceName",
        );
        if params.get("VirtualMFADeviceName").is_some() {
            v.rule("virtualMFADeviceName", &name, &MFA_DEVICE_NAME);
        }
        let path = params.get("Path").unwrap_or("/");
        v.length("path", path, &PATH);
        let tagged = params.has_list("Tags");
        v.finish()?;
        if !PATH.pattern_ok(path) {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
            ));
        }
        if tagged {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "iamlite does not keep tags on MFA devices; create the device without Tags.",
            ));
        }
        Ok(CreateVirtualMFADevice {
            name,
            path: path.to_string(),
        })
    }

    fn render(new: NewMfaDevice) -> ApiResult<Option<String>> {
        let result = CreateVirtualMFADeviceResult {
            virtual_mfa_device: NewDeviceXml {
                serial_number: new.device.serial_number,
                base32_string_seed: BASE64.encode(new.device.seed.expose().as_bytes()),
                qr_code_png: BASE64.encode(&new.qr_code_png),
            },
        };
        xml::result("CreateVirtualMFADevice", &result).map(Some)
    }
}

impl QueryAction for EnableMFADevice {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = required_user_name(params, &mut v, &USER_NAME);
        let serial_number = serial_number(params, &mut v);
        let mut code = |name: &str, field: &str| {
            let code = required(params, &mut v, name, field);
            if params.get(name).is_some() {
                v.rule(field, &code, &MFA_CODE);
            }
            code
        };
        let authentication_code1 = code("AuthenticationCode1", "authenticationCode1");
        let authentication_code2 = code("AuthenticationCode2", "authenticationCode2");
        v.finish()?;
        Ok(EnableMFADevice {
            user_name,
            serial_number,
            authentication_code1,
            authentication_code2,
        })
    }

    fn render(_: ()) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

impl QueryAction for DeactivateMFADevice {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        let serial_number = serial_number(params, &mut v);
        v.finish()?;
        Ok(DeactivateMFADevice {
            user_name,
            serial_number,
        })
    }

    fn render(_: ()) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

impl QueryAction for DeleteVirtualMFADevice {
    type Output = ();

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let serial_number = serial_number(params, &mut v);
        v.finish()?;
        Ok(DeleteVirtualMFADevice { serial_number })
    }

    fn render(_: ()) -> ApiResult<Option<String>> {
        Ok(None)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MfaDeviceXml {
    user_name: String,
    serial_number: String,
    enable_date: String,
}

impl QueryAction for ListMFADevices {
    type Output = Page<MfaDevice>;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let user_name = optional_user_name(params, &mut v, &USER_NAME);
        let page = pagination(params, &mut v)?;
        v.finish()?;
        Ok(ListMFADevices { user_name, page })
    }

    fn render(page: Page<MfaDevice>) -> ApiResult<Option<String>> {
        let result = Listing::new("MFADevices", page, |d| MfaDeviceXml {
            user_name: d.user.map(|u| u.name).unwrap_or_default(),
            serial_number: d.serial_number,
            enable_date: timestamp(d.enable_date.unwrap_or(d.create_date)),
        });
        xml::result("ListMFADevices", &result).map(Some)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VirtualDeviceXml {
    serial_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserXml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_date: Option<String>,
}

impl QueryAction for ListVirtualMFADevices {
    type Output = Page<MfaDevice>;

    fn parse(params: &Params) -> ApiResult<Self> {
        let mut v = validator();
        let assignment = match params.get("AssignmentStatus") {
            None | Some("Any") => Assignment::Any,
            Some("Assigned") => Assignment::Assigned,
            Some("Unassigned") => Assignment::Unassigned,
            Some(other) => {
                v.constraint(
                    "assignmentStatus",
                    Some(other),
                    "Member must satisfy enum value set: [Unassigned, Any, Assigned]",
                );
                Assignment::Any
            }
        };
        let page = pagination(params, &mut v)?;
        v.finish()?;
        Ok(ListVirtualMFADevices { assignment, page })
    }

    fn render(page: Page<MfaDevice>) -> ApiResult<Option<String>> {
        let result = Listing::new("VirtualMFADevices", page, |d| VirtualDeviceXml {
            serial_number: d.serial_number,
            enable_date: d.user.as_ref().and(d.enable_date).map(timestamp),
            user: d.user.map(|u| UserXml::new(u, false)),
        });
        xml::result("ListVirtualMFADevices", &result).map(Some)
    }
}
