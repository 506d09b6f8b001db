//! PostgreSQL, the shared backend: a connection pool, PostgreSQL's side of the transaction
//! interface, the schema created once under a lock row, and the background task that writes
//! last-used records and forgets propagated deletions.
//!
//! Several iamlite nodes may share one database. By default nothing about keys is cached in
//! memory here: every signed request reads its key (one primary-key lookup), so a change made
//! through one node is seen by every node on its next request. `--credential-cache notify` trades
//! that for speed: writes that change keys NOTIFY, each node LISTENs on a connection of its own
//! and empties what they name, so a node may accept a just-changed key for the moment the
//! notification takes to arrive (measured in the README).

use super::cache::{Invalidate, Shared};
use super::tx::{Arg, Cell, Row, Sql, Tx, args, sql};
use super::writer::EXPIRED_SESSION_KEPT_MS;
use super::{Backend, OpenError, SCHEMA_VERSION, Store, lock, open_err};
use crate::error::{Error, Result};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls};

const SCHEMA: &str = include_str!("schema_pg.sql");
/// Connections one node keeps to the database: the shared readers, and connections for
/// transactions.
const POOL_SIZE: usize = 16;
/// Connections that every read shares (see `Postgres::reader`).
const SHARED_READERS: usize = 2;
/// How many times a write that lost a serialization race or a deadlock is run again.
const MAX_RETRIES: u32 = 8;
/// How long a node waits for a pooled connection, or for a new one, before failing the request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::Int(v) => match *ty {
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Arg::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                Type::INT2 => i16::from(b).to_sql(ty, out),
                Type::INT4 => i32::from(b).to_sql(ty, out),
                _ => i64::from(b).to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Cell::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Cell::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Cell::Int(i64::from(bool::from_sql(ty, raw)?)),
            _ => Cell::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Cell::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL | Type::TEXT | Type::VARCHAR
        ) || <String as FromSql>::accepts(ty)
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        tracing::error!(error = %e, "database error");
        Error::Storage
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        tracing::error!(error = %e, "cannot get a database connection");
        Error::Storage
    }
}

/// Another transaction won a race this one must lose whole: run it again.
fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// A use case's view of a PostgreSQL transaction or connection.
pub(super) struct PgTx<'a, C: GenericClient> {
    client: &'a C,
    /// The last failure was a serialization failure or a deadlock.
    pub(super) retryable: bool,
}

impl<'a, C: GenericClient> PgTx<'a, C> {
    pub(super) fn new(client: &'a C) -> Self {
        PgTx {
            client,
            retryable: false,
        }
    }

    fn note(&mut self, e: tokio_postgres::Error) -> Error {
        if is_retryable(&e) {
            self.retryable = true;
            tracing::debug!(error = %e, "transaction lost a race; it runs again");
            return Error::Storage;
        }
        e.into()
    }

    async fn run_query(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
    ) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let stmt = self.client.prepare_cached(sql.postgres).await?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.client.query(&stmt, &params).await
    }

    async fn run_execute(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let stmt = self.client.prepare_cached(sql.postgres).await?;
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.client.execute(&stmt, &params).await
    }
}

impl<C: GenericClient> Tx for PgTx<'_, C> {
    async fn query(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let rows = match self.run_query(sql, args).await {
            Ok(rows) => rows,
            Err(e) => return Err(self.note(e)),
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut cells = Vec::with_capacity(r.len());
            for i in 0..r.len() {
                match r.try_get::<_, Cell>(i) {
                    Ok(c) => cells.push(c),
                    Err(e) => return Err(self.note(e)),
                }
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64> {
        match self.run_execute(sql, args).await {
            Ok(n) => Ok(n),
            Err(e) => Err(self.note(e)),
        }
    }

    async fn execute_unique(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<u64>> {
        match self.run_execute(sql, args).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
            Err(e) => Err(self.note(e)),
        }
    }

    async fn batch(&mut self, sql: &Sql) -> Result<()> {
        match self.client.batch_execute(sql.postgres).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.note(e)),
        }
    }
}

