//! The per-engine transaction interface the store's rules are written over, once for SQLite and
//! PostgreSQL: statements with numbered parameters (`$1`, which both engines read), plain
//! argument values, and rows of plain values.
//!
//! Each use case is an `async fn` generic over `Tx`. On SQLite it runs inside the writer thread's
//! transaction and every await is ready at once (`sqlite::ready`); on PostgreSQL it runs in a pooled
//! connection's transaction and is retried as a whole on a serialization failure or deadlock.

use crate::error::{Error, Result};

/// One statement's text for each engine; most statements read the same on both (`sql!("…")`),
/// the few that differ are spelled per engine (`sql!(sqlite: "…", postgres: "…")`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sql {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! sql {
    ($both:expr) => {
        $crate::store::tx::Sql {
            sqlite: $both,
            postgres: $both,
        }
    };
    (sqlite: $sqlite:expr, postgres: $postgres:expr $(,)?) => {
        $crate::store::tx::Sql {
            sqlite: $sqlite,
            postgres: $postgres,
        }
    };
}
pub(super) use sql;

/// A statement argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arg<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// The argument list of a statement: `args![a, b, c]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::store::tx::Arg::from($a)),*]
    };
}
pub(super) use args;

/// One value of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// A result row; its getters fail with `Error::Storage` (logged) on a column of the wrong type,
/// which only a damaged database can produce.
#[derive(Debug, Clone, Default)]
pub(super) struct Row(pub(super) Vec<Cell>);

fn bad_column(idx: usize, want: &str) -> Error {
    tracing::error!(column = idx, "a stored column is not {want}");
    Error::Storage
}

impl Row {
    fn cell(&self, idx: usize) -> Result<&Cell> {
        self.0.get(idx).ok_or_else(|| bad_column(idx, "there"))
    }

    pub(super) fn int(&self, idx: usize) -> Result<i64> {
        match self.cell(idx)? {
            Cell::Int(v) => Ok(*v),
            _ => Err(bad_column(idx, "an integer")),
        }
    }

    pub(super) fn opt_int(&self, idx: usize) -> Result<Option<i64>> {
        match self.cell(idx)? {
            Cell::Null => Ok(None),
            _ => self.int(idx).map(Some),
        }
    }

    pub(super) fn bool(&self, idx: usize) -> Result<bool> {
        self.int(idx).map(|v| v != 0)
    }

    pub(super) fn text(&self, idx: usize) -> Result<String> {
        match self.cell(idx)? {
            Cell::Text(v) => Ok(v.clone()),
            _ => Err(bad_column(idx, "text")),
        }
    }

    pub(super) fn opt_text(&self, idx: usize) -> Result<Option<String>> {
        match self.cell(idx)? {
            Cell::Null => Ok(None),
            _ => self.text(idx).map(Some),
        }
    }

    pub(super) fn is_null(&self, idx: usize) -> Result<bool> {
        Ok(matches!(self.cell(idx)?, Cell::Null))
    }
}

/// What the rules need of a transaction (or, for reads, of a connection).
pub(super) trait Tx {
    /// Runs a statement and answers its rows.
    async fn query(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Vec<Row>>;

    /// Runs a statement and answers how many rows it changed.
    async fn execute(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64>;

    /// Like `execute`, but a unique-constraint violation answers `None` instead of failing (the
    /// transaction stays usable on SQLite; on PostgreSQL the caller must end it with an error).
    async fn execute_unique(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<u64>>;

    /// Runs several statements without arguments (DDL, whole-table deletes).
    async fn batch(&mut self, sql: &Sql) -> Result<()>;

    async fn query_opt(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<Row>> {
        Ok(self.query(sql, args).await?.into_iter().next())
    }

    async fn query_one(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Row> {
        self.query_opt(sql, args).await?.ok_or_else(|| {
            tracing::error!("a statement expected to answer one row answered none");
            Error::Storage
        })
    }

    async fn count(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<i64> {
        self.query_one(sql, args).await?.int(0)
    }
}
