//! The state store: one method per use case, IAM's rules enforced inside each write's
//! transaction; the handle, its engines (SQLite embedded, PostgreSQL shared), and how reads and
//! writes reach them. Each rule is written once, over the `tx::Tx` interface both engines implement.
//!
//! On SQLite, reads run on a small pool of read-only connections (WAL lets them proceed while a
//! write commits). Writes go to one writer thread (`writer`) that batches whatever is queued into
//! a single transaction, one SAVEPOINT per write, and fsyncs once before acknowledging the whole batch
//! (group commit). A write is acknowledged only after its COMMIT returned, so acknowledged writes
//! survive a kill -9. Last-used records are buffered in memory (`cache`) and folded into the next
//! batch, so signing a request does not cost a durable write, while GetAccessKeyLastUsed still sees
//! the use at once. On PostgreSQL (`postgres`), each write is one pooled connection's READ
//! COMMITTED transaction, run again whole when it loses a race, and keys are read from the
//! database on every request unless `--credential-cache notify` is on. The use cases live by
//! concern: `users`, `access_keys`, `mfa`, `sessions`, `snapshot` (seed, reset, export, import),
//! over the row helpers of `rows`.

mod access_keys;
mod cache;
mod check;
mod fault;
mod mfa;
mod page;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod schema;
mod sessions;
mod snapshot;
mod sqlite;
pub(crate) mod tx;
mod users;
mod writer;

pub use access_keys::{KeyUpdate, NewKeyDetails};
pub use check::{CheckReport, check};
pub use fault::{Fault, Space, space};
pub use mfa::Assignment;
pub use schema::SCHEMA_VERSION;
pub use sessions::NewSession;
pub use users::UserUpdate;

use crate::clock::Clock;
use crate::config::Storage;
use crate::error::{Error, Result};
use cache::{Invalidate, Shared};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use tx::{Tx, sql};
use writer::Command;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        match Fault::of(&err) {
            // The writer logs a transient fault once, with the path, when it starts and clears.
            Some(fault) if fault.is_transient() => {
                tracing::debug!(error = %err, "store fault");
                Error::StorageFault(fault)
            }
            Some(fault) => {
                tracing::error!(error = %err, fault = fault.label(), "store fault");
                Error::StorageFault(fault)
            }
            None => {
                tracing::error!(error = %err, "store error");
                Error::Storage
            }
        }
    }
}

/// The embedded engine: one SQLite file (or in-memory database), a writer thread, read connections.
struct SqliteDb {
    target: String,
    flags: OpenFlags,
    /// File-backed (WAL, fsync on commit) rather than in-memory.
    durable: bool,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

enum Backend {
    Sqlite(SqliteDb),
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Postgres>),
}

struct Inner {
    backend: Backend,
    shared: Arc<Shared>,
    /// IAM's propagation delay in milliseconds (0: changes apply at once).
    propagation_delay_ms: AtomicI64,
    /// Most access keys a user (or the root user) may have.
    key_quota: AtomicUsize,
}

/// Handle to the state; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target())
            .finish()
    }
}

