//! Configuration: the command line and `IAMLITE_*` environment (clap), and the plain `Config` the server runs on.

use crate::model::{ACCESS_KEY_ID, EMAIL, Flavor, Secret, is_account_id};
use crate::seed::{Seed, SeedError};
use clap::{Args, Parser, Subcommand};
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
    /// A PostgreSQL database that several iamlite nodes may share.
    Postgres(DatabaseUrl),
}

/// A PostgreSQL connection string (`postgres://user:password@host/db` or `host=… dbname=…`);
/// its password never appears in `Debug` output, logs or messages.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        redact_database_url(&self.0)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `url` with any password replaced by `***`, so that it can be shown.
pub fn redact_database_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find(['/', '?']) {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_string(),
            };
            let tail = tail
                .split('&')
                .map(|kv| match kv.split_once("password=") {
                    Some((before, _)) => format!("{before}password=***"),
                    None => kv.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{scheme}://{authority}{tail}")
        }
        None => url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
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
    /// Accounts, users and keys loaded at start-up and restored by a reset.
    pub seed: Seed,
    /// Makes generated ids, secrets and request ids reproducible.
    pub id_seed: Option<u64>,
    /// IAM's eventual consistency: how long key changes take to reach authentication.
    pub propagation_delay: Duration,
    /// Token for the `/_iamlite/` admin endpoints; without one they answer only on loopback.
    pub admin_token: Option<Secret>,
    /// Host names, besides loopback ones, that the console and (without a token) the admin
    /// endpoints answer to.
    pub allowed_hosts: Vec<String>,
    pub limits: Limits,
    /// Which cloud's IAM to behave as (key quota, key id shape, OUTSCALE's EIM quirks).
    pub flavor: Flavor,
    /// The default account's root login (an email address) for OUTSCALE's login/password
    /// authentication; without it, `Authorization: Basic` is refused.
    pub root_login: Option<String>,
    pub root_password: Option<Secret>,
    /// Serve the web console at `/console`.
    pub console: bool,
    /// How a node on a shared (PostgreSQL) store keeps credentials.
    pub credential_cache: CredentialCache,
}

/// How a node on a shared store keeps the credentials it verifies signatures with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CredentialCache {
    /// Read every credential from the database: a change through any node is refused or
    /// accepted by every node on its very next request.
    #[default]
    Off,
    /// Cache them, emptied by every node's writes through LISTEN/NOTIFY: faster, but a node may
    /// accept a just-changed key for the moment a notification takes to arrive.
    Notify,
}

fn parse_credential_cache(s: &str) -> Result<CredentialCache, String> {
    match s {
        "off" => Ok(CredentialCache::Off),
        "notify" => Ok(CredentialCache::Notify),
        _ => Err(format!(
            "'{s}' is not a credential cache: use off or notify"
        )),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4593)),
            storage: Storage::File(PathBuf::from(DEFAULT_DB)),
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            root_access_key_id: DEFAULT_ROOT_ACCESS_KEY_ID.to_string(),
            root_secret_access_key: Secret::new(DEFAULT_ROOT_SECRET_ACCESS_KEY),
            seed: Seed::default(),
            id_seed: None,
            propagation_delay: Duration::ZERO,
            admin_token: None,
            allowed_hosts: Vec::new(),
            limits: Limits::default(),
            flavor: Flavor::Aws,
            root_login: None,
            root_password: None,
            console: true,
            credential_cache: CredentialCache::Off,
        }
    }
}

impl Config {
    /// Checks the values a user can get wrong; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let invalid = Err;
        if !is_account_id(&self.account_id) {
            return invalid(format!(
                "account id '{}' must be exactly 12 digits",
                self.account_id
            ));
        }
        let id = &self.root_access_key_id;
        if !ACCESS_KEY_ID.check(id) {
            return invalid(format!(
                "root access key id '{id}' must be 16 to 128 letters, digits or underscores"
            ));
        }
        if self.root_secret_access_key.expose().is_empty() {
            return invalid("root secret access key must not be empty".to_string());
        }
        match (&self.root_login, &self.root_password) {
            (None, None) => {}
            (Some(login), Some(password)) if !password.expose().is_empty() => {
                if !EMAIL.check(login) {
                    return invalid(format!("root login '{login}' must be an email address"));
                }
            }
            _ => {
                return invalid(
                    "--root-login and --root-password go together (a non-empty password)"
                        .to_string(),
                );
            }
        }
        if self.credential_cache == CredentialCache::Notify
            && !matches!(self.storage, Storage::Postgres(_))
        {
            return invalid(
                "--credential-cache notify needs a PostgreSQL store (--store postgres://...)"
                    .to_string(),
            );
        }
        if matches!(self.storage, Storage::Postgres(_)) && self.id_seed.is_some() {
            return invalid(
                "--id-seed cannot be used with a PostgreSQL store: nodes sharing the database \
                 would draw the same ids"
                    .to_string(),
            );
        }
        Ok(())
    }
}

