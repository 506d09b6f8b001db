//! iamlite: a local AWS IAM + STS emulator that verifies SigV4 and keeps its state in SQLite.
//!
//! How a request flows: `server` accepts connections and hands each request to `service`, which
//! routes it to a face by path: the AWS Query API (`query`), the OUTSCALE API (`osc`), the web
//! console (`console`) or the admin endpoints (`admin`). The
//! Query face reads the body under limits, asks `auth` (with the pure `sigv4` math) who signed it,
//! parses the parameters into a typed action, runs it in the face-neutral `core` against the
//! `store`, and writes the result, or the core's `error::Error`, as AWS XML. `model` holds the
//! domain types and each input rule once, `ids` makes AWS-shaped identifiers, `clock` the time
//! lifetimes are judged by, and `config` the settings.
//!
//! Embedding in a test:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = iamlite::Server::start_in_memory().await.expect("server starts");
//! assert!(server.endpoint().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.account_id(), "123456789012");
//! let (key_id, _secret) = server.root_credentials();
//! assert_eq!(key_id, "AKIAIOSFODNN7EXAMPLE");
//! server.shutdown().await;
//! # }
//! ```

pub mod admin;
pub mod auth;
pub mod browser;
pub mod clock;
pub mod config;
pub mod console;
pub mod core;
pub mod error;
pub mod ids;
pub mod model;
pub mod osc;
pub mod otp;
pub mod query;
pub mod seed;
pub mod server;
pub mod service;
pub mod sigv4;
pub mod state;
pub mod store;

pub use clock::Clock;
pub use config::{Config, CredentialCache, DatabaseUrl, Limits, Storage};
pub use error::Error;
pub use model::{Flavor, Secret};
pub use query::{ApiError, ErrorCode};
pub use seed::Seed;

use auth::Authenticator;
use ids::IdGen;
use service::AppState;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a server could not start; the message says what to change.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running emulator. Dropping it stops the server; `shutdown` also waits for it.
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

/// Builds a server for tests: in memory on `127.0.0.1:0` unless told otherwise.
#[derive(Debug, Clone)]
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: Config {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                storage: Storage::InMemory,
                ..Config::default()
            },
        }
    }
}

impl Builder {
    /// Private state that disappears with the server (the default).
    pub fn in_memory(mut self) -> Self {
        self.config.storage = Storage::InMemory;
        self
    }

    /// State in a SQLite file, kept across servers.
    pub fn db(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.storage = Storage::File(path.into());
        self
    }

    /// State in a PostgreSQL database, which other servers (nodes) may share.
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.config.storage = Storage::Postgres(DatabaseUrl::new(url));
        self
    }

    /// State wherever `storage` says.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.config.storage = storage;
        self
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// The default account (12 digits).
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.config.account_id = id.into();
        self
    }

    /// The default account's root key.
    pub fn root_key(mut self, access_key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.config.root_access_key_id = access_key_id.into();
        self.config.root_secret_access_key = Secret::new(secret);
        self
    }

    /// Reproducible ids, secrets and request ids.
    pub fn id_seed(mut self, seed: u64) -> Self {
        self.config.id_seed = Some(seed);
        self
    }

    /// Accounts, users and keys to start with (and to return to on reset).
    pub fn seed(mut self, seed: Seed) -> Self {
        self.config.seed = seed;
        self
    }

    /// Reads a TOML seed file (see `fixtures/seed.toml`).
    pub fn seed_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, StartError> {
        self.config.seed = Seed::load(path.as_ref()).map_err(|e| StartError(e.to_string()))?;
        Ok(self)
    }

    /// IAM's eventual consistency: key changes reach authentication only after `delay`.
    pub fn propagation_delay(mut self, delay: Duration) -> Self {
        self.config.propagation_delay = delay;
        self
    }

    /// Requires this token on `/_iamlite/` (header `x-iamlite-admin-token` or `Authorization: Bearer`).
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.config.admin_token = Some(Secret::new(token));
        self
    }

    /// A host name, besides loopback ones, that `/_iamlite/` answers to without a token.
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.config.allowed_hosts.push(name.into());
        self
    }

    /// Which cloud's IAM to behave as (`Flavor::Outscale`: OUTSCALE-style key ids, 10 keys per user).
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.config.flavor = flavor;
        self
    }

    /// The default account's root login and password, for OUTSCALE's login/password authentication.
    pub fn root_login(mut self, login: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.root_login = Some(login.into());
        self.config.root_password = Some(Secret::new(password));
        self
    }

    /// Serve the web console at `/console` (the default) or not.
    pub fn console(mut self, on: bool) -> Self {
        self.config.console = on;
        self
    }

    /// Body size, timeouts and header bounds (tests lower the timeouts to run in milliseconds).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub async fn start(self) -> Result<Server, StartError> {
        Server::start(self.config).await
    }

    /// Starts on a runtime of its own, for plain `#[test]` functions.
    pub fn start_blocking(self) -> Result<BlockingServer, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| StartError(format!("cannot start a runtime: {e}")))?;
        let server = runtime.block_on(Server::start(self.config))?;
        Ok(BlockingServer {
            server: Some(server),
            runtime: Some(runtime),
        })
    }
}

