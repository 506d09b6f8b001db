//! The state store over SQLite: one method per use case, IAM's rules enforced inside each write's transaction.
//!
//! Reads run on a small pool of read-only connections (WAL lets them proceed while a write commits).
//! Writes go to one writer thread that batches whatever is queued into a single transaction, one
//! SAVEPOINT per write, and fsyncs once before acknowledging the whole batch (group commit). A write
//! is acknowledged only after its COMMIT returned, so acknowledged writes survive a kill -9.
//! Last-used records are buffered in memory and folded into the next batch, so signing a request
//! does not cost a durable write, while GetAccessKeyLastUsed still sees the use at once.

use crate::config::Storage;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ids::IdGen;
use crate::model::{
    ACCESS_KEYS_PER_USER, AccessKeyMeta, Credential, KeyStatus, LastUsed, NewAccessKey, Owner,
    Page, Principal, Secret, TAGS_PER_USER, Tag, User,
};
use crate::seed::{Seed, SeedKey};
use crate::state::{
    AccountState, KeyState, LastUsedState, STATE_FORMAT, State, TagState, UserState,
    millis_to_rfc3339, rfc3339_to_millis, status_from_state,
};
use data_encoding::BASE64;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;
const SCHEMA: &str = include_str!("schema.sql");
/// Most writes folded into one transaction.
const MAX_BATCH: usize = 512;
/// How long buffered last-used records may wait for a write batch to carry them.
const LAST_USED_FLUSH: Duration = Duration::from_millis(500);
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One queued write: `run` inside the batch's transaction, then `finish` once the batch's fate is known.
trait WriteJob: Send {
    /// Runs the write; `false` means it failed and its savepoint must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the waiting request with the write's result, or the commit's failure.
    fn finish(self: Box<Self>, commit: ApiResult<()>);
}

struct Job<F, R> {
    work: Option<F>,
    result: Option<ApiResult<R>>,
    reply: oneshot::Sender<ApiResult<R>>,
}

impl<F, R> WriteJob for Job<F, R>
where
    F: FnOnce(&Connection) -> ApiResult<R> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(ApiError::service_failure()));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: ApiResult<()>) {
        let outcome = match self.result {
            Some(Ok(v)) => commit.map(|_| v),
            Some(Err(e)) => Err(e),
            None => Err(commit.err().unwrap_or_else(ApiError::service_failure)),
        };
        let _ = self.reply.send(outcome);
    }
}

enum Command {
    Write(Box<dyn WriteJob>, Invalidate),
    Flush(oneshot::Sender<()>),
}

/// Which cached credentials a write may make stale.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Invalidate {
    Nothing,
    Key(String),
    Everything,
}

/// Most credentials kept in memory; past this the cache starts over.
const CREDENTIAL_CACHE_CAPACITY: usize = 65_536;

/// Credentials of recently used keys, so that verifying a request needs no SQLite read. Writes
/// that change a key drop it (after their COMMIT, before they are acknowledged), and bump the
/// generation, so a read that raced with the write never puts an old copy back.
#[derive(Default)]
struct CredentialCache {
    generation: u64,
    entries: HashMap<String, Credential>,
}

#[derive(Default)]
struct Shared {
    last_used: Mutex<HashMap<String, LastUsed>>,
    credentials: Mutex<CredentialCache>,
}

struct Inner {
    target: String,
    flags: OpenFlags,
    /// File-backed (WAL, fsync on commit) rather than in-memory.
    durable: bool,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    /// IAM's propagation delay in milliseconds (0: changes apply at once).
    propagation_delay_ms: AtomicI64,
}

/// Handle to the state; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.inner.target)
            .finish()
    }
}

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