/// Runs the use case `$body`, an expression over `$tx: &mut impl Tx`, as one durable write:
/// on SQLite inside the writer's next batch, on PostgreSQL in its own transaction, run again
/// whole when it loses a serialization race or a deadlock. Captured values are moved to the
/// writer thread on SQLite, so they must be owned.
macro_rules! write_tx {
    ($store:expr, $invalidate:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::store::Store = $store;
        let invalidate: $crate::store::cache::Invalidate = $invalidate;
        match store.backend() {
            $crate::store::Backend::Sqlite(db) => {
                db.write(invalidate, move |c| {
                    let mut tx = $crate::store::sqlite::SqliteTx::new(c);
                    let $tx = &mut tx;
                    $crate::store::sqlite::ready($body)
                })
                .await
            }
            #[cfg(feature = "postgres")]
            $crate::store::Backend::Postgres(db) => {
                // Uses recorded before this write are durable once it is acknowledged, as on
                // SQLite, whose batches carry them: their own asynchronous commit first, which
                // this write's synchronous commit flushes to disk along with itself.
                if let Err(e) = db.flush_last_used(&store.inner.shared).await {
                    tracing::warn!(error = %e, "cannot record last uses before a write");
                }
                let mut attempt = 0;
                let out = loop {
                    let mut client = db.client().await?;
                    let t = $crate::store::postgres::begin(&mut client).await?;
                    let mut tx = $crate::store::postgres::PgTx::new(&t);
                    let result = {
                        let $tx = &mut tx;
                        $body.await
                    };
                    let result = match result {
                        Ok(v) => db.notify(&mut tx, &invalidate).await.map(|()| v),
                        Err(e) => Err(e),
                    };
                    let retryable = tx.retryable;
                    match result {
                        Ok(v) => match $crate::store::postgres::commit(t).await {
                            Ok(true) => break Ok(v),
                            Ok(false) if attempt < $crate::store::postgres::RETRIES => {}
                            Ok(false) => break Err($crate::error::Error::Storage),
                            Err(e) => break Err(e),
                        },
                        Err(e) => {
                            drop(t);
                            if !retryable || attempt >= $crate::store::postgres::RETRIES {
                                break Err(e);
                            }
                        }
                    }
                    attempt += 1;
                    $crate::store::postgres::backoff(attempt).await;
                };
                store.inner.shared.invalidate(vec![invalidate]);
                out
            }
        }
    }};
}
pub(crate) use write_tx;

/// Runs the read `$body`, an expression over `$tx: &mut impl Tx`, on a pooled connection.
macro_rules! read_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let store: &$crate::store::Store = $store;
        match store.backend() {
            $crate::store::Backend::Sqlite(db) => db.read(|c| {
                let mut tx = $crate::store::sqlite::SqliteTx::new(c);
                let $tx = &mut tx;
                $crate::store::sqlite::ready($body)
            }),
            #[cfg(feature = "postgres")]
            $crate::store::Backend::Postgres(db) => {
                let client = db.reader().await?;
                let mut tx = $crate::store::postgres::PgTx::new(&*client);
                let $tx = &mut tx;
                $body.await
            }
        }
    }};
}
pub(crate) use read_tx;

/// Why a store could not be opened; the message is meant for the person starting the server.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

fn open_err(context: &str, e: impl std::fmt::Display) -> OpenError {
    OpenError(format!("{context}: {e}"))
}

/// An SQLite failure while opening: named after its fault and the path when it is one.
fn sqlite_open_err(target: &str, context: &str, e: &rusqlite::Error) -> OpenError {
    match Fault::of(e) {
        Some(fault) => OpenError(fault.refine(target).describe(target, &e.to_string())),
        None => open_err(context, e),
    }
}