/// The root logins of the configuration and of the seed's accounts.
fn logins(config: &Config, seed: &Seed) -> Result<auth::Logins, StartError> {
    let mut logins = auth::Logins::default();
    if let (Some(login), Some(password)) = (&config.root_login, &config.root_password) {
        logins
            .add(login, password.clone(), &config.account_id)
            .map_err(StartError)?;
    }
    for account in &seed.accounts {
        if let (Some(login), Some(password)) = (&account.login, &account.password) {
            logins
                .add(login, password.clone(), &account.id)
                .map_err(StartError)?;
        }
    }
    Ok(logins)
}

impl Server {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Opens the store, loads the accounts and seed, binds and starts serving.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        config.validate().map_err(StartError)?;
        let clock = Arc::new(Clock::default());
        let store = Store::connect(&config.storage, clock.clone())
            .await
            .map_err(|e| StartError(e.0))?;
        if config.credential_cache == CredentialCache::Notify {
            store.enable_notify_cache();
        }
        store.set_propagation_delay(config.propagation_delay);
        store.set_key_quota(config.flavor.key_quota());
        let ids = Arc::new(
            match config.id_seed {
                Some(seed) => IdGen::seeded(seed),
                None => IdGen::from_entropy(),
            }
            .with_flavor(config.flavor),
        );
        let boot_seed = Arc::new(config.seed.clone().with_default_account(
            &config.account_id,
            &config.root_access_key_id,
            &config.root_secret_access_key,
        ));
        store
            .apply_seed(boot_seed.clone(), ids.clone(), clock.now_millis())
            .await
            .map_err(|e| {
                StartError(format!(
                    "cannot load the seed: {}",
                    ApiError::from(e).message
                ))
            })?;
        let logins = logins(&config, &boot_seed)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
        let state = Arc::new(AppState {
            config,
            store,
            ids,
            auth: Authenticator::default(),
            logins,
            clock,
            boot_seed,
            console: console::Sessions::default(),
            started: Instant::now(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// An in-memory server on `127.0.0.1:<free port>` with the default account and root key.
    pub async fn start_in_memory() -> Result<Server, StartError> {
        Builder::default().start().await
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, ready for `--endpoint-url` or an SDK's `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn account_id(&self) -> &str {
        &self.state.config.account_id
    }

    /// The root user's access key id and secret access key.
    pub fn root_credentials(&self) -> (&str, &str) {
        (
            &self.state.config.root_access_key_id,
            self.state.config.root_secret_access_key.expose(),
        )
    }

    /// The root credentials as the AWS SDKs take them (`credentials_provider(...)`).
    pub fn credentials(&self) -> aws_credential_types::Credentials {
        let (id, secret) = self.root_credentials();
        aws_credential_types::Credentials::new(id, secret, None, None, "iamlite")
    }

    /// The store behind the server, for tests that inspect or seed state directly.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Returns the state to the seed (and default account) it started with, in one transaction,
    /// and the clock to real time.
    pub async fn reset(&self) -> Result<(), Error> {
        service::reset(&self.state).await
    }

    /// The clock lifetimes are judged by (propagation, creation and last-used dates).
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// Moves the clock forward, so that tests see time pass without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    /// Stops accepting, lets in-flight requests finish, flushes and closes the store.
    pub async fn shutdown(mut self) {
        self.stop_and_wait().await;
    }

    async fn stop_and_wait(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let store = self.state.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A server with its own runtime, for tests that are not async. Dropping it shuts it down.
pub struct BlockingServer {
    server: Option<Server>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::ops::Deref for BlockingServer {
    type Target = Server;
    fn deref(&self) -> &Server {
        // Both fields are only emptied in drop.
        self.server
            .as_ref()
            .unwrap_or_else(|| unreachable!("server present until drop"))
    }
}

impl BlockingServer {
    /// Runs a future (an SDK call, say) on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.runtime {
            Some(rt) => rt.block_on(f),
            None => unreachable!("runtime present until drop"),
        }
    }

    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let (Some(server), Some(rt)) = (self.server.take(), self.runtime.take()) {
            rt.block_on(server.shutdown());
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for BlockingServer {
    fn drop(&mut self) {
        self.stop();
    }
}