impl Store {
    /// Opens (creating if needed) the store and starts its writer thread.
    pub fn open(storage: &Storage) -> Result<Store, OpenError> {
        let (target, flags, durable) = match storage {
            Storage::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| open_err(&format!("cannot create {}", dir.display()), e))?;
                }
                create_private_file(path)
                    .map_err(|e| open_err(&format!("cannot create {}", path.display()), e))?;
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
        };
        let mut conn = Connection::open_with_flags(&target, flags)
            .map_err(|e| open_err(&format!("cannot open database {target}"), e))?;
        configure_writer(&mut conn, durable)
            .map_err(|e| open_err("cannot configure database", e))?;
        migrate(&conn)?;

        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("iamlite-writer".into())
            .spawn(move || writer_loop(conn, rx, thread_shared))
            .map_err(|e| open_err("cannot start writer thread", e))?;
        Ok(Store {
            inner: Arc::new(Inner {
                target,
                flags,
                durable,
                readers: Mutex::new(Vec::new()),
                writer: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                shared,
                propagation_delay_ms: AtomicI64::new(0),
            }),
        })
    }

    fn reader(&self) -> ApiResult<Connection> {
        if let Some(conn) = lock(&self.inner.readers).pop() {
            return Ok(conn);
        }
        let mut conn = Connection::open_with_flags(&self.inner.target, self.inner.flags)?;
        configure(&mut conn, self.inner.durable)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs a read on a pooled connection.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> ApiResult<R>) -> ApiResult<R> {
        let conn = self.reader()?;
        let result = f(&conn);
        lock(&self.inner.readers).push(conn);
        result
    }

    fn submit(&self, cmd: Command) -> ApiResult<()> {
        let guard = lock(&self.inner.writer);
        let Some(tx) = guard.as_ref() else {
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The store is shutting down.",
            ));
        };
        tx.send(cmd).map_err(|_| ApiError::service_failure())
    }

    fn job<F, R>(work: F, reply: oneshot::Sender<ApiResult<R>>, invalidate: Invalidate) -> Command
    where
        F: FnOnce(&Connection) -> ApiResult<R> + Send + 'static,
        R: Send + 'static,
    {
        Command::Write(
            Box::new(Job {
                work: Some(work),
                result: None,
                reply,
            }),
            invalidate,
        )
    }

    /// Runs `f` inside the writer's transaction and resolves once it is durable.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<R> + Send + 'static,
    ) -> ApiResult<R> {
        self.write_invalidating(Invalidate::Nothing, f).await
    }

    async fn write_invalidating<R: Send + 'static>(
        &self,
        invalidate: Invalidate,
        f: impl FnOnce(&Connection) -> ApiResult<R> + Send + 'static,
    ) -> ApiResult<R> {
        let (tx, rx) = oneshot::channel();
        self.submit(Self::job(f, tx, invalidate))?;
        rx.await.map_err(|_| ApiError::service_failure())?
    }

    /// `write` for callers outside an async runtime (start-up, command-line tools).
    pub fn write_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<R> + Send + 'static,
    ) -> ApiResult<R> {
        let (tx, rx) = oneshot::channel();
        self.submit(Self::job(f, tx, Invalidate::Everything))?;
        rx.blocking_recv()
            .map_err(|_| ApiError::service_failure())?
    }

    /// Makes buffered last-used records durable now.
    pub async fn flush(&self) -> ApiResult<()> {
        let (tx, rx) = oneshot::channel();
        self.submit(Command::Flush(tx))?;
        rx.await.map_err(|_| ApiError::service_failure())
    }

    /// Flushes and stops the writer thread; later writes fail with ServiceUnavailable.
    pub fn close(&self) {
        let sender = lock(&self.inner.writer).take();
        drop(sender);
        if let Some(handle) = lock(&self.inner.thread).take() {
            let _ = handle.join();
        }
    }

    // --- accounts, seeds, whole-state operations --------------------------------------------

    /// Makes new keys wait, and deactivated or deleted keys keep working, for `delay` (IAM's
    /// eventual consistency). Zero, the default, applies every change at once.
    pub fn set_propagation_delay(&self, delay: Duration) {
        let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        self.inner.propagation_delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn propagation_delay_ms(&self) -> i64 {
        self.inner.propagation_delay_ms.load(Ordering::Relaxed)
    }

    /// Adds what the seed asserts (accounts, root keys, users, tags, keys) and keeps everything else.
    /// Applying the same seed twice leaves the same state.
    pub async fn apply_seed(&self, seed: Arc<Seed>, ids: Arc<IdGen>, now: i64) -> ApiResult<()> {
        self.write_invalidating(Invalidate::Everything, move |c| {
            apply_seed(c, &seed, &ids, now)
        })
        .await
    }

    /// Replaces all state with exactly what the seed asserts, in one transaction.
    pub async fn reset(&self, seed: Arc<Seed>, ids: Arc<IdGen>, now: i64) -> ApiResult<()> {
        let shared = self.inner.shared.clone();
        self.write_invalidating(Invalidate::Everything, move |c| {
            clear(c)?;
            lock(&shared.last_used).clear();
            apply_seed(c, &seed, &ids, now)
        })
        .await
    }

    /// Everything, secrets included, as one consistent snapshot.
    pub fn export(&self) -> ApiResult<State> {
        let pending = lock(&self.inner.shared.last_used).clone();
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let state = export(c, &pending);
            let _ = c.execute_batch("COMMIT");
            state
        })
    }

    /// Replaces all state with `state`, in one transaction; nothing changes if it is refused.
    pub async fn import(&self, state: State) -> ApiResult<()> {
        let shared = self.inner.shared.clone();
        self.write_invalidating(Invalidate::Everything, move |c| {
            clear(c)?;
            lock(&shared.last_used).clear();
            import(c, &state)
        })
        .await
    }

    /// (accounts, users, access keys) for the health endpoint.
    pub fn counts(&self) -> ApiResult<(i64, i64, i64)> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM users),
                        (SELECT COUNT(*) FROM access_keys)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
    }

    pub fn account_create_date(&self, account_id: &str) -> ApiResult<i64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT create_date FROM accounts WHERE account_id = ?1")?
                    .query_row([account_id], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        })
    }

    // --- authentication ---------------------------------------------------------------------

    /// Everything needed to verify a request signed with `access_key_id`, from memory when the key
    /// was used recently.
    pub fn credential(&self, access_key_id: &str) -> ApiResult<Option<Credential>> {
        let generation = {
            let cache = lock(&self.inner.shared.credentials);
            if let Some(c) = cache.entries.get(access_key_id) {
                return Ok(Some(c.clone()));
            }
            cache.generation
        };
        let found = self.stored_credential(access_key_id)?;
        if let Some(c) = &found {
            let mut cache = lock(&self.inner.shared.credentials);
            if cache.generation == generation {
                if cache.entries.len() >= CREDENTIAL_CACHE_CAPACITY {
                    cache.entries.clear();
                }
                cache.entries.insert(access_key_id.to_string(), c.clone());
            }
        }
        Ok(found)
    }

    fn stored_credential(&self, access_key_id: &str) -> ApiResult<Option<Credential>> {
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT k.account_id, k.user_id, u.name, u.path, k.secret, k.status, k.create_date,
                            k.status_changed, k.prior_status
                     FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                     WHERE k.access_key_id = ?1",
                )?
                .query_row([access_key_id], |r| {
                    let user_id: Option<String> = r.get(1)?;
                    let principal = match user_id {
                        None => Principal::Root,
                        Some(user_id) => Principal::User {
                            user_id,
                            name: r.get(2)?,
                            path: r.get(3)?,
                        },
                    };
                    Ok(Credential {
                        access_key_id: access_key_id.to_string(),
                        account_id: r.get(0)?,
                        principal,
                        secret: Secret::new(r.get::<_, String>(4)?),
                        status: KeyStatus::from_db(&r.get::<_, String>(5)?),
                        create_date: r.get(6)?,
                        status_changed: r.get(7)?,
                        prior_status: r
                            .get::<_, Option<String>>(8)?
                            .map(|s| KeyStatus::from_db(&s)),
                    })
                })
                .optional()?;
            Ok(row)
        })
    }

    /// A key deleted less than the propagation delay before `now`, as it was when deleted.
    pub fn recently_deleted_credential(
        &self,
        access_key_id: &str,
        now: i64,
    ) -> ApiResult<Option<Credential>> {
        let delay = self.propagation_delay_ms();
        if delay == 0 {
            return Ok(None);
        }
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT account_id, user_id, user_name, user_path, secret, status, deleted_at
                 FROM deleted_access_keys WHERE access_key_id = ?1 AND deleted_at > ?2",
            )?
            .query_row(params![access_key_id, now - delay], |r| {
                let principal = match r.get::<_, Option<String>>(1)? {
                    None => Principal::Root,
                    Some(user_id) => Principal::User {
                        user_id,
                        name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        path: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    },
                };
                Ok(Credential {
                    access_key_id: access_key_id.to_string(),
                    account_id: r.get(0)?,
                    principal,
                    secret: Secret::new(r.get::<_, String>(4)?),
                    status: KeyStatus::from_db(&r.get::<_, String>(5)?),
                    create_date: 0,
                    status_changed: 0,
                    prior_status: None,
                })
            })
            .optional()?)
        })
    }

    /// Records a use of a key; cheap, made durable with the next write batch.
    pub fn touch_last_used(&self, access_key_id: &str, used: LastUsed) {
        lock(&self.inner.shared.last_used).insert(access_key_id.to_string(), used);
    }

    /// The key's owner name (`None` for root) and its last use, or `None` if the account has no such key.
    pub fn access_key_last_used(
        &self,
        account_id: &str,
        access_key_id: &str,
    ) -> ApiResult<Option<(Option<String>, Option<LastUsed>)>> {
        let row = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT u.name, k.last_used_date, k.last_used_service, k.last_used_region
                 FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key_id = ?1 AND k.account_id = ?2",
            )?
            .query_row([access_key_id, account_id], |r| {
                let stored = match r.get::<_, Option<i64>>(1)? {
                    Some(date) => Some(LastUsed {
                        date,
                        service: r.get(2)?,
                        region: r.get(3)?,
                    }),
                    None => None,
                };
                Ok((r.get::<_, Option<String>>(0)?, stored))
            })
            .optional()?)
        })?;
        Ok(row.map(|(name, stored)| {
            let pending = lock(&self.inner.shared.last_used)
                .get(access_key_id)
                .cloned();
            (name, pending.or(stored))
        }))
    }

    // --- users ------------------------------------------------------------------------------

    pub fn get_user(&self, account_id: &str, name: &str) -> ApiResult<User> {
        self.read(|c| {
            let mut user = user_by_name(c, account_id, name)?;
            user.tags = user_tags(c, &user.user_id)?;
            Ok(user)
        })
    }

    pub fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        marker: Option<&str>,
        max_items: usize,
    ) -> ApiResult<Page<User>> {
        let start = match marker {
            Some(m) => decode_marker(m, "u")?,
            None => String::new(),
        };
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT user_id, name, path, create_date FROM users
                 WHERE account_id = ?1 AND substr(path, 1, length(?2)) = ?2
                   AND name >= ?3 COLLATE NOCASE
                 ORDER BY name COLLATE NOCASE LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![account_id, path_prefix, start, max_items as i64 + 1],
                |r| {
                    Ok(User {
                        user_id: r.get(0)?,
                        account_id: account_id.to_string(),
                        name: r.get(1)?,
                        path: r.get(2)?,
                        create_date: r.get(3)?,
                        // ListUsers entries never carry the boundary (use GetUser).
                        permissions_boundary: None,
                        tags: Vec::new(),
                    })
                },
            )?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(paginate(items, max_items, |u| encode_marker("u", &u.name)))
        })
    }

    /// Creates `user` (its account, id, name, path, date, boundary and tags as given) unless its
    /// name is taken in the account without regard to case.
    pub async fn create_user(&self, user: User) -> ApiResult<User> {
        self.write(move |c| {
            if find_user(c, &user.account_id, &user.name)?.is_some() {
                return Err(ApiError::user_already_exists(&user.name));
            }
            c.prepare_cached(
                "INSERT INTO users (user_id, account_id, name, path, create_date, permissions_boundary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                user.user_id,
                user.account_id,
                user.name,
                user.path,
                user.create_date,
                user.permissions_boundary
            ])?;
            upsert_tags(c, &user.user_id, &user.tags)?;
            Ok(user)
        })
        .await
    }

    pub async fn update_user(
        &self,
        account_id: &str,
        name: String,
        new_name: Option<String>,
        new_path: Option<String>,
    ) -> ApiResult<()> {
        let account_id = account_id.to_string();
        self.write_invalidating(Invalidate::Everything, move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            if let Some(new_name) = &new_name
                && let Some(other) = find_user(c, &account_id, new_name)?
                    && other.user_id != user.user_id {
                        return Err(ApiError::user_already_exists(new_name));
                    }
            c.prepare_cached(
                "UPDATE users SET name = coalesce(?2, name), path = coalesce(?3, path) WHERE user_id = ?1",
            )?
            .execute(params![user.user_id, new_name, new_path])?;
            Ok(())
        })
        .await
    }

    pub async fn delete_user(&self, account_id: &str, name: String) -> ApiResult<()> {
        let account_id = account_id.to_string();
        self.write(move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            if count_keys(c, &account_id, Some(&user.user_id))? > 0 {
                return Err(ApiError::delete_conflict_access_keys());
            }
            c.prepare_cached("DELETE FROM user_tags WHERE user_id = ?1")?
                .execute([&user.user_id])?;
            c.prepare_cached("DELETE FROM users WHERE user_id = ?1")?
                .execute([&user.user_id])?;
            Ok(())
        })
        .await
    }

    // --- tags -------------------------------------------------------------------------------

    pub fn list_user_tags(
        &self,
        account_id: &str,
        name: &str,
        marker: Option<&str>,
        max_items: usize,
    ) -> ApiResult<Page<Tag>> {
        let start = match marker {
            Some(m) => decode_marker(m, "t")?,
            None => String::new(),
        };
        self.read(|c| {
            let user = user_by_name(c, account_id, name)?;
            let tags: Vec<Tag> = user_tags(c, &user.user_id)?
                .into_iter()
                .filter(|t| t.key.to_lowercase() >= start)
                .take(max_items + 1)
                .collect();
            Ok(paginate(tags, max_items, |t| {
                encode_marker("t", &t.key.to_lowercase())
            }))
        })
    }

    pub async fn tag_user(&self, account_id: &str, name: String, tags: Vec<Tag>) -> ApiResult<()> {
        let account_id = account_id.to_string();
        self.write(move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            upsert_tags(c, &user.user_id, &tags)?;
            let count: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM user_tags WHERE user_id = ?1")?
                .query_row([&user.user_id], |r| r.get(0))?;
            if count as usize > TAGS_PER_USER {
                return Err(ApiError::tag_quota());
            }
            Ok(())
        })
        .await
    }

    pub async fn untag_user(
        &self,
        account_id: &str,
        name: String,
        keys: Vec<String>,
    ) -> ApiResult<()> {
        let account_id = account_id.to_string();
        self.write(move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            let mut stmt =
                c.prepare_cached("DELETE FROM user_tags WHERE user_id = ?1 AND key_lower = ?2")?;
            for key in keys {
                stmt.execute(params![user.user_id, key.to_lowercase()])?;
            }
            Ok(())
        })
        .await
    }

    // --- access keys ------------------------------------------------------------------------

    pub fn list_access_keys(
        &self,
        account_id: &str,
        owner: &Owner,
        marker: Option<&str>,
        max_items: usize,
    ) -> ApiResult<Page<AccessKeyMeta>> {
        let (start_date, start_id) = match marker {
            Some(m) => {
                let raw = decode_marker(m, "k")?;
                let (date, id) = raw.split_once(':').ok_or_else(ApiError::invalid_marker)?;
                (
                    date.parse::<i64>()
                        .map_err(|_| ApiError::invalid_marker())?,
                    id.to_string(),
                )
            }
            None => (i64::MIN, String::new()),
        };
        let limit = max_items as i64 + 1;
        let items = self.read(|c| match owner {
            Owner::Root => {
                let mut stmt = c.prepare_cached(
                    "SELECT access_key_id, status, create_date FROM access_keys
                     WHERE account_id = ?1 AND user_id IS NULL
                       AND (create_date, access_key_id) >= (?2, ?3)
                     ORDER BY create_date, access_key_id LIMIT ?4",
                )?;
                let rows =
                    stmt.query_map(params![account_id, start_date, start_id, limit], |r| {
                        Ok(AccessKeyMeta {
                            access_key_id: r.get(0)?,
                            user_name: None,
                            status: KeyStatus::from_db(&r.get::<_, String>(1)?),
                            create_date: r.get(2)?,
                        })
                    })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }
            Owner::User(name) => {
                // One statement, so one read transaction: the user (NoSuchEntity when there is no
                // row at all) and its keys (a row with NULL key columns when it has none).
                let mut stmt = c.prepare_cached(
                    "SELECT u.name, k.access_key_id, k.status, k.create_date
                     FROM users u LEFT JOIN access_keys k
                       ON k.account_id = u.account_id AND k.user_id = u.user_id
                      AND (k.create_date, k.access_key_id) >= (?3, ?4)
                     WHERE u.account_id = ?1 AND u.name = ?2 COLLATE NOCASE
                     ORDER BY k.create_date, k.access_key_id LIMIT ?5",
                )?;
                let mut rows =
                    stmt.query(params![account_id, name, start_date, start_id, limit])?;
                let mut items = Vec::new();
                let mut found = false;
                while let Some(r) = rows.next()? {
                    found = true;
                    if let Some(access_key_id) = r.get::<_, Option<String>>(1)? {
                        items.push(AccessKeyMeta {
                            access_key_id,
                            user_name: Some(r.get(0)?),
                            status: KeyStatus::from_db(&r.get::<_, String>(2)?),
                            create_date: r.get(3)?,
                        });
                    }
                }
                if found {
                    Ok(items)
                } else {
                    Err(ApiError::no_such_user(name))
                }
            }
        })?;
        Ok(paginate(items, max_items, |k| {
            encode_marker("k", &format!("{}:{}", k.create_date, k.access_key_id))
        }))
    }

    pub async fn create_access_key(
        &self,
        account_id: &str,
        owner: Owner,
        access_key_id: String,
        secret: Secret,
        now: i64,
    ) -> ApiResult<NewAccessKey> {
        let account_id = account_id.to_string();
        self.write(move |c| {
            let (user_id, user_name) = owner_ids(c, &account_id, &owner)?;
            if count_keys(c, &account_id, user_id.as_deref())? >= ACCESS_KEYS_PER_USER {
                return Err(ApiError::access_key_quota(ACCESS_KEYS_PER_USER));
            }
            c.prepare_cached(
                "INSERT INTO access_keys
                    (access_key_id, account_id, user_id, secret, status, create_date, status_changed)
                 VALUES (?1, ?2, ?3, ?4, 'Active', ?5, ?5)",
            )?
            .execute(params![access_key_id, account_id, user_id, secret.expose(), now])?;
            Ok(NewAccessKey {
                meta: AccessKeyMeta {
                    access_key_id,
                    user_name,
                    status: KeyStatus::Active,
                    create_date: now,
                },
                secret,
            })
        })
        .await
    }

    pub async fn update_access_key(
        &self,
        account_id: &str,
        owner: Owner,
        access_key_id: String,
        status: KeyStatus,
        now: i64,
    ) -> ApiResult<()> {
        let account_id = account_id.to_string();
        self.write_invalidating(Invalidate::Key(access_key_id.clone()), move |c| {
            let (user_id, _) = owner_ids(c, &account_id, &owner)?;
            // A real change restarts the propagation clock; setting the same status does not.
            let changed = c
                .prepare_cached(
                    "UPDATE access_keys SET
                        prior_status = CASE WHEN status = ?4 THEN prior_status ELSE status END,
                        status_changed = CASE WHEN status = ?4 THEN status_changed ELSE ?5 END,
                        status = ?4
                     WHERE access_key_id = ?1 AND account_id = ?2 AND user_id IS ?3",
                )?
                .execute(params![
                    access_key_id,
                    account_id,
                    user_id,
                    status.as_str(),
                    now
                ])?;
            if changed == 0 {
                return Err(ApiError::no_such_access_key(&access_key_id));
            }
            Ok(())
        })
        .await
    }

    pub async fn delete_access_key(
        &self,
        account_id: &str,
        owner: Owner,
        access_key_id: String,
        now: i64,
    ) -> ApiResult<()> {
        let account_id = account_id.to_string();
        let shared = self.inner.shared.clone();
        let delay = self.propagation_delay_ms();
        self.write_invalidating(Invalidate::Key(access_key_id.clone()), move |c| {
            let (user_id, _) = owner_ids(c, &account_id, &owner)?;
            if delay > 0 {
                // Other IAM hosts keep accepting the key until the deletion has propagated.
                c.prepare_cached("DELETE FROM deleted_access_keys WHERE deleted_at <= ?1")?
                    .execute([now - delay])?;
                c.prepare_cached(
                    "INSERT OR REPLACE INTO deleted_access_keys
                        (access_key_id, account_id, user_id, user_name, user_path, secret, status, deleted_at)
                     SELECT k.access_key_id, k.account_id, k.user_id, u.name, u.path, k.secret, k.status, ?4
                     FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                     WHERE k.access_key_id = ?1 AND k.account_id = ?2 AND k.user_id IS ?3",
                )?
                .execute(params![access_key_id, account_id, user_id, now])?;
            }
            let changed = c
                .prepare_cached(
                    "DELETE FROM access_keys WHERE access_key_id = ?1 AND account_id = ?2 AND user_id IS ?3",
                )?
                .execute(params![access_key_id, account_id, user_id])?;
            if changed == 0 {
                return Err(ApiError::no_such_access_key(&access_key_id));
            }
            lock(&shared.last_used).remove(&access_key_id);
            Ok(())
        })
        .await
    }

    /// `PRAGMA integrity_check`'s first line (`ok` for a sound database).
    pub fn integrity_check(&self) -> ApiResult<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.writer).take();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }
}