/// The shared backend's handle.
pub(super) struct Postgres {
    pool: Pool,
    /// The database's address without its password, for messages.
    pub(super) target: String,
    /// For the listener's own connection (never a pooled one).
    config: tokio_postgres::Config,
    /// `--credential-cache notify`: writes that change keys notify every node.
    notify: AtomicBool,
    /// The listener is connected and listening: only then may credentials be served from memory.
    listening: Arc<AtomicBool>,
    background: Mutex<Vec<tokio::task::AbortHandle>>,
    readers: Mutex<[Option<Arc<deadpool_postgres::Object>>; SHARED_READERS]>,
    flushing: tokio::sync::Mutex<()>,
    next_reader: std::sync::atomic::AtomicUsize,
}

impl Postgres {
    /// Connects, then creates the schema if the database has none (one node does, under a lock
    /// row; the others wait for it) or refuses a schema written by a newer iamlite.
    pub(super) async fn open(url: &str) -> std::result::Result<Postgres, OpenError> {
        let target = crate::config::redact_database_url(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| open_err(&format!("cannot read the database address {target}"), e))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("iamlite");
        // Every statement is a keyed lookup whose best plan does not depend on its arguments;
        // left to choose, PostgreSQL plans many of them anew on each run (custom plans), which
        // costs more than running them.
        config.options("-c plan_cache_mode=force_generic_plan");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| open_err("cannot make the connection pool", e))?;
        let pg = Postgres {
            pool,
            target,
            config,
            notify: AtomicBool::new(false),
            listening: Arc::new(AtomicBool::new(false)),
            background: Mutex::new(Vec::new()),
            readers: Mutex::new(Default::default()),
            flushing: tokio::sync::Mutex::new(()),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
        };
        pg.migrate().await?;
        Ok(pg)
    }

    /// A connection of its own, for a transaction.
    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// A connection shared by concurrent reads, taken in turn: tokio-postgres pipelines the
    /// statements of every task using it, which costs both sides far fewer wakeups and system
    /// calls than one connection per statement. Never for a transaction (BEGIN would take the
    /// other tasks' statements into it).
    pub(super) async fn reader(&self) -> Result<Arc<deadpool_postgres::Object>> {
        let slot = self.next_reader.fetch_add(1, Ordering::Relaxed) % SHARED_READERS;
        if let Some(c) = lock(&self.readers)[slot].clone()
            && !c.is_closed()
        {
            return Ok(c);
        }
        let fresh = Arc::new(self.pool.get().await?);
        lock(&self.readers)[slot] = Some(fresh.clone());
        Ok(fresh)
    }

    async fn migrate(&self) -> std::result::Result<(), OpenError> {
        let fail = |what: &str, e: tokio_postgres::Error| {
            open_err(&format!("{}: cannot {what}", self.target), e)
        };
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| open_err(&format!("cannot connect to {}", self.target), e))?;
        // Two nodes creating the version table at once: one of them fails on the catalog's
        // unique index and simply tries again.
        let mut attempt = 0;
        loop {
            let made = client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS iamlite_schema (
                         id INT PRIMARY KEY CHECK (id = 1), version INT NOT NULL);
                     INSERT INTO iamlite_schema VALUES (1, 0) ON CONFLICT DO NOTHING;",
                )
                .await;
            match made {
                Ok(()) => break,
                Err(_) if attempt < 5 => attempt += 1,
                Err(e) => return Err(fail("create the schema version table", e)),
            }
        }
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(|e| fail("begin", e))?;
        // The lock row: other nodes starting now wait here until this one has committed.
        let version: i32 = tx
            .query_one(
                "SELECT version FROM iamlite_schema WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await
            .map_err(|e| fail("read the schema version", e))?
            .get(0);
        if i64::from(version) > SCHEMA_VERSION {
            return Err(OpenError(format!(
                "{} was written by a newer iamlite (schema version {version}); this iamlite \
                 understands schema version {SCHEMA_VERSION} and older; nothing was changed. \
                 Upgrade iamlite or use another database.",
                self.target
            )));
        }
        if version == 0 {
            tx.batch_execute(SCHEMA)
                .await
                .map_err(|e| fail("create the schema", e))?;
            tx.execute(
                "UPDATE iamlite_schema SET version = $1 WHERE id = 1",
                &[&(SCHEMA_VERSION as i32)],
            )
            .await
            .map_err(|e| fail("record the schema version", e))?;
        }
        tx.commit().await.map_err(|e| fail("commit the schema", e))
    }
}

