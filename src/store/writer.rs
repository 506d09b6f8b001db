//! The writer thread: group commit of queued writes, one SAVEPOINT each, last-used records folded
//! into each batch, the purge of deletions that have propagated, and the storage-fault state
//! (entered when a write hits a full or read-only disk, left once a probe write succeeds).

use super::cache::{Invalidate, Shared};
use super::fault::{Fault, refuses_writing, space};
use crate::error::{Error, Result};
use crate::model::LastUsed;
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 512;
/// How long buffered last-used records may wait for a write batch to carry them.
const LAST_USED_FLUSH: Duration = Duration::from_millis(500);

/// One queued write: `run` inside the batch's transaction, then `finish` once the batch's fate is known.
pub(super) trait WriteJob: Send {
    /// Runs the write; `false` means it failed and its savepoint must be rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the waiting request with the write's result, or the commit's failure.
    fn finish(self: Box<Self>, commit: Result<()>);
    /// The storage fault the write ran into, if it failed on one.
    fn fault(&self) -> Option<Fault>;
}

struct Job<F, R> {
    work: Option<F>,
    result: Option<Result<R>>,
    reply: oneshot::Sender<Result<R>>,
}

impl<F, R> WriteJob for Job<F, R>
where
    F: FnOnce(&Connection) -> Result<R> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn)))
            .unwrap_or(Err(Error::Storage));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        let outcome = match self.result {
            Some(Ok(v)) => commit.map(|_| v),
            Some(Err(e)) => Err(e),
            None => Err(commit.err().unwrap_or(Error::Storage)),
        };
        let _ = self.reply.send(outcome);
    }

    fn fault(&self) -> Option<Fault> {
        match &self.result {
            Some(Err(Error::StorageFault(f))) => Some(*f),
            _ => None,
        }
    }
}

pub(super) enum Command {
    Write(Box<dyn WriteJob>, Invalidate),
    Flush(oneshot::Sender<()>),
}

pub(super) fn job<F, R>(
    work: F,
    reply: oneshot::Sender<Result<R>>,
    invalidate: Invalidate,
) -> Command
where
    F: FnOnce(&Connection) -> Result<R> + Send + 'static,
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

/// How long an expired session is kept, so that its use is answered `ExpiredToken` rather than
/// as an unknown key.
pub(super) const EXPIRED_SESSION_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Forgets deleted keys whose deletion has reached every host by `now`, and sessions that
/// expired more than a day before it.
pub(super) fn purge_expired(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    let keys = conn
        .prepare_cached("DELETE FROM deleted_access_keys WHERE visible_until <= ?1")?
        .execute([now])?;
    let sessions = conn
        .prepare_cached("DELETE FROM sessions WHERE expiration <= ?1")?
        .execute([now.saturating_sub(EXPIRED_SESSION_KEPT_MS)])?;
    Ok(keys + sessions)
}

/// How often, while a fault stops writes, the writer checks whether writing works again.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// Free space a full disk must regain before a probe write is tried (64 pages of 4 KiB): less
/// would let the probe succeed and the next write fail again.
const PROBE_MIN_FREE: u64 = 256 * 1024;

/// A write that needs room and a working file system: `PRAGMA user_version` set to itself
/// still writes the database header page.
fn probe(conn: &Connection, path: &str) -> std::result::Result<(), (Fault, String)> {
    if let Some(fault) = space_fault(path) {
        return Err(fault);
    }
    let sql = format!(
        "BEGIN IMMEDIATE; PRAGMA user_version = {}; COMMIT;",
        super::SCHEMA_VERSION
    );
    conn.execute_batch(&sql).map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        (
            Fault::of(&e).unwrap_or(Fault::Io).refine(path),
            e.to_string(),
        )
    })
}

/// The fault the file system itself reports: mounted read-only, or (almost) no space left.
pub(super) fn space_fault(path: &str) -> Option<(Fault, String)> {
    let s = space(path)?;
    if s.read_only || refuses_writing(path) {
        Some((Fault::ReadOnly, "mounted read-only".into()))
    } else if s.free_bytes < PROBE_MIN_FREE {
        Some((Fault::DiskFull, format!("{} bytes free", s.free_bytes)))
    } else {
        None
    }
}

/// Enters, changes or leaves the fault state, saying so in the log once per change.
pub(super) fn note_fault(shared: &Shared, path: &str, fault: Option<(Fault, String)>) {
    let fault = fault.map(|(f, detail)| (f.refine(path), detail));
    let now = fault.as_ref().map(|(f, _)| *f);
    let before = shared.set_fault(now);
    match (before, fault) {
        (b, Some((f, detail))) if b != Some(f) => tracing::error!(
            fault = f.label(),
            "{}; writes fail until this clears, reads and authentication go on",
            f.describe(path, &detail)
        ),
        (Some(b), None) => tracing::info!(cleared = b.label(), "storage writable again at {path}"),
        _ => {}
    }
}