/// How long an in-memory connection spins on a lock held by a commit before giving up
/// (in steps of `MEMORY_BUSY_STEP`): memdb has no WAL, so readers wait out the writer's commits,
/// which take microseconds; SQLite's default handler would sleep a whole millisecond each time.
const MEMORY_BUSY_STEP: Duration = Duration::from_micros(20);
const MEMORY_BUSY_STEPS: i32 = 250_000;

fn short_busy_wait(attempt: i32) -> bool {
    if attempt < 16 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(MEMORY_BUSY_STEP);
    }
    attempt < MEMORY_BUSY_STEPS
}

/// Settings every connection gets.
fn configure(conn: &mut Connection, durable: bool) -> rusqlite::Result<()> {
    if durable {
        conn.busy_timeout(BUSY_TIMEOUT)?;
    } else {
        conn.busy_handler(Some(short_busy_wait))?;
    }
    // Keeps cached statements compiled: without the query planner stability guarantee, the
    // bundled SQLite (built with STAT4) re-prepares a statement every time a new value is bound
    // to it, which measured as half the cost of a read.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

fn configure_writer(conn: &mut Connection, durable: bool) -> rusqlite::Result<()> {
    configure(conn, durable)?;
    // Statement journals (upserts inside a savepoint) stay in memory, and large seeds and
    // imports get a bigger page cache than the 2 MiB default.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    if durable {
        // WAL lets readers run beside the writer; FULL makes each COMMIT fsync the log.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), OpenError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| open_err("cannot read schema version", e))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError(format!(
            "this database was written by a newer iamlite (schema version {version}); \
             this iamlite understands schema version {SCHEMA_VERSION} and older. Upgrade iamlite or use another --db."
        )));
    }
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| open_err("cannot create schema", e))?;
        return Ok(());
    }
    if version < 2 {
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE users ADD COLUMN permissions_boundary TEXT;
             PRAGMA user_version = 2;
             COMMIT;",
        )
        .map_err(|e| open_err("cannot upgrade the schema to version 2", e))?;
    }
    Ok(())
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Command>, shared: Arc<Shared>) {
    let mut open = true;
    while open {
        let first = match rx.recv_timeout(LAST_USED_FLUSH) {
            Ok(cmd) => Some(cmd),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                open = false;
                None
            }
        };
        let mut batch: Vec<Command> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let pending: HashMap<String, LastUsed> = lock(&shared.last_used).clone();
        if batch.is_empty() && pending.is_empty() {
            continue;
        }
        run_batch(&conn, batch, &pending, &shared);
    }
}