/// How long to wait before running a losing transaction again: a few milliseconds, growing,
/// jittered so that the losers do not collide again.
pub(super) async fn backoff(attempt: u32) {
    let base = 1u64 << attempt.min(6);
    let jitter = rand::random::<u64>() % (base + 1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

pub(super) const RETRIES: u32 = MAX_RETRIES;

pub(super) async fn begin(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await?)
}

/// Commits; a commit that lost a serialization race says so (`Ok(false)`: run it again).
pub(super) async fn commit(tx: deadpool_postgres::Transaction<'_>) -> Result<bool> {
    match tx.commit().await {
        Ok(()) => Ok(true),
        Err(e) if is_retryable(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How often buffered last-used records are written.
const LAST_USED_FLUSH: Duration = Duration::from_millis(500);

impl Postgres {
    /// Writes the buffered last-used records in one short transaction of their own (never inside
    /// a user's write, where it would hold locks longer). A use never moves a key's last use
    /// backwards, whichever node recorded it.
    pub(super) async fn flush_last_used(&self, shared: &Shared) -> Result<()> {
        // One flush at a time: writes that arrive meanwhile wait for it, then find only the
        // uses recorded since, instead of all writing the same rows at once.
        let _one_at_a_time = self.flushing.lock().await;
        let pending = shared.pending_uses();
        if pending.is_empty() {
            return Ok(());
        }
        // One order for every node, so two nodes' flushes cannot deadlock.
        let mut uses: Vec<_> = pending.iter().collect();
        uses.sort_by(|a, b| a.0.cmp(b.0));
        let update = sql!(
            "UPDATE access_keys SET last_used_date = $2, last_used_service = $3,
                 last_used_region = $4
             WHERE access_key_id = $1 AND (last_used_date IS NULL OR last_used_date < $2)"
        );
        let mut attempt = 0;
        loop {
            let mut client = self.client().await?;
            let t = begin(&mut client).await?;
            let mut tx = PgTx::new(&t);
            // Not an acknowledged write: no wait for the disk here (the next synchronous commit
            // of this database, or the WAL writer within 200 ms, makes it durable).
            let mut result = tx.batch(&sql!("SET LOCAL synchronous_commit = off")).await;
            for (id, used) in &uses {
                if result.is_err() {
                    break;
                }
                let args = args![
                    id.as_str(),
                    used.date,
                    used.service.as_str(),
                    used.region.as_str()
                ];
                if let Err(e) = tx.execute(&update, args).await {
                    result = Err(e);
                    break;
                }
            }
            let retryable = tx.retryable;
            match result {
                Ok(()) => {
                    if commit(t).await? {
                        break;
                    }
                }
                Err(e) if !retryable || attempt >= RETRIES => return Err(e),
                Err(_) => drop(t),
            }
            if attempt >= RETRIES {
                return Err(Error::Storage);
            }
            attempt += 1;
            backoff(attempt).await;
        }
        shared.forget_written_uses(&pending);
        Ok(())
    }

    /// Forgets deleted keys whose deletion has propagated by `now`, and sessions that expired
    /// more than a day before it (as SQLite's writer does).
    async fn purge_expired(&self, now: i64) -> Result<()> {
        let client = self.client().await?;
        let mut tx = PgTx::new(&client);
        tx.execute(
            &sql!("DELETE FROM deleted_access_keys WHERE visible_until <= $1"),
            args![now],
        )
        .await?;
        tx.execute(
            &sql!("DELETE FROM sessions WHERE expiration <= $1"),
            args![now.saturating_sub(EXPIRED_SESSION_KEPT_MS)],
        )
        .await?;
        Ok(())
    }

    /// Stops the background tasks (the server flushed last-used records before).
    pub(super) fn close(&self) {
        for task in lock(&self.background).drain(..) {
            task.abort();
        }
    }

    /// How long a cached credential may be served, or `None`: read every one from the database.
    pub(super) fn cache_max_age(&self) -> Option<Duration> {
        self.listening
            .load(Ordering::Acquire)
            .then_some(CACHE_SAFETY_TTL)
    }

    /// Inside a write's transaction, before its commit: tells every node's listener which cached
    /// credentials the write makes stale (delivered when, and only if, the write commits).
    pub(super) async fn notify(
        &self,
        tx: &mut PgTx<'_, deadpool_postgres::Transaction<'_>>,
        invalidate: &Invalidate,
    ) -> Result<()> {
        if !self.notify.load(Ordering::Relaxed) {
            return Ok(());
        }
        let payload = match invalidate {
            Invalidate::Nothing => return Ok(()),
            Invalidate::Key(id) => id.as_str(),
            Invalidate::Everything => EVERYTHING,
        };
        tx.execute(
            &sql!("SELECT pg_notify('iamlite_keys', $1)"),
            args![payload],
        )
        .await?;
        Ok(())
    }
}

/// The channel writes notify on, and the payload that empties every cache.
const CHANNEL: &str = "iamlite_keys";
const EVERYTHING: &str = "*";
/// Even with notifications, a cached credential is read again after this long: a safety net for
/// a notification lost in a way the listener could not notice.
const CACHE_SAFETY_TTL: Duration = Duration::from_secs(5);

/// Turns on `--credential-cache notify`: writes notify, and a listener task keeps this node's
/// cache in step with every node's writes.
pub(super) fn start_listener(store: &Store) {
    let Backend::Postgres(db) = &store.inner.backend else {
        return;
    };
    db.notify.store(true, Ordering::Relaxed);
    let (config, listening, shared) = (
        db.config.clone(),
        db.listening.clone(),
        store.inner.shared.clone(),
    );
    let task = tokio::spawn(listen(config, listening, shared));
    lock(&db.background).push(task.abort_handle());
}

/// Keeps one connection listening. While it is down the node reads every credential from the
/// database; once it is back, it listens first and empties the cache second, since
/// notifications sent while it was down are lost.
async fn listen(
    mut config: tokio_postgres::Config,
    listening: Arc<AtomicBool>,
    shared: Arc<Shared>,
) {
    config.application_name("iamlite-listener");
    let mut attempt = 0;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let down = listening.clone();
                let down_shared = shared.clone();
                // Drives the connection; the moment it ends, the cache stops being used.
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                let _ = tx.send(n.payload().to_string());
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "the credential listener's connection failed");
                                break;
                            }
                            None => break,
                        }
                    }
                    down.store(false, Ordering::Release);
                    down_shared.invalidate(vec![Invalidate::Everything]);
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        shared.invalidate(vec![Invalidate::Everything]);
                        listening.store(true, Ordering::Release);
                        attempt = 0;
                        tracing::info!("listening for credential changes of other nodes");
                        while let Some(payload) = rx.recv().await {
                            shared.invalidate(vec![match payload.as_str() {
                                EVERYTHING => Invalidate::Everything,
                                id => Invalidate::Key(id.to_string()),
                            }]);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot LISTEN for credential changes"),
                }
                listening.store(false, Ordering::Release);
                shared.invalidate(vec![Invalidate::Everything]);
                drop(client);
                let _ = driver.await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the credential listener"),
        }
        attempt = (attempt + 1).min(6);
        backoff(attempt).await;
    }
}

/// Starts the task that writes last-used records every half second and purges propagated
/// deletions; it ends with the store.
pub(super) fn start_background(store: &Store) {
    let weak = Arc::downgrade(&store.inner);
    let task = tokio::spawn(async move {
        let mut last_purge = Instant::now();
        loop {
            tokio::time::sleep(LAST_USED_FLUSH).await;
            let Some(inner) = weak.upgrade() else { break };
            let Backend::Postgres(db) = &inner.backend else {
                break;
            };
            if let Err(e) = db.flush_last_used(&inner.shared).await {
                tracing::warn!(error = %e, "cannot record last uses now; trying again");
            }
            if last_purge.elapsed() >= inner.shared.purge_interval() {
                last_purge = Instant::now();
                if let Err(e) = db.purge_expired(inner.shared.clock.now_millis()).await {
                    tracing::warn!(error = %e, "cannot purge propagated deletions");
                }
            }
        }
    });
    if let Backend::Postgres(db) = &store.inner.backend {
        lock(&db.background).push(task.abort_handle());
    }
}
