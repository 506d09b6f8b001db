//! Virtual MFA devices: create, enable for a user with two consecutive codes, deactivate, delete,
//! list, and check a code for GetSessionToken. Codes are checked inside the write's transaction,
//! which also records the step used, so no code is accepted twice.

use super::cache::Invalidate;
use super::page::{encode_marker, paginate, start_key};
use super::rows::{lock_user, named_user_id, user_by_name, user_row_at};
use super::tx::{Row, Tx, args, sql};
use super::{Store, read_tx, write_tx};
use crate::core::PageRequest;
use crate::error::{Error, Result};
use crate::model::{MFA_DEVICE_NAME, MfaDevice, PATH, Page, Secret, mfa_arn};
use crate::otp;
use crate::state::{MfaDeviceState, millis_to_rfc3339, rfc3339_to_millis};

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

fn device_row(account_id: &str, r: &Row) -> Result<MfaDevice> {
    let user = match r.is_null(6)? {
        true => None,
        false => Some(user_row_at(account_id, r, 6)?),
    };
    Ok(MfaDevice {
        serial_number: r.text(0)?,
        account_id: account_id.to_string(),
        name: r.text(1)?,
        path: r.text(2)?,
        seed: Secret::new(r.text(3)?),
        user,
        enable_date: r.opt_int(4)?,
        create_date: r.int(5)?,
    })
}

/// The device, its row locked until the transaction ends (so two nodes cannot both accept
/// one code, or both enable the device).
async fn device(tx: &mut impl Tx, account_id: &str, serial: &str) -> Result<MfaDevice> {
    let row = tx
        .query_opt(
            &sql!(
                sqlite: concat!(device_select!(), "WHERE d.account_id = $1 AND d.serial_number = $2"),
                postgres: concat!(
                    device_select!(),
                    "WHERE d.account_id = $1 AND d.serial_number = $2 FOR UPDATE OF d"
                ),
            ),
            args![account_id, serial],
        )
        .await?;
    match row {
        Some(r) => device_row(account_id, &r),
        None => Err(Error::NoSuchMfaDevice {
            serial_number: serial.to_string(),
        }),
    }
}

async fn last_step(tx: &mut impl Tx, serial: &str) -> Result<u64> {
    let step = tx
        .count(
            &sql!("SELECT last_step FROM mfa_devices WHERE serial_number = $1"),
            args![serial],
        )
        .await?;
    Ok(u64::try_from(step).unwrap_or(0))
}

async fn set_last_step(tx: &mut impl Tx, serial: &str, step: u64) -> Result<()> {
    tx.execute(
        &sql!("UPDATE mfa_devices SET last_step = $2 WHERE serial_number = $1"),
        args![serial, i64::try_from(step).unwrap_or(i64::MAX)],
    )
    .await?;
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
        write_tx!(self, Invalidate::Nothing, |tx| create_device(
            tx,
            &account_id,
            &name,
            &path,
            &seed,
            now
        ))
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
        write_tx!(self, Invalidate::Nothing, |tx| enable_device(
            tx,
            &account_id,
            &user_name,
            &serial,
            &codes,
            now
        ))
    }

    /// Deactivates a user's device; a virtual device is then deleted, as IAM does.
    pub async fn deactivate_mfa_device(
        &self,
        account_id: &str,
        user_name: Option<String>,
        serial: String,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        write_tx!(self, Invalidate::Nothing, |tx| deactivate_device(
            tx,
            &account_id,
            user_name.as_deref(),
            &serial
        ))
    }

    pub async fn delete_virtual_mfa_device(&self, account_id: &str, serial: String) -> Result<()> {
        let account_id = account_id.to_string();
        write_tx!(self, Invalidate::Nothing, |tx| delete_device(
            tx,
            &account_id,
            &serial
        ))
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
        let items = read_tx!(self, |tx| list_user_devices(
            tx,
            account_id,
            user_name,
            &start,
            max as i64 + 1
        ))?;
        Ok(paginate(items, max, |d| {
            encode_marker("m", &d.serial_number)
        }))
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
        let rows = read_tx!(self, |tx| tx.query(
            &sql!(concat!(
                device_select!(),
                "WHERE d.account_id = $1 AND d.serial_number >= $2
                   AND ((d.user_id IS NOT NULL AND $3) OR (d.user_id IS NULL AND $4))
                 ORDER BY d.serial_number LIMIT $5"
            )),
            args![account_id, &start, assigned, unassigned, max as i64 + 1]
        ))?;
        let items = rows
            .iter()
            .map(|r| device_row(account_id, r))
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(items, max, |d| {
            encode_marker("v", &d.serial_number)
        }))
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
        write_tx!(self, Invalidate::Nothing, |tx| use_code(
            tx,
            &account_id,
            user_id.as_deref(),
            &serial,
            &code,
            now
        ))
    }
}

/// Whether the user has an MFA device (DeleteUser refuses while it has).
pub(super) async fn user_has_mfa_device(tx: &mut impl Tx, user_id: &str) -> Result<bool> {
    let n = tx
        .count(
            &sql!("SELECT COUNT(*) FROM mfa_devices WHERE user_id = $1"),
            args![user_id],
        )
        .await?;
    Ok(n > 0)
}

