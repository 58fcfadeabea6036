//! One code path for two databases: every query is one SQL text with `$n` placeholders (both drivers
//! accept them), run by [`on!`] on whichever connection is live. Only the schema and a few named
//! dialect-specific statements differ.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::StoreError;

/// The live pool.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the transaction's connection, once per backend arm. The body is
/// written once; the macro stamps it out for each driver, so each arm is type-checked on its own.
macro_rules! on {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on;

/// Which backend a URL names. Anything but SQLite or PostgreSQL is refused, so a typo never creates
/// a database somewhere unexpected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedUrl(format!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            ))),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The URL with any password replaced, fit for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://{userinfo}@{host}"),
    }
}

/// Options for opening a pool.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// PostgreSQL only: put every object in this schema (used by tests to isolate themselves).
    pub pg_schema: Option<String>,
    pub max_connections: Option<u32>,
}

impl Db {
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Db, StoreError> {
        match Backend::of_url(url)? {
            Backend::Sqlite => {
                let o = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::UnsupportedUrl(format!("bad SQLite URL: {e}")))?;
                // Create the file only where its folder exists: a mistyped path fails loudly.
                let path = o.get_filename().to_path_buf();
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                    && !parent.is_dir()
                {
                    return Err(StoreError::UnsupportedUrl(format!(
                        "the folder {} of the SQLite database does not exist",
                        parent.display()
                    )));
                }
                // FULL: a committed transaction survives a power loss too, not only a crash.
                let o = o
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.unwrap_or(8))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(o)
                    .await?;
                Ok(Db::Sqlite(pool))
            }
            Backend::Postgres => {
                let mut o = PgConnectOptions::from_str(url).map_err(|e| StoreError::UnsupportedUrl(format!("bad PostgreSQL URL: {e}")))?;
                if let Some(schema) = &opts.pg_schema {
                    o = o.options([("search_path", schema.as_str())]);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections.unwrap_or(16))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(o)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// A transaction for reads.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so two writers queue on `busy_timeout` instead of one failing when it upgrades its read lock.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