/// A file-system failure while creating the database or its directory.
fn io_open_err(path: &Path, e: &std::io::Error) -> OpenError {
    let target = path.display().to_string();
    let fault = match e.kind() {
        std::io::ErrorKind::StorageFull => Some(Fault::DiskFull),
        std::io::ErrorKind::ReadOnlyFilesystem => Some(Fault::ReadOnly),
        _ => None,
    };
    match fault {
        Some(f) => OpenError(f.describe(&target, &e.to_string())),
        None => open_err(&format!("cannot create {target}"), e),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Data behind these locks stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

impl SqliteDb {
    fn reader(&self) -> Result<Connection> {
        if let Some(conn) = lock(&self.readers).pop() {
            return Ok(conn);
        }
        let mut conn = Connection::open_with_flags(&self.target, self.flags)?;
        schema::configure(&mut conn, self.durable)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs a read on a pooled connection.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let conn = self.reader()?;
        let result = f(&conn);
        lock(&self.readers).push(conn);
        result
    }

    fn submit(&self, cmd: Command) -> Result<()> {
        let guard = lock(&self.writer);
        let Some(tx) = guard.as_ref() else {
            return Err(Error::ShuttingDown);
        };
        tx.send(cmd).map_err(|_| Error::Storage)
    }

    /// Runs `f` inside the writer's transaction and resolves once it is durable, after dropping
    /// the cached credentials `invalidate` names.
    async fn write<R: Send + 'static>(
        &self,
        invalidate: Invalidate,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::job(f, tx, invalidate))?;
        rx.await.map_err(|_| Error::Storage)?
    }

    fn close(&self) {
        let sender = lock(&self.writer).take();
        drop(sender);
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite store on real time and starts its writer thread.
    pub fn open(storage: &Storage) -> std::result::Result<Store, OpenError> {
        Store::open_with_clock(storage, Arc::new(Clock::default()))
    }

    /// Opens the store `storage` names, SQLite or PostgreSQL, with the clock that judges its
    /// lifetimes; PostgreSQL needs the Tokio runtime this runs on.
    pub async fn connect(
        storage: &Storage,
        clock: Arc<Clock>,
    ) -> std::result::Result<Store, OpenError> {
        match storage {
            #[cfg(feature = "postgres")]
            Storage::Postgres(url) => {
                let db = postgres::Postgres::open(url.expose()).await?;
                let store = Store::with_backend(
                    Backend::Postgres(Box::new(db)),
                    Arc::new(Shared::new(clock)),
                );
                postgres::start_background(&store);
                Ok(store)
            }
            #[cfg(not(feature = "postgres"))]
            Storage::Postgres(_) => Err(OpenError(
                "this iamlite was built without PostgreSQL support (cargo feature \"postgres\")"
                    .into(),
            )),
            _ => Store::open_with_clock(storage, clock),
        }
    }

    fn with_backend(backend: Backend, shared: Arc<Shared>) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend,
                shared,
                propagation_delay_ms: AtomicI64::new(0),
                key_quota: AtomicUsize::new(crate::model::ACCESS_KEYS_PER_USER),
            }),
        }
    }

    fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// The SQLite engine, for tests of its writer.
    #[cfg(test)]
    fn sqlite(&self) -> &SqliteDb {
        match self.backend() {
            Backend::Sqlite(db) => db,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => panic!("not a SQLite store"),
        }
    }

    /// Opens a SQLite store with the clock that judges its lifetimes (propagation deadlines).
    pub fn open_with_clock(
        storage: &Storage,
        clock: Arc<Clock>,
    ) -> std::result::Result<Store, OpenError> {
        let (target, flags, durable) = match storage {
            Storage::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| io_open_err(dir, &e))?;
                }
                create_private_file(path).map_err(|e| io_open_err(path, &e))?;
                (
                    path.to_string_lossy().into_owned(),
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    true,
                )
            }
            Storage::InMemory => (
                // memdb with a leading '/' is one database shared by every connection of this process.
                format!("file:/iamlite-{}?vfs=memdb", uuid::Uuid::new_v4().simple()),
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                false,
            ),
            Storage::Postgres(url) => {
                return Err(OpenError(format!(
                    "{} is a PostgreSQL database; open it with Store::connect",
                    url.redacted()
                )));
            }
        };
        let mut conn = Connection::open_with_flags(&target, flags)
            .map_err(|e| sqlite_open_err(&target, &format!("cannot open database {target}"), &e))?;
        // Nothing is written to a file before it is known to be a sound iamlite database of a
        // version this build understands.
        schema::configure(&mut conn, durable)
            .map_err(|e| sqlite_open_err(&target, "cannot configure database", &e))?;
        schema::inspect(&conn, &target)?;
        schema::configure_writer(&mut conn, durable)
            .map_err(|e| sqlite_open_err(&target, "cannot configure database", &e))?;
        schema::migrate(&conn).map_err(|(context, e)| sqlite_open_err(&target, &context, &e))?;
        let shared = Arc::new(Shared::new(clock));
        // Deletions whose propagation ended while no server ran are forgotten now, not at the
        // next delete; on a full or read-only disk they wait for the writer's next purge.
        if let Err(e) = writer::purge_expired(&conn, shared.clock.now_millis()) {
            match Fault::of(&e) {
                Some(f) if f.is_transient() => {
                    tracing::warn!(error = %e, "cannot purge propagated deletions now")
                }
                _ => {
                    return Err(sqlite_open_err(
                        &target,
                        "cannot purge propagated deletions",
                        &e,
                    ));
                }
            }
        }
        if durable {
            writer::note_fault(&shared, &target, writer::space_fault(&target));
        }
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread_target = target.clone();
        let thread = std::thread::Builder::new()
            .name("iamlite-writer".into())
            .spawn(move || writer::run(conn, rx, thread_shared, thread_target))
            .map_err(|e| open_err("cannot start writer thread", e))?;
        Ok(Store::with_backend(
            Backend::Sqlite(SqliteDb {
                target,
                flags,
                durable,
                readers: Mutex::new(Vec::new()),
                writer: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
            shared,
        ))
    }

    /// Makes buffered last-used records durable now.
    pub async fn flush(&self) -> Result<()> {
        match self.backend() {
            Backend::Sqlite(db) => {
                let (tx, rx) = oneshot::channel();
                db.submit(Command::Flush(tx))?;
                rx.await.map_err(|_| Error::Storage)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.flush_last_used(&self.inner.shared).await,
        }
    }

    /// Flushes and stops the writer; later writes fail with `Error::ShuttingDown` on SQLite.
    pub fn close(&self) {
        match self.backend() {
            Backend::Sqlite(db) => db.close(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.close(),
        }
    }

    /// `--credential-cache notify`: keeps credentials in memory, emptied by every node's writes
    /// through PostgreSQL's LISTEN/NOTIFY (no effect on SQLite, whose cache is always on).
    pub fn enable_notify_cache(&self) {
        #[cfg(feature = "postgres")]
        postgres::start_listener(self);
    }

    /// Makes new keys wait, and deactivated or deleted keys keep working, for `delay` (IAM's
    /// eventual consistency). Zero, the default, applies every change at once. Changes already
    /// made keep the deadline they were made with.
    pub fn set_propagation_delay(&self, delay: Duration) {
        let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        self.inner.propagation_delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn propagation_delay_ms(&self) -> i64 {
        self.inner.propagation_delay_ms.load(Ordering::Relaxed)
    }

    /// Most access keys a user (or the root user) may have: AWS's 2 unless set otherwise.
    pub fn set_key_quota(&self, quota: usize) {
        self.inner.key_quota.store(quota, Ordering::Relaxed);
    }

    pub fn key_quota(&self) -> usize {
        self.inner.key_quota.load(Ordering::Relaxed)
    }

    /// How often the writer forgets deletions that have propagated (a minute unless changed).
    pub fn set_purge_interval(&self, every: Duration) {
        self.inner.shared.set_purge_interval(every);
    }

    /// (accounts, users, access keys) for the health endpoint.
    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        let row = read_tx!(self, |tx| tx.query_one(
            &sql!(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM users),
                        (SELECT COUNT(*) FROM access_keys)"
            ),
            &[]
        ))?;
        Ok((row.int(0)?, row.int(1)?, row.int(2)?))
    }

    /// (sessions, MFA devices) for the health endpoint; expired sessions not yet forgotten count.
    pub async fn session_and_device_counts(&self) -> Result<(i64, i64)> {
        let row = read_tx!(self, |tx| tx.query_one(
            &sql!("SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM mfa_devices)"),
            &[]
        ))?;
        Ok((row.int(0)?, row.int(1)?))
    }

    /// Deleted keys still remembered for propagation (their count, for tests and health).
    pub async fn tombstones(&self) -> Result<i64> {
        read_tx!(self, |tx| tx
            .count(&sql!("SELECT COUNT(*) FROM deleted_access_keys"), &[]))
    }

    /// The storage fault that makes writes fail now, if any (`/_iamlite/health` shows it).
    pub fn fault(&self) -> Option<Fault> {
        self.inner.shared.fault()
    }

    /// Where the state lives: the database file, a name for the in-memory database, or the
    /// PostgreSQL database's address without its password.
    pub fn target(&self) -> &str {
        match self.backend() {
            Backend::Sqlite(db) => &db.target,
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => &db.target,
        }
    }

    /// `PRAGMA integrity_check`'s first line (`ok` for a sound database) on SQLite.
    pub fn integrity_check(&self) -> Result<String> {
        match self.backend() {
            Backend::Sqlite(db) => {
                db.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(format!("not checked: {} is PostgreSQL", self.target())),
        }
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