async fn create_device(
    tx: &mut impl Tx,
    account_id: &str,
    name: &str,
    path: &str,
    seed: &Secret,
    now: i64,
) -> Result<MfaDevice> {
    let serial_number = mfa_arn(account_id, path, name);
    // The unique (account, name) index decides between two nodes creating the same name.
    let inserted = tx
        .execute_unique(
            &sql!(
                "INSERT INTO mfa_devices (serial_number, account_id, name, path, seed, create_date)
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            args![&serial_number, account_id, name, path, seed.expose(), now],
        )
        .await?;
    if inserted.is_none() {
        return Err(Error::MfaDeviceExists);
    }
    Ok(MfaDevice {
        serial_number,
        account_id: account_id.to_string(),
        name: name.to_string(),
        path: path.to_string(),
        seed: seed.clone(),
        user: None,
        enable_date: None,
        create_date: now,
    })
}

async fn enable_device(
    tx: &mut impl Tx,
    account_id: &str,
    user_name: &str,
    serial: &str,
    codes: &(String, String),
    now: i64,
) -> Result<()> {
    let user = lock_user(tx, account_id, user_name).await?;
    let device = device(tx, account_id, serial).await?;
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
    tx.execute(
        &sql!(
            "UPDATE mfa_devices SET user_id = $2, enable_date = $3, last_step = $4
             WHERE serial_number = $1"
        ),
        args![
            serial,
            &user.user_id,
            now,
            i64::try_from(step + 1).unwrap_or(i64::MAX)
        ],
    )
    .await?;
    Ok(())
}

async fn deactivate_device(
    tx: &mut impl Tx,
    account_id: &str,
    user_name: Option<&str>,
    serial: &str,
) -> Result<()> {
    let user = match user_name {
        Some(n) => Some(user_by_name(tx, account_id, n).await?),
        None => None,
    };
    let device = device(tx, account_id, serial).await?;
    let enabled_for = device.user.as_ref().map(|u| u.user_id.as_str());
    let matches = match &user {
        Some(u) => enabled_for == Some(u.user_id.as_str()),
        None => enabled_for.is_some(),
    };
    if !matches {
        return Err(Error::NoSuchMfaDevice {
            serial_number: serial.to_string(),
        });
    }
    tx.execute(
        &sql!("DELETE FROM mfa_devices WHERE serial_number = $1"),
        args![serial],
    )
    .await?;
    Ok(())
}

async fn delete_device(tx: &mut impl Tx, account_id: &str, serial: &str) -> Result<()> {
    let device = device(tx, account_id, serial).await?;
    if device.user.is_some() {
        return Err(Error::MfaDeviceAssigned);
    }
    tx.execute(
        &sql!("DELETE FROM mfa_devices WHERE serial_number = $1"),
        args![serial],
    )
    .await?;
    Ok(())
}

async fn list_user_devices(
    tx: &mut impl Tx,
    account_id: &str,
    user_name: &str,
    start: &str,
    limit: i64,
) -> Result<Vec<MfaDevice>> {
    let user = user_by_name(tx, account_id, user_name).await?;
    let rows = tx
        .query(
            &sql!(concat!(
                device_select!(),
                "WHERE d.account_id = $1 AND d.user_id = $2 AND d.serial_number >= $3
                 ORDER BY d.serial_number LIMIT $4"
            )),
            args![account_id, &user.user_id, start, limit],
        )
        .await?;
    rows.iter().map(|r| device_row(account_id, r)).collect()
}

async fn use_code(
    tx: &mut impl Tx,
    account_id: &str,
    user_id: Option<&str>,
    serial: &str,
    code: &str,
    now: i64,
) -> Result<()> {
    let device = match device(tx, account_id, serial).await {
        Ok(d) => d,
        Err(Error::NoSuchMfaDevice { .. }) => return Err(Error::MfaNotAssociated),
        Err(e) => return Err(e),
    };
    let enabled_for = device.user.as_ref().map(|u| u.user_id.as_str());
    if user_id.is_none() || enabled_for != user_id {
        return Err(Error::MfaNotAssociated);
    }
    let current = otp::step_at(now);
    let first = (last_step(tx, serial).await? + 1).max(current.saturating_sub(otp::SKEW_STEPS));
    let step = otp::step_of(device.seed.expose(), code, first, current + otp::SKEW_STEPS)
        .ok_or(Error::MfaCodeRejected)?;
    set_last_step(tx, serial, step).await
}

/// The account's devices as the state document writes them (seeds included).
pub(super) async fn export_devices(
    tx: &mut impl Tx,
    account_id: &str,
) -> Result<Vec<MfaDeviceState>> {
    let rows = tx
        .query(
            &sql!(concat!(
                device_select!(),
                "WHERE d.account_id = $1 ORDER BY d.serial_number"
            )),
            args![account_id],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let d = device_row(account_id, r)?;
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
pub(super) async fn put_device(
    tx: &mut impl Tx,
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
    let user_id = named_user_id(tx, account_id, device.user_name.as_deref(), invalid).await?;
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
    let serial = mfa_arn(account_id, &device.path, &device.name);
    let written = tx
        .execute_unique(
            &sql!(
                "INSERT INTO mfa_devices (serial_number, account_id, name, path, seed, user_id,
                    enable_date, create_date)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (serial_number) DO UPDATE SET seed = excluded.seed,
                    user_id = excluded.user_id, enable_date = excluded.enable_date
                 -- An enable date that only defaulted to now does not count as a change.
                 WHERE mfa_devices.seed <> excluded.seed
                    OR mfa_devices.user_id IS DISTINCT FROM excluded.user_id
                    OR ($9 AND mfa_devices.enable_date IS DISTINCT FROM excluded.enable_date)"
            ),
            args![
                &serial,
                account_id,
                &device.name,
                &device.path,
                &device.seed,
                &user_id,
                enabled,
                created,
                device.enable_date.is_some(),
            ],
        )
        .await?;
    if written.is_none() {
        return Err(invalid("another device of the account has that name"));
    }
    Ok(())
}
