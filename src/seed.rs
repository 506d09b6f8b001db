//! Seed files: accounts, users and access keys known before start-up, read from TOML and checked
//! against AWS's formats, with errors that name the file, the line and the reason.

use crate::clock::parse_iso8601;
use crate::model::{
    ACCESS_KEYS_PER_USER, EMAIL, KEY_TAG, KeyStatus, MFA_DEVICE_NAME, NEW_USER_NAME,
    OUTSCALE_ACCESS_KEYS_PER_USER, PATH, Secret, Tag, check_tags, is_account_id,
    is_outscale_access_key_id,
};
use crate::state::MfaDeviceState;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use toml::Spanned;

/// A validated seed: what the store should contain at start-up and after a reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    pub accounts: Vec<SeedAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedAccount {
    pub id: String,
    pub root_keys: Vec<SeedKey>,
    pub users: Vec<SeedUser>,
    /// The root user's login (an email address) for OUTSCALE's login/password authentication.
    pub login: Option<String>,
    pub password: Option<Secret>,
    /// Virtual MFA devices, with their seeds, so that a test can compute their codes.
    pub mfa_devices: Vec<MfaDeviceState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedUser {
    pub name: String,
    pub path: String,
    pub tags: Vec<Tag>,
    pub access_keys: Vec<SeedKey>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedKey {
    pub id: String,
    pub secret: Secret,
    pub status: KeyStatus,
    /// Milliseconds since the Unix epoch; `None` means "when first loaded".
    pub create_date: Option<i64>,
    /// When the key stops working; `None`: never.
    pub expiration: Option<i64>,
    pub tag: Option<String>,
}

impl Seed {
    /// The default account of the configuration, with its root key, ahead of the file's accounts.
    pub fn with_default_account(
        mut self,
        account_id: &str,
        root_key_id: &str,
        secret: &Secret,
    ) -> Seed {
        let root = SeedKey {
            id: root_key_id.to_string(),
            secret: secret.clone(),
            status: KeyStatus::Active,
            create_date: None,
            expiration: None,
            tag: None,
        };
        match self.accounts.iter_mut().find(|a| a.id == account_id) {
            Some(account) => {
                account.root_keys.retain(|k| k.id != root_key_id);
                account.root_keys.insert(0, root);
            }
            None => self.accounts.insert(
                0,
                SeedAccount {
                    id: account_id.to_string(),
                    root_keys: vec![root],
                    users: Vec::new(),
                    login: None,
                    password: None,
                    mfa_devices: Vec::new(),
                },
            ),
        }
        self
    }

    /// Reads and checks a seed file.
    pub fn load(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|e| SeedError {
            file: path.display().to_string(),
            line: None,
            reason: format!("cannot read: {e}"),
        })?;
        Seed::parse(&text, &path.display().to_string())
    }

    /// Parses seed TOML; `file` names the source in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Seed, SeedError> {
        let raw: RawSeed = toml::from_str(text).map_err(|e| SeedError {
            file: file.to_string(),
            line: e.span().map(|s| line_of(text, s.start)),
            reason: e.message().trim().to_string(),
        })?;
        let mut checker = Checker {
            text,
            file,
            key_ids: HashSet::new(),
        };
        let accounts = raw
            .accounts
            .into_iter()
            .map(|a| checker.account(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashSet::new();
        for a in &accounts {
            if !seen.insert(a.id.clone()) {
                return Err(SeedError {
                    file: file.to_string(),
                    line: None,
                    reason: format!("account {} is listed twice", a.id),
                });
            }
        }
        Ok(Seed { accounts })
    }
}

/// Why a seed file was refused: the file, the 1-based line when known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for SeedError {}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `AKIA` + 16 characters of RFC 4648 base32, as every long-term AWS key id.
pub fn is_aws_access_key_id(id: &str) -> bool {
    id.len() == 20
        && id.starts_with("AKIA")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// 40 characters of `A–Z a–z 0–9 + /`, as every AWS secret access key.
pub fn is_aws_secret(secret: &str) -> bool {
    secret.len() == 40
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: Spanned<String>,
    root_access_key_id: Option<Spanned<String>>,
    root_secret_access_key: Option<Spanned<String>>,
    login: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    mfa_devices: Vec<RawMfaDevice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMfaDevice {
    name: Spanned<String>,
    path: Option<String>,
    seed: Spanned<String>,
    /// The user the device is enabled for.
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    path: Option<Spanned<String>>,
    tags: Option<Spanned<BTreeMap<String, String>>>,
    email: Option<Spanned<String>>,
    #[serde(default)]
    access_keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: Spanned<String>,
    secret: Spanned<String>,
    status: Option<Spanned<String>>,
    create_date: Option<Spanned<String>>,
    expiration_date: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
}

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
    key_ids: HashSet<String>,
}

impl Checker<'_> {
    fn err<T>(&self, at: usize, reason: String) -> Result<T, SeedError> {
        Err(SeedError {
            file: self.file.to_string(),
            line: Some(line_of(self.text, at)),
            reason,
        })
    }

    fn key(&mut self, k: RawKey) -> Result<SeedKey, SeedError> {
        let id = k.id.get_ref();
        if !is_aws_access_key_id(id) && !is_outscale_access_key_id(id) {
            return self.err(
                k.id.span().start,
                format!("access key id '{id}' is not in AWS's format (AKIA followed by 16 characters of A-Z and 2-7) or OUTSCALE's (20 characters of A-Z and 0-9)"),
            );
        }
        if !self.key_ids.insert(id.clone()) {
            return self.err(
                k.id.span().start,
                format!("access key id '{id}' is listed twice"),
            );
        }
        if !is_aws_secret(k.secret.get_ref()) {
            // The secret itself stays out of the message.
            return self.err(
                k.secret.span().start,
                format!("the secret of access key '{id}' is not in AWS's format (40 characters of A-Z, a-z, 0-9, + and /)"),
            );
        }
        let status = match &k.status {
            None => KeyStatus::Active,
            Some(s) => match KeyStatus::parse(s.get_ref()) {
                Some(status) => status,
                None => {
                    return self.err(
                        s.span().start,
                        format!("status '{}' must be Active or Inactive", s.get_ref()),
                    );
                }
            },
        };
        let create_date = match &k.create_date {
            None => None,
            Some(d) => {
                let parsed = time::OffsetDateTime::parse(
                    d.get_ref(),
                    &time::format_description::well_known::Rfc3339,
                );
                match parsed {
                    Ok(t) => Some(crate::clock::unix_millis(t)),
                    Err(_) => {
                        return self.err(
                            d.span().start,
                            format!("create_date '{}' is not an RFC 3339 timestamp such as 2024-01-31T12:00:00Z", d.get_ref()),
                        );
                    }
                }
            }
        };
        let expiration = match &k.expiration_date {
            None => None,
            Some(d) => match parse_iso8601(d.get_ref()) {
                Some(ms) => Some(ms),
                None => {
                    return self.err(
                        d.span().start,
                        format!("expiration_date '{}' is not an ISO 8601 date or date and time such as 2063-04-05 or 2063-04-05T00:00:00Z", d.get_ref()),
                    );
                }
            },
        };
        let tag = match k.tag {
            None => None,
            Some(t) if KEY_TAG.check(t.get_ref()) => Some(t.into_inner()),
            Some(t) => {
                return self.err(
                    t.span().start,
                    format!(
                        "the tag of access key '{id}' must be 1 to {} printable characters",
                        KEY_TAG.max
                    ),
                );
            }
        };
        Ok(SeedKey {
            id: id.clone(),
            secret: Secret::new(k.secret.into_inner()),
            status,
            create_date,
            expiration,
            tag,
        })
    }

    fn keys(
        &mut self,
        keys: Vec<RawKey>,
        owner: &str,
        at: usize,
    ) -> Result<Vec<SeedKey>, SeedError> {
        // The flavour's own quota is checked when the seed is applied.
        if keys.len() > OUTSCALE_ACCESS_KEYS_PER_USER {
            return self.err(
                at,
                format!(
                    "{owner} has {} access keys; at most {OUTSCALE_ACCESS_KEYS_PER_USER} are allowed (AWS allows {ACCESS_KEYS_PER_USER})",
                    keys.len()
                ),
            );
        }
        keys.into_iter().map(|k| self.key(k)).collect()
    }

    fn user(&mut self, u: RawUser) -> Result<SeedUser, SeedError> {
        let at = u.name.span().start;
        let name = u.name.into_inner();
        if !NEW_USER_NAME.check(&name) {
            return self.err(
                at,
                format!(
                    "user name '{name}' must be 1 to 64 characters of letters, digits and +=,.@_-"
                ),
            );
        }
        let path = match u.path {
            None => "/".to_string(),
            Some(p) => {
                if !PATH.check(p.get_ref()) {
                    return self.err(
                        p.span().start,
                        format!("path '{}' must be '/' or start and end with '/' (printable ASCII, at most 512)", p.get_ref()),
                    );
                }
                p.into_inner()
            }
        };
        let tags_at = u.tags.as_ref().map_or(at, |t| t.span().start);
        let tags: Vec<Tag> = u
            .tags
            .map(Spanned::into_inner)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect();
        if let Err(why) = check_tags(&tags) {
            return self.err(tags_at, format!("user '{name}': {why}"));
        }
        let email = match u.email {
            None => None,
            Some(e) if EMAIL.check(e.get_ref()) => Some(e.into_inner()),
            Some(e) => {
                return self.err(
                    e.span().start,
                    format!(
                        "email '{}' of user '{name}' is not an email address",
                        e.get_ref()
                    ),
                );
            }
        };
        let access_keys = self.keys(u.access_keys, &format!("user '{name}'"), at)?;
        Ok(SeedUser {
            name,
            path,
            tags,
            access_keys,
            email,
        })
    }

    fn account(&mut self, a: RawAccount) -> Result<SeedAccount, SeedError> {
        let id = a.id.get_ref().clone();
        if !is_account_id(&id) {
            return self.err(
                a.id.span().start,
                format!("account id '{id}' must be exactly 12 digits"),
            );
        }
        let root_keys = match (a.root_access_key_id, a.root_secret_access_key) {
            (None, None) => Vec::new(),
            (Some(key_id), Some(secret)) => vec![self.key(RawKey {
                id: key_id,
                secret,
                status: None,
                create_date: None,
                expiration_date: None,
                tag: None,
            })?],
            _ => {
                return self.err(
                    a.id.span().start,
                    format!("account {id} needs both root_access_key_id and root_secret_access_key, or neither"),
                );
            }
        };
        let mut names = HashSet::new();
        let mut users = Vec::with_capacity(a.users.len());
        for u in a.users {
            let at = u.name.span().start;
            let user = self.user(u)?;
            if !names.insert(user.name.to_lowercase()) {
                return self.err(
                    at,
                    format!(
                        "user '{}' is listed twice in account {id} (names ignore case)",
                        user.name
                    ),
                );
            }
            users.push(user);
        }
        let (login, password) = match (a.login, a.password) {
            (None, None) => (None, None),
            (Some(login), Some(password)) if !password.get_ref().is_empty() => {
                if !EMAIL.check(login.get_ref()) {
                    return self.err(
                        login.span().start,
                        format!(
                            "login '{}' of account {id} is not an email address",
                            login.get_ref()
                        ),
                    );
                }
                (
                    Some(login.into_inner()),
                    Some(Secret::new(password.into_inner())),
                )
            }
            _ => {
                return self.err(
                    a.id.span().start,
                    format!("account {id} needs both login and a non-empty password, or neither"),
                );
            }
        };
        let mut mfa_devices = Vec::new();
        for d in a.mfa_devices {
            let at = d.name.span().start;
            let path = d.path.unwrap_or_else(|| "/".to_string());
            if !MFA_DEVICE_NAME.check(d.name.get_ref()) || !PATH.check(&path) {
                return self.err(
                    at,
                    format!(
                        "MFA device '{}' has an invalid name or path",
                        d.name.get_ref()
                    ),
                );
            }
            if crate::otp::code_at_step(d.seed.get_ref(), 0).is_none() {
                // The seed itself stays out of the message.
                return self.err(
                    d.seed.span().start,
                    format!(
                        "the seed of MFA device '{}' is not base32 of at least 16 bytes",
                        d.name.get_ref()
                    ),
                );
            }
            if let Some(user) = &d.user
                && !users.iter().any(|u| u.name.eq_ignore_ascii_case(user))
            {
                return self.err(
                    at,
                    format!(
                        "MFA device '{}' names user '{user}', who is not in account {id}",
                        d.name.get_ref()
                    ),
                );
            }
            mfa_devices.push(MfaDeviceState {
                name: d.name.into_inner(),
                path,
                seed: d.seed.into_inner(),
                create_date: String::new(),
                user_name: d.user,
                enable_date: None,
            });
        }
        Ok(SeedAccount {
            id,
            root_keys,
            users,
            login,
            password,
            mfa_devices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[accounts]]
id = "111122223333"
root_access_key_id = "AKIAQYLPMN5HHHFPZAM2"
root_secret_access_key = "1dgwBBwMvF2nG2mOGzm6rI4pb8GsGdzUuB0O7aFR"

[[accounts.users]]
name = "alice"
path = "/engineering/"
tags = { team = "platform", "cost center" = "42" }

[[accounts.users.access_keys]]
id = "AKIAQYLPMN5HAAAAAAAA"
secret = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123"
status = "Inactive"
create_date = "2024-01-31T12:00:00Z"
"#;

    #[test]
    fn a_sample_seed_parses() {
        let seed = Seed::parse(SAMPLE, "seed.toml").unwrap();
        let a = &seed.accounts[0];
        assert_eq!(a.id, "111122223333");
        assert_eq!(a.root_keys[0].id, "AKIAQYLPMN5HHHFPZAM2");
        let u = &a.users[0];
        assert_eq!(
            (u.name.as_str(), u.path.as_str()),
            ("alice", "/engineering/")
        );
        assert_eq!(u.tags.len(), 2);
        assert_eq!(u.access_keys[0].status, KeyStatus::Inactive);
        assert_eq!(u.access_keys[0].create_date, Some(1_706_702_400_000));
    }

    #[test]
    fn errors_name_the_file_line_and_reason() {
        let bad = SAMPLE.replace("AKIAQYLPMN5HAAAAAAAA", "AKIA0000");
        let err = Seed::parse(&bad, "seed.toml").unwrap_err();
        assert_eq!(err.line, Some(13));
        assert!(
            err.to_string()
                .starts_with("seed.toml:13: access key id 'AKIA0000' is not in AWS's format"),
            "{err}"
        );

        let bad = SAMPLE.replace("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123", "short");
        let err = Seed::parse(&bad, "seed.toml").unwrap_err();
        assert_eq!(err.line, Some(14));
        assert!(
            !err.to_string().contains("short"),
            "secrets stay out of messages"
        );

        let err = Seed::parse("[[accounts]]\nid = 5\n", "s.toml").unwrap_err();
        assert_eq!(err.line, Some(2));
        let err =
            Seed::parse("[[accounts]]\nid = \"111122223333\"\nbogus = 1\n", "s.toml").unwrap_err();
        assert!(err.reason.contains("bogus"), "{err}");
    }

    #[test]
    fn the_default_account_comes_first_and_keeps_its_root_key() {
        let seed = Seed::parse(SAMPLE, "s").unwrap().with_default_account(
            "123456789012",
            "AKIAIOSFODNN7EXAMPLE",
            &Secret::new("x"),
        );
        assert_eq!(seed.accounts[0].id, "123456789012");
        assert_eq!(seed.accounts[1].id, "111122223333");
    }
}