/// Reads `--store`: `sqlite:PATH`, `memory`, or a PostgreSQL address (`postgres://…`,
/// `postgresql://…`).
pub fn parse_store(s: &str) -> Result<Storage, String> {
    if let Some(path) = s.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err("sqlite: needs a file path, as in sqlite:./iamlite.db".to_string());
        }
        return Ok(Storage::File(PathBuf::from(path)));
    }
    if s == "memory" {
        return Ok(Storage::InMemory);
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return Ok(Storage::Postgres(DatabaseUrl::new(s)));
    }
    Err(format!(
        "'{}' is not a store: use sqlite:PATH, memory, or postgres://USER@HOST/DATABASE",
        redact_database_url(s)
    ))
}

/// `--store`'s parser: like `parse_store`, but a refused value is not echoed back, since it may
/// hold a password.
#[derive(Debug, Clone, Copy)]
struct StoreParser;

impl clap::builder::TypedValueParser for StoreParser {
    type Value = Storage;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Storage, clap::Error> {
        let refuse = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for --store: {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not UTF-8".to_string()))?;
        parse_store(text).map_err(refuse)
    }
}

/// A local AWS IAM emulator: IAM and STS Query APIs with SigV4 verification and SQLite state.
#[derive(Debug, Parser)]
#[command(
    name = "iamlite",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "Environment:\n  RUST_LOG  log filter in tracing EnvFilter syntax [default: iamlite=info], e.g. RUST_LOG=iamlite=debug\n\nLogs go to stderr; the start-up banner goes to stdout."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the whole state of a database (secrets included) as JSON on stdout.
    Export {
        /// SQLite database file to read (the server should be stopped).
        #[arg(long, env = "IAMLITE_DB", default_value = DEFAULT_DB)]
        db: PathBuf,
        /// The store to read instead of --db: sqlite:PATH or postgres://… (a shared database is
        /// read in one consistent snapshot while its nodes run).
        #[arg(long, env = "IAMLITE_STORE", value_parser = StoreParser, hide_env_values = true)]
        store: Option<Storage>,
    },
    /// Replace the whole state of a database with a JSON export read from a file or stdin.
    Import {
        /// SQLite database file to write (the server should be stopped).
        #[arg(long, env = "IAMLITE_DB", default_value = DEFAULT_DB)]
        db: PathBuf,
        /// The store to write instead of --db: sqlite:PATH or postgres://… (in one transaction;
        /// nodes running on a shared database serve the new state on their next request).
        #[arg(long, env = "IAMLITE_STORE", value_parser = StoreParser, hide_env_values = true)]
        store: Option<Storage>,
        /// JSON file to read; `-` (the default) reads stdin.
        #[arg(long, default_value = "-")]
        file: PathBuf,
    },
    /// Examine a database file without changing it: schema version, integrity, counts and free
    /// space; exit 0 if it is a sound iamlite database, 1 otherwise.
    Check {
        /// SQLite database file to examine.
        #[arg(long, env = "IAMLITE_DB", default_value = DEFAULT_DB)]
        db: PathBuf,
    },
    /// Ask a running server on this machine whether it is healthy: exit 0 if `/_iamlite/health`
    /// answers ok within 3 s, 1 otherwise (a container's health check).
    Health {
        /// The server's listen address (0.0.0.0 or :: means this machine's loopback).
        #[arg(long, env = "IAMLITE_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// The admin token, if the server requires one.
        #[arg(long, env = "IAMLITE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
}

/// Flags of the server (the default command).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "IAMLITE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// SQLite database file holding all state (the same as --store sqlite:PATH).
    #[arg(long, env = "IAMLITE_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,

