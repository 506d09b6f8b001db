//! iamlite: a local AWS IAM + STS emulator that verifies SigV4 and keeps its state in SQLite.
//!
//! How a request flows: `server` accepts connections and hands each request to `service`, which
//! reads the body under limits, asks `auth` (with the pure `sigv4` math) who signed it, turns the
//! parameters (`query`) into a typed `actions::Action`, runs it against the `store`, and renders the
//! result or the `error::ApiError` as AWS XML (`xml`). `model` holds the domain types and AWS's input
//! rules, `ids` makes AWS-shaped identifiers, and `config` the settings.
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

pub mod actions;
pub mod auth;
pub mod config;
pub mod error;
pub mod ids;
pub mod model;
pub mod query;
pub mod server;
pub mod service;
pub mod sigv4;
pub mod store;
pub mod xml;

pub use config::{Config, Limits, Storage};
pub use error::{ApiError, ErrorCode};
pub use model::Secret;

use auth::Authenticator;
use ids::IdGen;
use service::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
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

fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Server {
    /// Opens the store, makes sure the account and its root key exist, binds and starts serving.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        config.validate().map_err(|e| StartError(e.message))?;
        let store = Store::open(&config.storage).map_err(|e| StartError(e.0))?;
        store
            .ensure_account(
                &config.account_id,
                Some((&config.root_access_key_id, &config.root_secret_access_key)),
                now_millis(),
            )
            .await
            .map_err(|e| StartError(format!("cannot prepare the store: {}", e.message)))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
        let state = Arc::new(AppState {
            config,
            store,
            ids: IdGen::from_entropy(),
            auth: Authenticator::default(),
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
        Server::start(Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: Storage::InMemory,
            ..Config::default()
        })
        .await
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

    /// The store behind the server, for tests that inspect or seed state directly.
    pub fn store(&self) -> &Store {
        &self.state.store
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
