//! SQLite's side of the transaction interface: statements on a rusqlite connection (the writer's
//! transaction, or a pooled read-only connection), with `$N` parameters bound by name.

use super::tx::{Arg, Cell, Row, Sql, Tx};
use crate::error::{Error, Result};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Statement, ToSql};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Arg::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(v))),
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// A use case's view of a SQLite connection.
pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        SqliteTx { conn }
    }

    fn prepare(&self, sql: &Sql, args: &[Arg<'_>]) -> Result<rusqlite::CachedStatement<'c>> {
        let mut stmt = self.conn.prepare_cached(sql.sqlite)?;
        bind(&mut stmt, args)?;
        Ok(stmt)
    }
}

/// Binds `$N` (SQLite numbers named parameters by first appearance, not by their digits).
fn bind(stmt: &mut Statement<'_>, args: &[Arg<'_>]) -> Result<()> {
    for idx in 1..=stmt.parameter_count() {
        let arg = stmt
            .parameter_name(idx)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or_else(|| {
                tracing::error!(parameter = idx, "a statement parameter has no argument");
                Error::Storage
            })?;
        stmt.raw_bind_parameter(idx, arg)?;
    }
    Ok(())
}

fn cell(v: ValueRef<'_>) -> Result<Cell> {
    match v {
        ValueRef::Null => Ok(Cell::Null),
        ValueRef::Integer(i) => Ok(Cell::Int(i)),
        ValueRef::Text(t) => Ok(Cell::Text(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            tracing::error!("a stored column holds a real or a blob");
            Err(Error::Storage)
        }
    }
}

/// A unique or primary-key constraint failed.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl Tx for SqliteTx<'_> {
    async fn query(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let mut stmt = self.prepare(sql, args)?;
        let columns = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(cell(r.get_ref(i)?)?);
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64> {
        let mut stmt = self.prepare(sql, args)?;
        Ok(stmt.raw_execute()? as u64)
    }

    async fn execute_unique(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<u64>> {
        let mut stmt = self.prepare(sql, args)?;
        match stmt.raw_execute() {
            Ok(n) => Ok(Some(n as u64)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn batch(&mut self, sql: &Sql) -> Result<()> {
        Ok(self.conn.execute_batch(sql.sqlite)?)
    }
}

/// Runs a use case on SQLite to its end. Every await inside is ready at once (SQLite's calls
/// block), so one poll finishes it; no executor is needed on the writer thread.
pub(super) fn ready<R>(f: impl Future<Output = Result<R>>) -> Result<R> {
    let f = pin!(f);
    match f.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => {
            tracing::error!("a SQLite use case waited for something");
            Err(Error::Storage)
        }
    }
}