    /// Where state lives: sqlite:PATH (the default is sqlite:./iamlite.db), memory, or
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, a database several iamlite nodes may
    /// share. Overrides --db.
    #[arg(long, env = "IAMLITE_STORE", value_parser = StoreParser, conflicts_with = "in_memory", hide_env_values = true)]
    pub store: Option<Storage>,

    /// Keep state in memory only (nothing is written to disk; --db is ignored).
    /// IAMLITE_IN_MEMORY takes true/false, 1/0, yes/no or on/off.
    #[arg(
        long,
        env = "IAMLITE_IN_MEMORY",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
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
        hide_env_values = true
    )]
    pub root_secret_access_key: String,

    /// TOML file of accounts, users and access keys to load at start-up (and restore on reset).
    #[arg(long, env = "IAMLITE_SEED_FILE")]
    pub seed_file: Option<PathBuf>,

    /// Seed for generated ids, secrets and request ids: same seed, same requests, same responses.
    #[arg(long, env = "IAMLITE_ID_SEED")]
    pub id_seed: Option<u64>,

    /// Delay before key changes reach authentication, like IAM's eventual consistency (e.g. 10s).
    #[arg(long, env = "IAMLITE_PROPAGATION_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub propagation_delay: Duration,

    /// Token required by the /_iamlite/ admin endpoints (then also served off loopback).
    #[arg(long, env = "IAMLITE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Host name the console, and the admin endpoints without a token, also answer to
    /// (repeatable; loopback names such as localhost and 127.0.0.1 always work).
    /// IAMLITE_ALLOWED_HOSTS takes a comma list.
    #[arg(
        long = "allowed-host",
        env = "IAMLITE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Largest request body read, in bytes; a larger one gets 413 without being read.
    #[arg(long, env = "IAMLITE_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,

    /// Time allowed for a request's headers to arrive (also the idle limit of a new connection).
    #[arg(long, env = "IAMLITE_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Time allowed for a request's body to arrive.
    #[arg(long, env = "IAMLITE_BODY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,

    /// Which cloud's IAM to behave as: aws (AKIA key ids, 2 keys per user) or outscale (20-character
    /// key ids, 10 keys per user, the eim scope and date versions on the IAM API).
    #[arg(long, env = "IAMLITE_FLAVOR", default_value = "aws", value_parser = parse_flavor)]
    pub flavor: Flavor,

    /// The default account's login (an email address) for OUTSCALE's login/password authentication.
    #[arg(long, env = "IAMLITE_ROOT_LOGIN", requires = "root_password")]
    pub root_login: Option<String>,

    /// The default account's password for OUTSCALE's login/password authentication.
    #[arg(
        long,
        env = "IAMLITE_ROOT_PASSWORD",
        hide_env_values = true,
        requires = "root_login"
    )]
    pub root_password: Option<String>,

    /// Do not serve the web console at /console. IAMLITE_NO_CONSOLE takes true/false, 1/0,
    /// yes/no or on/off.
    #[arg(
        long,
        env = "IAMLITE_NO_CONSOLE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub no_console: bool,

    /// With a PostgreSQL store: off (the default) reads every credential from the database, so
    /// a change through any node applies on every node's next request; notify caches them and
    /// empties the cache on other nodes' writes through LISTEN/NOTIFY (faster, not strict).
    #[arg(long, env = "IAMLITE_CREDENTIAL_CACHE", default_value = "off", value_parser = parse_credential_cache)]
    pub credential_cache: CredentialCache,

    /// How long a stop waits for in-flight requests before dropping them.
    #[arg(long, env = "IAMLITE_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

fn parse_flavor(s: &str) -> Result<Flavor, String> {
    match s.to_ascii_lowercase().as_str() {
        "aws" => Ok(Flavor::Aws),
        "outscale" => Ok(Flavor::Outscale),
        _ => Err(format!("'{s}' is not a flavor: use aws or outscale")),
    }
}