fn run_batch(
    conn: &Connection,
    batch: Vec<Command>,
    pending: &HashMap<String, LastUsed>,
    shared: &Shared,
) {
    let mut completions = Vec::with_capacity(batch.len());
    let mut invalidations = Vec::new();
    let mut flushes = Vec::new();
    let began = conn.execute_batch("BEGIN IMMEDIATE");
    for cmd in batch {
        match cmd {
            Command::Flush(reply) => flushes.push(reply),
            Command::Write(mut job, invalidate) => {
                invalidations.push(invalidate);
                // Without a transaction nothing may run; the job is answered with the failure.
                if began.is_ok() {
                    let savepoint = conn.execute_batch("SAVEPOINT job");
                    let ok = savepoint.is_ok() && job.run(conn);
                    let end = if ok {
                        conn.execute_batch("RELEASE job")
                    } else {
                        conn.execute_batch("ROLLBACK TO job; RELEASE job")
                    };
                    if let Err(e) = end {
                        tracing::error!(error = %e, "savepoint failed");
                    }
                }
                completions.push(job);
            }
        }
    }
    let mut outcome: ApiResult<()> = began.map_err(ApiError::from);
    if outcome.is_ok() {
        if let Err(e) = write_last_used(conn, pending) {
            tracing::error!(error = %e, "cannot record last use");
        }
        outcome = conn.execute_batch("COMMIT").map_err(ApiError::from);
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    if outcome.is_ok() {
        // Keep records that changed while this batch was being written.
        let mut map = lock(&shared.last_used);
        for (k, v) in pending {
            if map.get(k) == Some(v) {
                map.remove(k);
            }
        }
    }
    // Before anyone hears of the write: drop what it may have made stale.
    if invalidations.iter().any(|i| *i != Invalidate::Nothing) {
        let mut cache = lock(&shared.credentials);
        cache.generation += 1;
        for i in invalidations {
            match i {
                Invalidate::Nothing => {}
                Invalidate::Key(id) => {
                    cache.entries.remove(&id);
                }
                Invalidate::Everything => cache.entries.clear(),
            }
        }
    }
    for job in completions {
        job.finish(outcome.clone());
    }
    for reply in flushes {
        let _ = reply.send(());
    }
}

fn write_last_used(conn: &Connection, pending: &HashMap<String, LastUsed>) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE access_keys SET last_used_date = ?2, last_used_service = ?3, last_used_region = ?4
         WHERE access_key_id = ?1",
    )?;
    for (id, used) in pending {
        stmt.execute(params![id, used.date, used.service, used.region])?;
    }
    Ok(())
}

