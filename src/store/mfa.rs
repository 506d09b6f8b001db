//! Virtual MFA devices: create, enable for a user with two consecutive codes, deactivate, delete,
//! list, and check a code for GetSessionToken. Codes are checked inside the write's transaction,
//! which also records the step used, so no code is accepted twice.

use super::Store;
use super::cache::Invalidate;
use super::page::{encode_marker, paginate, start_key};
use super::rows::{user_by_name, user_row_at};
use crate::core::PageRequest;
use crate::error::{Error, Result};
use crate::model::{MFA_DEVICE_NAME, MfaDevice, PATH, Page, Secret, mfa_arn};
use crate::otp;
use crate::state::{MfaDeviceState, millis_to_rfc3339, rfc3339_to_millis};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Which devices ListVirtualMFADevices shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    Assigned,
    Unassigned,
    Any,
}

/// The device columns `device_row` reads, then the user's in `user_columns!` order (NULL when
/// the device is not enabled).
macro_rules! device_select {
    () => {
        concat!(
            "SELECT d.serial_number, d.name, d.path, d.seed, d.enable_date, d.create_date, ",
            "u.user_id, u.name, u.path, u.create_date, u.permissions_boundary, u.email, ",
            "u.last_modified FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id "
        )
    };
}

fn device_row(account_id: &str, r: &Row<'_>) -> rusqlite::Result<MfaDevice> {
    let user = match r.get::<_, Option<String>>(6)? {
        None => None,
        Some(_) => Some(user_row_at(account_id, r, 6)?),
    };
    Ok(MfaDevice {
        serial_number: r.get(0)?,
        account_id: account_id.to_string(),
        name: r.get(1)?,
        path: r.get(2)?,
        seed: Secret::new(r.get::<_, String>(3)?),
        user,
        enable_date: r.get(4)?,
        create_date: r.get(5)?,
    })
}

fn device(c: &Connection, account_id: &str, serial: &str) -> Result<MfaDevice> {
    c.prepare_cached(concat!(
        device_select!(),
        "WHERE d.account_id = ?1 AND d.serial_number = ?2"
    ))?
    .query_row([account_id, serial], |r| device_row(account_id, r))
    .optional()?
    .ok_or_else(|| Error::NoSuchMfaDevice {
        serial_number: serial.to_string(),
    })
}

fn last_step(c: &Connection, serial: &str) -> Result<u64> {
    let step: i64 = c
        .prepare_cached("SELECT last_step FROM mfa_devices WHERE serial_number = ?1")?
        .query_row([serial], |r| r.get(0))?;
    Ok(u64::try_from(step).unwrap_or(0))
}

fn set_last_step(c: &Connection, serial: &str, step: u64) -> Result<()> {
    c.prepare_cached("UPDATE mfa_devices SET last_step = ?2 WHERE serial_number = ?1")?
        .execute(params![serial, i64::try_from(step).unwrap_or(i64::MAX)])?;
    Ok(())
}