pub(super) fn run(
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    shared: std::sync::Arc<Shared>,
    path: String,
) {
    let mut open = true;
    let mut last_purge = Instant::now();
    let mut last_probe = Instant::now();
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
        let faulted = shared.fault().is_some();
        if faulted && last_probe.elapsed() >= PROBE_EVERY {
            last_probe = Instant::now();
            if let Ok(()) = probe(&conn, &path) {
                note_fault(&shared, &path, None);
            }
        }
        let faulted = shared.fault().is_some();
        if !faulted && last_purge.elapsed() >= shared.purge_interval() {
            last_purge = Instant::now();
            if let Err(e) = purge_expired(&conn, shared.clock.now_millis()) {
                tracing::warn!(error = %e, "cannot purge propagated deletions");
            }
        }
        // While writes fail, last-used records wait in memory (they are still answered from
        // there) rather than make every batch bigger.
        let pending = if faulted {
            HashMap::new()
        } else {
            shared.pending_uses()
        };
        if batch.is_empty() && pending.is_empty() {
            continue;
        }
        if let Some(fault) = run_batch(&conn, batch, &pending, &shared)
            && fault.0.is_transient()
        {
            note_fault(&shared, &path, Some(fault));
        }
    }
}

/// Runs one batch; returns the storage fault it ran into, if any, with SQLite's words for it.
fn run_batch(
    conn: &Connection,
    batch: Vec<Command>,
    pending: &HashMap<String, LastUsed>,
    shared: &Shared,
) -> Option<(Fault, String)> {
    let mut fault = None;
    let mut completions = Vec::with_capacity(batch.len());
    let mut invalidations = Vec::new();
    let mut flushes = Vec::new();
    let mut failure: Option<rusqlite::Error> = conn.execute_batch("BEGIN IMMEDIATE").err();
    // After some errors (a full disk, I/O) SQLite rolls the whole transaction back by itself.
    // Then every write of the batch is lost and must be answered so, and nothing more may run:
    // a SAVEPOINT outside a transaction would start, and its RELEASE commit, a new one.
    let rolled_back = |conn: &Connection, why: &str| {
        conn.is_autocommit().then(|| {
            tracing::error!("SQLite rolled the batch back after {why}");
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT_ROLLBACK),
                Some(format!("the batch was rolled back after {why}")),
            )
        })
    };
    for cmd in batch {
        match cmd {
            Command::Flush(reply) => flushes.push(reply),
            Command::Write(mut job, invalidate) => {
                invalidations.push(invalidate);
                // Without a transaction nothing may run; the job is answered with the failure.
                if failure.is_none() {
                    let savepoint = conn.execute_batch("SAVEPOINT job");
                    let ok = savepoint.is_ok() && job.run(conn);
                    if let Some(f) = job.fault() {
                        fault = Some((f, "a statement of a write failed".to_string()));
                    }
                    failure = rolled_back(conn, "a failed write");
                    if failure.is_none() {
                        let end = if ok {
                            conn.execute_batch("RELEASE job")
                        } else {
                            conn.execute_batch("ROLLBACK TO job; RELEASE job")
                        };
                        if let Err(e) = end {
                            tracing::error!(error = %e, "savepoint failed");
                            failure = Some(e);
                        }
                    }
                }
                completions.push(job);
            }
        }
    }
    if failure.is_none() {
        if let Err(e) = write_last_used(conn, pending) {
            tracing::error!(error = %e, "cannot record last use");
        }
        failure = rolled_back(conn, "recording last uses");
    }
    if failure.is_none()
        && let Err(e) = conn.execute_batch("COMMIT")
    {
        let _ = conn.execute_batch("ROLLBACK");
        failure = Some(e);
    }
    if let Some(e) = &failure
        && let Some(f) = Fault::of(e)
    {
        fault = Some((f, e.to_string()));
    }
    let outcome: Result<()> = match (failure, &fault) {
        (None, _) => Ok(()),
        // The cause of a rollback SQLite made by itself is the fault that led to it.
        (Some(_), Some((f, _))) => Err(Error::StorageFault(*f)),
        (Some(e), None) => Err(Error::from(e)),
    };
    if outcome.is_ok() {
        shared.forget_written_uses(pending);
    }
    // Before anyone hears of the write: drop what it may have made stale.
    shared.invalidate(invalidations);
    for job in completions {
        job.finish(outcome.clone());
    }
    for reply in flushes {
        let _ = reply.send(());
    }
    fault
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