// --- helpers shared by the use cases above ----------------------------------------------------

fn find_user(c: &Connection, account_id: &str, name: &str) -> ApiResult<Option<User>> {
    Ok(c.prepare_cached(
        "SELECT user_id, name, path, create_date, permissions_boundary FROM users
         WHERE account_id = ?1 AND name = ?2 COLLATE NOCASE",
    )?
    .query_row([account_id, name], |r| {
        Ok(User {
            user_id: r.get(0)?,
            account_id: account_id.to_string(),
            name: r.get(1)?,
            path: r.get(2)?,
            create_date: r.get(3)?,
            permissions_boundary: r.get(4)?,
            tags: Vec::new(),
        })
    })
    .optional()?)
}

fn user_by_name(c: &Connection, account_id: &str, name: &str) -> ApiResult<User> {
    find_user(c, account_id, name)?.ok_or_else(|| ApiError::no_such_user(name))
}

fn user_tags(c: &Connection, user_id: &str) -> ApiResult<Vec<Tag>> {
    let mut stmt =
        c.prepare_cached("SELECT key, value FROM user_tags WHERE user_id = ?1 ORDER BY key_lower")?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(Tag {
            key: r.get(0)?,
            value: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Adds or overwrites tags by key, ignoring case and keeping the newest spelling.
fn upsert_tags(c: &Connection, user_id: &str, tags: &[Tag]) -> ApiResult<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO user_tags (user_id, key_lower, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, key_lower) DO UPDATE SET key = excluded.key, value = excluded.value",
    )?;
    for t in tags {
        stmt.execute(params![user_id, t.key.to_lowercase(), t.key, t.value])?;
    }
    Ok(())
}

/// The user id (`None` for root) and display name an access-key operation works on.
fn owner_ids(
    c: &Connection,
    account_id: &str,
    owner: &Owner,
) -> ApiResult<(Option<String>, Option<String>)> {
    match owner {
        Owner::Root => Ok((None, None)),
        Owner::User(name) => {
            let user = user_by_name(c, account_id, name)?;
            Ok((Some(user.user_id), Some(user.name)))
        }
    }
}

fn count_keys(c: &Connection, account_id: &str, user_id: Option<&str>) -> ApiResult<usize> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM access_keys WHERE account_id = ?1 AND user_id IS ?2")?
        .query_row(params![account_id, user_id], |r| r.get(0))?;
    Ok(n as usize)
}