impl Store {
    pub async fn create_virtual_mfa_device(
        &self,
        account_id: &str,
        name: String,
        path: String,
        seed: Secret,
        now: i64,
    ) -> Result<MfaDevice> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let taken: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1 AND name = ?2",
                )?
                .query_row([&account_id, &name], |r| r.get(0))?;
            if taken > 0 {
                return Err(Error::MfaDeviceExists);
            }
            let serial_number = mfa_arn(&account_id, &path, &name);
            c.prepare_cached(
                "INSERT INTO mfa_devices (serial_number, account_id, name, path, seed, create_date)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                serial_number,
                account_id,
                name,
                path,
                seed.expose(),
                now
            ])?;
            Ok(MfaDevice {
                serial_number,
                account_id,
                name,
                path,
                seed,
                user: None,
                enable_date: None,
                create_date: now,
            })
        })
        .await
    }

    /// Enables the device for the user once `code1` and `code2` are two consecutive codes of it,
    /// the later one no more than one step from `now`.
    pub async fn enable_mfa_device(
        &self,
        account_id: &str,
        user_name: String,
        serial: String,
        codes: (String, String),
        now: i64,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let user = user_by_name(c, &account_id, &user_name)?;
            let device = device(c, &account_id, &serial)?;
            if device.user.is_some() {
                return Err(Error::MfaDeviceInUse);
            }
            // The pair may be the last two codes or straddle the current step (one step of drift).
            let current = otp::step_at(now);
            let first = current.saturating_sub(otp::SKEW_STEPS + 1);
            let seed = device.seed.expose();
            let step = otp::step_of(seed, &codes.0, first, current)
                .filter(|s| otp::step_of(seed, &codes.1, s + 1, s + 1).is_some())
                .ok_or(Error::InvalidAuthenticationCode)?;
            c.prepare_cached(
                "UPDATE mfa_devices SET user_id = ?2, enable_date = ?3, last_step = ?4
                 WHERE serial_number = ?1",
            )?
            .execute(params![
                serial,
                user.user_id,
                now,
                i64::try_from(step + 1).unwrap_or(i64::MAX)
            ])?;
            Ok(())
        })
        .await
    }

    /// Deactivates a user's device; a virtual device is then deleted, as IAM does.
    pub async fn deactivate_mfa_device(
        &self,
        account_id: &str,
        user_name: Option<String>,
        serial: String,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let user = user_name
                .map(|n| user_by_name(c, &account_id, &n))
                .transpose()?;
            let device = device(c, &account_id, &serial)?;
            let enabled_for = device.user.as_ref().map(|u| u.user_id.as_str());
            let matches = match &user {
                Some(u) => enabled_for == Some(u.user_id.as_str()),
                None => enabled_for.is_some(),
            };
            if !matches {
                return Err(Error::NoSuchMfaDevice {
                    serial_number: serial,
                });
            }
            c.prepare_cached("DELETE FROM mfa_devices WHERE serial_number = ?1")?
                .execute([&serial])?;
            Ok(())
        })
        .await
    }

    pub async fn delete_virtual_mfa_device(&self, account_id: &str, serial: String) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let device = device(c, &account_id, &serial)?;
            if device.user.is_some() {
                return Err(Error::MfaDeviceAssigned);
            }
            c.prepare_cached("DELETE FROM mfa_devices WHERE serial_number = ?1")?
                .execute([&serial])?;
            Ok(())
        })
        .await
    }

    /// The devices enabled for a user, in serial number order.
    pub async fn list_mfa_devices(
        &self,
        account_id: &str,
        user_name: &str,
        page: &PageRequest,
    ) -> Result<Page<MfaDevice>> {
        let start = start_key(page.marker.as_deref(), "m")?;
        let max = page.max_items;
        self.read(|c| {
            let user = user_by_name(c, account_id, user_name)?;
            let mut stmt = c.prepare_cached(concat!(
                device_select!(),
                "WHERE d.account_id = ?1 AND d.user_id = ?2 AND d.serial_number >= ?3
                 ORDER BY d.serial_number LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![account_id, user.user_id, start, max as i64 + 1],
                |r| device_row(account_id, r),
            )?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(paginate(items, max, |d| {
                encode_marker("m", &d.serial_number)
            }))
        })
    }

    pub async fn list_virtual_mfa_devices(
        &self,
        account_id: &str,
        assignment: Assignment,
        page: &PageRequest,
    ) -> Result<Page<MfaDevice>> {
        let start = start_key(page.marker.as_deref(), "v")?;
        let max = page.max_items;
        let (assigned, unassigned) = match assignment {
            Assignment::Assigned => (true, false),
            Assignment::Unassigned => (false, true),
            Assignment::Any => (true, true),
        };
        self.read(|c| {
            let mut stmt = c.prepare_cached(concat!(
                device_select!(),
                "WHERE d.account_id = ?1 AND d.serial_number >= ?2
                   AND ((d.user_id IS NOT NULL AND ?3) OR (d.user_id IS NULL AND ?4))
                 ORDER BY d.serial_number LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![account_id, start, assigned, unassigned, max as i64 + 1],
                |r| device_row(account_id, r),
            )?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(paginate(items, max, |d| {
                encode_marker("v", &d.serial_number)
            }))
        })
    }

    /// Whether the user has an MFA device (DeleteUser refuses while it has).
    pub(super) fn user_has_mfa_device(c: &Connection, user_id: &str) -> Result<bool> {
        let n: i64 = c
            .prepare_cached("SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?1")?
            .query_row([user_id], |r| r.get(0))?;
        Ok(n > 0)
    }

    /// Accepts `code` from the device `serial` enabled for the user `user_id` once: a code of the
    /// current step or one step either side, newer than any code accepted before.
    pub async fn use_mfa_code(
        &self,
        account_id: &str,
        user_id: Option<String>,
        serial: String,
        code: String,
        now: i64,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let device = match device(c, &account_id, &serial) {
                Ok(d) => d,
                Err(Error::NoSuchMfaDevice { .. }) => return Err(Error::MfaNotAssociated),
                Err(e) => return Err(e),
            };
            let enabled_for = device.user.as_ref().map(|u| u.user_id.clone());
            if user_id.is_none() || enabled_for != user_id {
                return Err(Error::MfaNotAssociated);
            }
            let current = otp::step_at(now);
            let first = (last_step(c, &serial)? + 1).max(current.saturating_sub(otp::SKEW_STEPS));
            let step = otp::step_of(
                device.seed.expose(),
                &code,
                first,
                current + otp::SKEW_STEPS,
            )
            .ok_or(Error::MfaCodeRejected)?;
            set_last_step(c, &serial, step)
        })
        .await
    }
}