impl ServeArgs {
    pub fn into_config(self) -> Result<Config, SeedError> {
        let seed = match &self.seed_file {
            Some(path) => Seed::load(path)?,
            None => Seed::default(),
        };
        Ok(Config {
            listen: self.listen,
            storage: match self.store {
                Some(store) => store,
                None if self.in_memory => Storage::InMemory,
                None => Storage::File(self.db),
            },
            account_id: self.account_id,
            root_access_key_id: self.root_access_key_id,
            root_secret_access_key: Secret::new(self.root_secret_access_key),
            seed,
            id_seed: self.id_seed,
            propagation_delay: self.propagation_delay,
            admin_token: self.admin_token.map(Secret::new),
            allowed_hosts: self.allowed_hosts,
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
                header_read_timeout: self.header_timeout,
                body_read_timeout: self.body_timeout,
                shutdown_grace: self.shutdown_grace,
                ..Limits::default()
            },
            flavor: self.flavor,
            root_login: self.root_login,
            root_password: self.root_password.map(Secret::new),
            console: !self.no_console,
            credential_cache: self.credential_cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_read_from_their_scheme_and_passwords_never_shown() {
        assert_eq!(
            parse_store("sqlite:/var/lib/iam.db"),
            Ok(Storage::File(PathBuf::from("/var/lib/iam.db")))
        );
        assert_eq!(parse_store("memory"), Ok(Storage::InMemory));
        let pg = parse_store("postgresql://iam:s3cret@db:5433/iamlite?sslmode=disable").unwrap();
        assert_eq!(
            format!("{pg:?}"),
            "Postgres(postgresql://iam:***@db:5433/iamlite?sslmode=disable)"
        );
        assert!(parse_store("sqlite:").is_err());
        for (url, shown) in [
            ("postgres://iam@db/x", "postgres://iam@db/x"),
            ("postgres://iam:p@ss@db/x", "postgres://iam:***@db/x"),
            (
                "postgres://db/x?user=iam&password=p",
                "postgres://db/x?user=iam&password=***",
            ),
            (
                "host=db user=iam password=p",
                "host=db user=iam password=***",
            ),
        ] {
            assert_eq!(redact_database_url(url), shown);
        }
        let cli = Cli::parse_from(["iamlite", "--store", "postgres://db/x", "--id-seed", "3"]);
        let refused = cli.serve.into_config().unwrap().validate();
        assert!(refused.is_err_and(|e| e.contains("--id-seed cannot be used")));
    }

    #[test]
    fn cli_defaults_match_the_documented_defaults() {
        let cfg = Cli::parse_from(["iamlite"]).serve.into_config().unwrap();
        let def = Config::default();
        assert_eq!(cfg.listen, def.listen);
        assert_eq!(cfg.storage, def.storage);
        assert_eq!(cfg.account_id, def.account_id);
        assert_eq!(cfg.root_access_key_id, def.root_access_key_id);
        assert_eq!(cfg.root_secret_access_key, def.root_secret_access_key);
        assert_eq!(cfg.propagation_delay, def.propagation_delay);
        assert_eq!(cfg.id_seed, None);
        assert_eq!(cfg.limits, def.limits);
        assert_eq!(cfg.flavor, Flavor::Aws);
        assert!(cfg.root_login.is_none() && cfg.root_password.is_none());
        assert!(cfg.allowed_hosts.is_empty());
    }

    #[test]
    fn durations_and_subcommands_parse() {
        let cli = Cli::parse_from(["iamlite", "--propagation-delay", "1500ms", "--id-seed", "7"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.propagation_delay, Duration::from_millis(1500));
        let cli = Cli::parse_from(["iamlite", "export", "--db", "x.db"]);
        assert!(matches!(cli.command, Some(Command::Export { .. })));
    }

    #[test]
    fn the_outscale_flavor_and_a_root_login_parse() {
        let cfg = Cli::parse_from([
            "iamlite",
            "--flavor",
            "outscale",
            "--root-login",
            "me@example.com",
            "--root-password",
            "S3cret!pass",
        ])
        .serve
        .into_config()
        .unwrap();
        assert_eq!(cfg.flavor, Flavor::Outscale);
        assert_eq!(cfg.root_login.as_deref(), Some("me@example.com"));
        assert!(cfg.validate().is_ok());
        assert!(Cli::try_parse_from(["iamlite", "--flavor", "gcp"]).is_err());
        assert!(Cli::try_parse_from(["iamlite", "--root-login", "me@example.com"]).is_err());
    }

    #[test]
    fn bad_account_id_is_refused() {
        let cfg = Config {
            account_id: "12345".into(),
            ..Config::default()
        };
        assert!(cfg.validate().unwrap_err().contains("12 digits"));
    }
}