fn clear(c: &Connection) -> ApiResult<()> {
    c.execute_batch(
        "DELETE FROM user_tags; DELETE FROM access_keys; DELETE FROM deleted_access_keys;
         DELETE FROM users; DELETE FROM accounts;",
    )?;
    Ok(())
}

fn invalid_state(reason: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationError, reason)
}

/// Inserts or overwrites a key as the seed describes it. Seeded keys count as long propagated.
fn upsert_seed_key(
    c: &Connection,
    account_id: &str,
    user_id: Option<&str>,
    key: &SeedKey,
    now: i64,
) -> ApiResult<()> {
    c.prepare_cached(
        "INSERT INTO access_keys
            (access_key_id, account_id, user_id, secret, status, create_date, status_changed)
         VALUES (?1, ?2, ?3, ?4, ?5, coalesce(?6, ?7), 0)
         ON CONFLICT (access_key_id) DO UPDATE SET account_id = excluded.account_id,
            user_id = excluded.user_id, secret = excluded.secret, status = excluded.status,
            create_date = coalesce(?6, create_date), status_changed = 0, prior_status = NULL",
    )?
    .execute(params![
        key.id,
        account_id,
        user_id,
        key.secret.expose(),
        key.status.as_str(),
        key.create_date,
        now
    ])?;
    Ok(())
}