/// The account's devices as the state document writes them (seeds included).
pub(super) fn export_devices(c: &Connection, account_id: &str) -> Result<Vec<MfaDeviceState>> {
    let mut stmt = c.prepare(concat!(
        device_select!(),
        "WHERE d.account_id = ?1 ORDER BY d.serial_number"
    ))?;
    let rows = stmt.query_map([account_id], |r| device_row(account_id, r))?;
    let mut out = Vec::new();
    for d in rows {
        let d = d?;
        out.push(MfaDeviceState {
            name: d.name,
            path: d.path,
            seed: d.seed.expose().to_string(),
            create_date: millis_to_rfc3339(d.create_date),
            user_name: d.user.map(|u| u.name),
            enable_date: d.enable_date.map(millis_to_rfc3339),
        });
    }
    Ok(out)
}

/// Writes a device (over one of the same serial number), enabled for `user_name` if given.
pub(super) fn put_device(
    c: &Connection,
    account_id: &str,
    device: &MfaDeviceState,
    now: i64,
) -> Result<()> {
    let invalid = |why: &str| {
        Error::invalid_state(format!(
            "MFA device '{}' of account {account_id}: {why}",
            device.name
        ))
    };
    if !MFA_DEVICE_NAME.check(&device.name) || !PATH.check(&device.path) {
        return Err(invalid("invalid name or path"));
    }
    if otp::code_at_step(&device.seed, 0).is_none() {
        return Err(invalid("the seed is not base32 of at least 16 bytes"));
    }
    let user_id = match &device.user_name {
        None => None,
        Some(name) => Some(
            user_by_name(c, account_id, name)
                .map_err(|_| invalid(&format!("no user named {name}")))?
                .user_id,
        ),
    };
    let date = |d: &Option<String>| -> Result<Option<i64>> {
        d.as_deref()
            .map(rfc3339_to_millis)
            .transpose()
            .map_err(Error::invalid_state)
    };
    // Seeds give no creation date: the device is created when the seed is first applied.
    let created = match device.create_date.as_str() {
        "" => now,
        d => rfc3339_to_millis(d).map_err(Error::invalid_state)?,
    };
    let enabled = match (&user_id, date(&device.enable_date)?) {
        (Some(_), None) => Some(now),
        (_, d) => d,
    };
    c.prepare_cached(
        "INSERT INTO mfa_devices (serial_number, account_id, name, path, seed, user_id,
            enable_date, create_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (serial_number) DO UPDATE SET seed = excluded.seed,
            user_id = excluded.user_id, enable_date = excluded.enable_date
         -- An enable date that only defaulted to now does not count as a change.
         WHERE (seed, user_id) IS NOT (excluded.seed, excluded.user_id)
            OR (?9 AND enable_date IS NOT excluded.enable_date)",
    )?
    .execute(params![
        mfa_arn(account_id, &device.path, &device.name),
        account_id,
        device.name,
        device.path,
        device.seed,
        user_id,
        enabled,
        created,
        device.enable_date.is_some(),
    ])
    .map_err(|e| invalid(&e.to_string()))?;
    Ok(())
}
