//! For code that handles whole tables rather than one use case (`db copy`): a source opened
//! read-only, one snapshot across many reads, and rows decoded column by column from a list of
//! column kinds instead of a row type.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Decode, Postgres, SqlSafeStr, Sqlite, Type};

use super::{Arg, Conn, ConnectOptions, Db, Pool, Tx, arguments};
use crate::error::StoreError;
use crate::ts::Ts;

/// The kind of value a column holds, for code that reads tables it knows only by their column list
/// (`db copy`): each kind decodes into the [`Arg`] of the same name, so what is read from one
/// database binds with its native type on the other (a SQLite time's text becomes a `timestamptz`,
/// a SQLite boolean's integer a `boolean`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Text,
    Int,
    Bool,
    Time,
}

/// Decodes one row into values of the given kinds, column by column.
fn decode_args<R>(row: &R, columns: &[(&str, ArgKind)]) -> Result<Vec<Arg>, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'t> Option<String>: Decode<'t, R::Database> + Type<R::Database>,
    for<'t> Option<i64>: Decode<'t, R::Database> + Type<R::Database>,
    for<'t> Option<bool>: Decode<'t, R::Database> + Type<R::Database>,
    for<'t> Option<Ts>: Decode<'t, R::Database> + Type<R::Database>,
{
    let mut values = Vec::with_capacity(columns.len());
    for (i, (name, kind)) in columns.iter().enumerate() {
        let bad = |e: sqlx::Error| StoreError::Corrupt(format!("column {name}: {e}"));
        values.push(match kind {
            ArgKind::Text => Arg::Text(row.try_get(i).map_err(bad)?),
            ArgKind::Int => Arg::Int(row.try_get(i).map_err(bad)?),
            ArgKind::Time => Arg::Time(row.try_get(i).map_err(bad)?),
            ArgKind::Bool => match row.try_get::<Option<bool>, _>(i).map_err(bad)? {
                Some(b) => Arg::Bool(b),
                None => return Err(StoreError::Corrupt(format!("column {name}: NULL where the schema allows only true or false"))),
            },
        });
    }
    Ok(values)
}

impl Tx {
    /// Every row as values of the given kinds, one per selected column in order (the names only
    /// label errors). For code that reads tables it knows only by their column list (`db copy`).
    pub async fn fetch_args(
        &mut self,
        sql: impl SqlSafeStr,
        args: Vec<Arg>,
        columns: &[(&str, ArgKind)],
    ) -> Result<Vec<Vec<Arg>>, StoreError> {
        match self.conn() {
            Conn::Sqlite(t) => {
                let rows = sqlx::query_with(sql, arguments::<Sqlite>(args)?).fetch_all(&mut **t).await?;
                rows.iter().map(|r| decode_args(r, columns)).collect()
            }
            Conn::Postgres(t) => {
                let rows = sqlx::query_with(sql, arguments::<Postgres>(args)?).fetch_all(&mut **t).await?;
                rows.iter().map(|r| decode_args(r, columns)).collect()
            }
        }
    }
}

impl Db {
    /// An existing SQLite file, read only: no file created, no journal mode set (that would write),
    /// no writer connection.
    pub(super) async fn connect_sqlite_read_only(o: SqliteConnectOptions, opts: &ConnectOptions) -> Result<Db, StoreError> {
        let path = o.get_filename().to_path_buf();
        if !path.is_file() {
            return Err(StoreError::UnsupportedUrl(format!("the SQLite database {} does not exist", path.display())));
        }
        let o = o.read_only(true).create_if_missing(false).busy_timeout(Duration::from_secs(10)).foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.unwrap_or(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(o)
            .await?;
        Ok(Db::new(Pool::Sqlite(pool)))
    }

    /// A read-only transaction that sees one snapshot from its first statement to its end, for reads
    /// of many statements that must agree with each other (`db copy` reads every table, then reads
    /// them all again for their checksums). Dialect fork: PostgreSQL's default isolation takes a new
    /// snapshot per statement; a SQLite read transaction keeps its first read's snapshot (WAL).
    pub async fn begin_snapshot(&self) -> Result<Tx, StoreError> {
        Ok(self.tx(match &self.pool {
            Pool::Sqlite(p) => Conn::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Conn::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?),
        }))
    }
}