fn apply_seed(c: &Connection, seed: &Seed, ids: &IdGen, now: i64) -> ApiResult<()> {
    for account in &seed.accounts {
        c.prepare_cached(
            "INSERT INTO accounts (account_id, create_date) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?
        .execute(params![account.id, now])?;
        for key in &account.root_keys {
            upsert_seed_key(c, &account.id, None, key, now)?;
        }
        for user in &account.users {
            let user_id = match find_user(c, &account.id, &user.name)? {
                Some(existing) => {
                    c.prepare_cached("UPDATE users SET path = ?2 WHERE user_id = ?1")?
                        .execute(params![existing.user_id, user.path])?;
                    existing.user_id
                }
                None => {
                    let user_id = ids.user_id(&account.id);
                    c.prepare_cached(
                        "INSERT INTO users (user_id, account_id, name, path, create_date)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![user_id, account.id, user.name, user.path, now])?;
                    user_id
                }
            };
            upsert_tags(c, &user_id, &user.tags)?;
            for key in &user.access_keys {
                upsert_seed_key(c, &account.id, Some(&user_id), key, now)?;
            }
            let keys = count_keys(c, &account.id, Some(&user_id))?;
            if keys > ACCESS_KEYS_PER_USER {
                return Err(invalid_state(format!(
                    "seed: user {} of account {} would have {keys} access keys; AWS allows {ACCESS_KEYS_PER_USER}",
                    user.name, account.id
                )));
            }
        }
    }
    Ok(())
}

fn export(c: &Connection, pending: &HashMap<String, LastUsed>) -> ApiResult<State> {
    let key_state = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(Option<String>, KeyState)> {
        let id: String = r.get(0)?;
        let stored = match r.get::<_, Option<i64>>(5)? {
            Some(date) => Some(LastUsed {
                date,
                service: r.get(6)?,
                region: r.get(7)?,
            }),
            None => None,
        };
        let last_used = pending.get(&id).cloned().or(stored);
        Ok((
            r.get(1)?,
            KeyState {
                secret_access_key: r.get(2)?,
                status: r.get(3)?,
                create_date: millis_to_rfc3339(r.get(4)?),
                last_used: last_used.as_ref().map(LastUsedState::from_model),
                access_key_id: id,
            },
        ))
    };
    let mut accounts = Vec::new();
    let mut stmt = c.prepare("SELECT account_id, create_date FROM accounts ORDER BY account_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (id, created) = row?;
        let mut keys_stmt = c.prepare(
            "SELECT access_key_id, user_id, secret, status, create_date, last_used_date,
                    last_used_service, last_used_region
             FROM access_keys WHERE account_id = ?1 ORDER BY create_date, access_key_id",
        )?;
        let mut root_access_keys = Vec::new();
        let mut by_user: HashMap<String, Vec<KeyState>> = HashMap::new();
        for k in keys_stmt.query_map([&id], key_state)? {
            match k? {
                (None, key) => root_access_keys.push(key),
                (Some(user_id), key) => by_user.entry(user_id).or_default().push(key),
            }
        }
        let mut users_stmt = c.prepare(
            "SELECT user_id, name, path, create_date, permissions_boundary FROM users
             WHERE account_id = ?1 ORDER BY name COLLATE NOCASE",
        )?;
        let mut users = Vec::new();
        let user_rows = users_stmt.query_map([&id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for u in user_rows {
            let (user_id, name, path, created, permissions_boundary) = u?;
            let tags = user_tags(c, &user_id)?
                .into_iter()
                .map(|t| TagState {
                    key: t.key,
                    value: t.value,
                })
                .collect();
            users.push(UserState {
                access_keys: by_user.remove(&user_id).unwrap_or_default(),
                user_id,
                name,
                path,
                create_date: millis_to_rfc3339(created),
                permissions_boundary,
                tags,
            });
        }
        accounts.push(AccountState {
            id,
            create_date: millis_to_rfc3339(created),
            root_access_keys,
            users,
        });
    }
    Ok(State {
        format: STATE_FORMAT.to_string(),
        accounts,
    })
}

fn import_key(
    c: &Connection,
    account_id: &str,
    user_id: Option<&str>,
    k: &KeyState,
) -> ApiResult<()> {
    let status = status_from_state(&k.status).map_err(invalid_state)?;
    let created = rfc3339_to_millis(&k.create_date).map_err(invalid_state)?;
    let ok_id = (16..=128).contains(&k.access_key_id.len())
        && k.access_key_id.chars().all(crate::model::is_word_char);
    if !ok_id || k.secret_access_key.is_empty() {
        return Err(invalid_state(format!(
            "state: access key '{}' has a malformed id or an empty secret",
            k.access_key_id
        )));
    }
    let last_used = match &k.last_used {
        None => None,
        Some(u) => Some((
            rfc3339_to_millis(&u.date).map_err(invalid_state)?,
            &u.service,
            &u.region,
        )),
    };
    c.prepare_cached(
        "INSERT INTO access_keys (access_key_id, account_id, user_id, secret, status, create_date,
            status_changed, last_used_date, last_used_service, last_used_region)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9)",
    )?
    .execute(params![
        k.access_key_id,
        account_id,
        user_id,
        k.secret_access_key,
        status.as_str(),
        created,
        last_used.map(|u| u.0),
        last_used.map(|u| u.1),
        last_used.map(|u| u.2),
    ])
    .map_err(|e| {
        invalid_state(format!(
            "state: access key '{}' cannot be stored: {e}",
            k.access_key_id
        ))
    })?;
    Ok(())
}

fn import(c: &Connection, state: &State) -> ApiResult<()> {
    if state.format != STATE_FORMAT {
        return Err(invalid_state(format!(
            "state: format '{}' is not '{STATE_FORMAT}'",
            state.format
        )));
    }
    for a in &state.accounts {
        if !crate::model::is_account_id(&a.id) {
            return Err(invalid_state(format!(
                "state: account id '{}' must be 12 digits",
                a.id
            )));
        }
        let created = rfc3339_to_millis(&a.create_date).map_err(invalid_state)?;
        c.prepare_cached("INSERT INTO accounts (account_id, create_date) VALUES (?1, ?2)")?
            .execute(params![a.id, created])
            .map_err(|e| invalid_state(format!("state: account {} cannot be stored: {e}", a.id)))?;
        if a.root_access_keys.len() > ACCESS_KEYS_PER_USER {
            return Err(invalid_state(format!(
                "state: the root user of account {} has more than {ACCESS_KEYS_PER_USER} access keys",
                a.id
            )));
        }
        for k in &a.root_access_keys {
            import_key(c, &a.id, None, k)?;
        }
        for u in &a.users {
            let valid = !u.name.is_empty()
                && u.name.len() <= 64
                && u.name.chars().all(crate::model::is_user_name_char)
                && crate::model::is_valid_path(&u.path);
            if !valid || u.access_keys.len() > ACCESS_KEYS_PER_USER {
                return Err(invalid_state(format!(
                    "state: user '{}' of account {} has an invalid name or path, or more than {ACCESS_KEYS_PER_USER} keys",
                    u.name, a.id
                )));
            }
            let created = rfc3339_to_millis(&u.create_date).map_err(invalid_state)?;
            if let Some(arn) = &u.permissions_boundary
                && !crate::model::is_valid_permissions_boundary(arn)
            {
                return Err(invalid_state(format!(
                    "state: user '{}' of account {} has an invalid permissions boundary '{arn}'",
                    u.name, a.id
                )));
            }
            c.prepare_cached(
                "INSERT INTO users (user_id, account_id, name, path, create_date, permissions_boundary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![u.user_id, a.id, u.name, u.path, created, u.permissions_boundary])
            .map_err(|e| invalid_state(format!("state: user '{}' cannot be stored: {e}", u.name)))?;
            let tags: Vec<Tag> = u
                .tags
                .iter()
                .map(|t| Tag {
                    key: t.key.clone(),
                    value: t.value.clone(),
                })
                .collect();
            upsert_tags(c, &u.user_id, &tags)?;
            for k in &u.access_keys {
                import_key(c, &a.id, Some(&u.user_id), k)?;
            }
        }
    }
    Ok(())
}

/// Markers are opaque to clients: a kind tag and the sort key of the next item, base64-encoded.
fn encode_marker(kind: &str, key: &str) -> String {
    BASE64.encode(format!("{kind}:{key}").as_bytes())
}

fn decode_marker(marker: &str, kind: &str) -> ApiResult<String> {
    let raw = BASE64
        .decode(marker.as_bytes())
        .map_err(|_| ApiError::invalid_marker())?;
    let text = String::from_utf8(raw).map_err(|_| ApiError::invalid_marker())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_string)
        .ok_or_else(ApiError::invalid_marker)
}

/// Cuts a `max + 1` row result to a page, using the extra row to build the next marker.
fn paginate<T>(mut items: Vec<T>, max: usize, marker_of: impl Fn(&T) -> String) -> Page<T> {
    let next = if items.len() > max {
        let next = marker_of(&items[max]);
        items.truncate(max);
        Some(next)
    } else {
        None
    };
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_user(account_id: &str, user_id: &str, name: &str) -> User {
        User {
            user_id: user_id.into(),
            account_id: account_id.into(),
            name: name.into(),
            path: "/".into(),
            create_date: 1,
            permissions_boundary: None,
            tags: Vec::new(),
        }
    }

    async fn store() -> Store {
        let s = Store::open(&Storage::InMemory).unwrap();
        let seed = Seed::default().with_default_account(
            "123456789012",
            "AKIAIOSFODNN7EXAMPLE",
            &Secret::new("s"),
        );
        s.apply_seed(Arc::new(seed), Arc::new(IdGen::seeded(1)), 0)
            .await
            .unwrap();
        s
    }

    #[tokio::test]
    async fn quota_is_two_keys_and_counts_inactive_ones() {
        let s = store().await;
        let acct = "123456789012";
        s.create_user(test_user(acct, "AIDA1", "alice"))
            .await
            .unwrap();
        let owner = Owner::User("alice".into());
        for i in 0..2 {
            s.create_access_key(
                acct,
                owner.clone(),
                format!("AKIAKEY{i:013}"),
                Secret::new("x"),
                2,
            )
            .await
            .unwrap();
        }
        s.update_access_key(
            acct,
            owner.clone(),
            "AKIAKEY0000000000000".into(),
            KeyStatus::Inactive,
            3,
        )
        .await
        .unwrap();
        let err = s
            .create_access_key(acct, owner.clone(), "AKIAKEYX".into(), Secret::new("x"), 3)
            .await
            .unwrap_err();
        assert_eq!(err, ApiError::access_key_quota(2));
        let err = s.delete_user(acct, "ALICE".into()).await.unwrap_err();
        assert_eq!(err, ApiError::delete_conflict_access_keys());
    }

    #[tokio::test]
    async fn failed_write_in_a_batch_changes_nothing() {
        let s = store().await;
        let acct = "123456789012";
        s.create_user(test_user(acct, "AIDA1", "bob"))
            .await
            .unwrap();
        let err = s
            .create_user(test_user(acct, "AIDA2", "BOB"))
            .await
            .unwrap_err();
        assert_eq!(err, ApiError::user_already_exists("BOB"));
        let page = s.list_users(acct, "/", None, 100).unwrap();
        assert_eq!(page.items.len(), 1);
    }

    #[test]
    fn markers_round_trip_and_reject_garbage() {
        let m = encode_marker("u", "alice");
        assert_eq!(decode_marker(&m, "u").unwrap(), "alice");
        assert_eq!(decode_marker(&m, "k"), Err(ApiError::invalid_marker()));
        assert_eq!(decode_marker("!!", "u"), Err(ApiError::invalid_marker()));
    }
}
