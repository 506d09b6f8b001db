//! Configuration: the command line and `IAMLITE_*` environment (clap), and the plain `Config` the server runs on.

use crate::error::{ApiError, ErrorCode};
use crate::model::{Secret, is_account_id};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4593";
pub const DEFAULT_DB: &str = "./iamlite.db";
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";
/// AWS's documentation example key pair: secret scanners know it and ignore it.
pub const DEFAULT_ROOT_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const DEFAULT_ROOT_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A SQLite file; every acknowledged write is on disk.
    File(PathBuf),
    /// A private in-process SQLite database, gone when the server stops.
    InMemory,
}

/// Explicit bounds on what one client may make the server hold or wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body read; a larger one gets 413 without being read.
    pub max_body_bytes: usize,
    /// Time allowed for a request's headers to arrive.
    pub header_read_timeout: Duration,
    /// Time allowed for a request's body to arrive.
    pub body_read_timeout: Duration,
    /// Most headers accepted in one request.
    pub max_headers: usize,
    /// Largest read buffer per connection, which bounds the request line plus headers.
    pub max_header_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Everything a server needs to start; `Default` is the documented out-of-the-box setup.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub storage: Storage,
    pub account_id: String,
    pub root_access_key_id: String,
    pub root_secret_access_key: Secret,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4593)),
            storage: Storage::File(PathBuf::from(DEFAULT_DB)),
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            root_access_key_id: DEFAULT_ROOT_ACCESS_KEY_ID.to_string(),
            root_secret_access_key: Secret::new(DEFAULT_ROOT_SECRET_ACCESS_KEY),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Checks the values a user can get wrong; the message names the setting.
    pub fn validate(&self) -> Result<(), ApiError> {
        let invalid = |msg: String| Err(ApiError::new(ErrorCode::ValidationError, msg));
        if !is_account_id(&self.account_id) {
            return invalid(format!(
                "account id '{}' must be exactly 12 digits",
                self.account_id
            ));
        }
        let id = &self.root_access_key_id;
        if !(16..=128).contains(&id.len()) || !id.chars().all(crate::model::is_word_char) {
            return invalid(format!(
                "root access key id '{id}' must be 16 to 128 letters, digits or underscores"
            ));
        }
        if self.root_secret_access_key.expose().is_empty() {
            return invalid("root secret access key must not be empty".to_string());
        }
        Ok(())
    }
}

/// A local AWS IAM emulator: IAM and STS Query APIs with SigV4 verification and SQLite state.
#[derive(Debug, Parser)]
#[command(name = "iamlite", version, about)]
pub struct Cli {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "IAMLITE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// SQLite database file holding all state.
    #[arg(long, env = "IAMLITE_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,

    /// Keep state in memory only (nothing is written to disk; --db is ignored).
    #[arg(long, env = "IAMLITE_IN_MEMORY")]
    pub in_memory: bool,

    /// Account id of the default account (12 digits).
    #[arg(long, env = "IAMLITE_ACCOUNT_ID", default_value = DEFAULT_ACCOUNT_ID)]
    pub account_id: String,

    /// Access key id of the default account's root user.
    #[arg(long, env = "IAMLITE_ROOT_ACCESS_KEY_ID", default_value = DEFAULT_ROOT_ACCESS_KEY_ID)]
    pub root_access_key_id: String,

    /// Secret access key of the default account's root user.
    #[arg(
        long,
        env = "IAMLITE_ROOT_SECRET_ACCESS_KEY",
        default_value = DEFAULT_ROOT_SECRET_ACCESS_KEY,
        hide_env_values = true,
        hide_default_value = true
    )]
    pub root_secret_access_key: String,
}

impl Cli {
    pub fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            storage: if self.in_memory {
                Storage::InMemory
            } else {
                Storage::File(self.db)
            },
            account_id: self.account_id,
            root_access_key_id: self.root_access_key_id,
            root_secret_access_key: Secret::new(self.root_secret_access_key),
            limits: Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_defaults_match_the_documented_defaults() {
        let cfg = Cli::parse_from(["iamlite"]).into_config();
        let def = Config::default();
        assert_eq!(cfg.listen, def.listen);
        assert_eq!(cfg.storage, def.storage);
        assert_eq!(cfg.account_id, def.account_id);
        assert_eq!(cfg.root_access_key_id, def.root_access_key_id);
        assert_eq!(cfg.root_secret_access_key, def.root_secret_access_key);
    }

    #[test]
    fn bad_account_id_is_refused() {
        let cfg = Config {
            account_id: "12345".into(),
            ..Config::default()
        };
        assert!(cfg.validate().unwrap_err().message.contains("12 digits"));
    }
}
