//! One code path for two databases. Every query is one SQL text with `$n` placeholders (both
//! drivers accept them); its parameters are [`Arg`]s and its rows anything that decodes on both
//! drivers. The dispatch to the live driver happens here (and, for whole tables, in `db/tables.rs`)
//! and nowhere else, so a use case reads as SQL and rules. Only the schema and the few statements
//! named below ([`Tx::for_update`]) differ.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Arguments, Database, Decode, Encode, FromRow, PgPool, Postgres, SqlSafeStr, Sqlite, SqlitePool, Transaction, Type};

use crate::error::StoreError;
use crate::ts::Ts;

mod pg_hosts;
mod tables;
mod url;

pub use tables::ArgKind;
pub use url::{Backend, ConnectOptions, redact_url};

/// The live pool, and how many statements went through it (tests count them to prove that a read
/// does not grow with the data).
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    statements: Arc<AtomicU64>,
    /// Rung after a commit that queued email, so this process's dispatcher sends it at once
    /// instead of at its next poll.
    outbox_wake: Arc<tokio::sync::Notify>,
    /// SQLite has one writer at a time. Writers of this process queue here, first come first
    /// served, and then write through one dedicated connection (`sqlite_writer`): waiting on
    /// SQLite's busy handler instead (which sleeps and retries) gave `POST /billing-accounts` a p99
    /// of 323 ms at 64 connections (issue 11), writers parked on pool connections starved the
    /// readers, and each of eight connections writing in turn threw away its page cache after every
    /// other's commit. Other processes on the same file (the CLI) still meet `busy_timeout`.
    /// Unused on PostgreSQL.
    writer: Arc<tokio::sync::Mutex<()>>,
    sqlite_writer: Option<SqlitePool>,
    /// Counts this process's committed write transactions, so that what is cached from the
    /// database (the callers of recent tokens) is known stale after any local write.
    writes: Arc<AtomicU64>,
    /// PostgreSQL at several hosts (or `target_session_attrs=read-write`): keeps the pool on the
    /// one that takes writes.
    router: Option<Arc<pg_hosts::Router>>,
}

/// The pool of either backend.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either backend.
pub struct Tx {
    conn: Conn,
    /// SQLite writers hold the process's writer turn until commit or rollback (drop).
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    statements: Arc<AtomicU64>,
    outbox_wake: Arc<tokio::sync::Notify>,
    queued_email: bool,
    /// Opened with `begin_write`: its commit counts in [`Db::writes`].
    writes: Option<Arc<AtomicU64>>,
}

enum Conn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A query parameter. Each kind binds with the same SQL type on both drivers; `None` binds a typed
/// NULL, so PostgreSQL never has to guess.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Time(Option<Ts>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<Ts> for Arg {
    fn from(v: Ts) -> Self {
        Arg::Time(Some(v))
    }
}
impl From<Option<Ts>> for Arg {
    fn from(v: Option<Ts>) -> Self {
        Arg::Time(v)
    }
}

/// Ids are stored as their text form.
macro_rules! id_args {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Arg {
            fn from(v: $t) -> Self {
                Arg::Text(Some(v.to_string()))
            }
        }
        impl From<&$t> for Arg {
            fn from(v: &$t) -> Self {
                Arg::Text(Some(v.to_string()))
            }
        }
    )*};
}
id_args!(
    pb_domain::TenantId,
    pb_domain::UserId,
    pb_domain::PartnerAccountId,
    pb_domain::BillingAccountId,
    pb_domain::BillingProfileId,
    pb_domain::InvoiceSectionId,
    pb_domain::PaymentInstrumentId,
    pb_domain::AgreementAcceptanceId,
    pb_domain::BillingLinkId,
    pb_domain::RoleAssignmentId,
    pb_domain::AuditRecordId,
    pb_domain::PurchaseId,
    pb_domain::InvoiceId,
    pb_domain::InvoiceRunId,
);

/// Builds a `Vec<Arg>` from values of mixed types: `args![tenant, name, now]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Arg::from($v)),*] };
}
pub(crate) use args;

fn arguments<DB: Database>(args: Vec<Arg>) -> Result<DB::Arguments, StoreError>
where
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> Option<Ts>: Encode<'t, DB> + Type<DB>,
{
    let mut a = DB::Arguments::default();
    for arg in args {
        let added = match arg {
            Arg::Text(v) => a.add(v),
            Arg::Int(v) => a.add(v),
            Arg::Bool(v) => a.add(v),
            Arg::Time(v) => a.add(v),
        };
        added.map_err(|e| StoreError::Corrupt(format!("cannot encode a query parameter: {e}")))?;
    }
    Ok(a)
}

/// A row type that decodes on both drivers (`#[derive(sqlx::FromRow)]` gives both).
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// A single column value that decodes on both drivers.
pub trait Scalar: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres> + Send + Unpin {}
impl<T> Scalar for T where T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres> + Send + Unpin {}

impl Tx {
    fn conn(&mut self) -> &mut Conn {
        self.statements.fetch_add(1, Ordering::Relaxed);
        &mut self.conn
    }

    /// Runs a statement; the number of rows it touched.
    pub async fn execute(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(match self.conn() {
            Conn::Sqlite(t) => sqlx::query_with(sql, arguments::<Sqlite>(args)?).execute(&mut **t).await?.rows_affected(),
            Conn::Postgres(t) => sqlx::query_with(sql, arguments::<Postgres>(args)?).execute(&mut **t).await?.rows_affected(),
        })
    }

    pub async fn fetch_all<T: Row>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Vec<T>, StoreError> {
        Ok(match self.conn() {
            Conn::Sqlite(t) => sqlx::query_as_with(sql, arguments::<Sqlite>(args)?).fetch_all(&mut **t).await?,
            Conn::Postgres(t) => sqlx::query_as_with(sql, arguments::<Postgres>(args)?).fetch_all(&mut **t).await?,
        })
    }

    pub async fn fetch_optional<T: Row>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Option<T>, StoreError> {
        Ok(match self.conn() {
            Conn::Sqlite(t) => sqlx::query_as_with(sql, arguments::<Sqlite>(args)?).fetch_optional(&mut **t).await?,
            Conn::Postgres(t) => sqlx::query_as_with(sql, arguments::<Postgres>(args)?).fetch_optional(&mut **t).await?,
        })
    }

    /// The first column of every row.
    pub async fn scalars<T: Scalar>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Vec<T>, StoreError> {
        Ok(match self.conn() {
            Conn::Sqlite(t) => sqlx::query_scalar_with(sql, arguments::<Sqlite>(args)?).fetch_all(&mut **t).await?,
            Conn::Postgres(t) => sqlx::query_scalar_with(sql, arguments::<Postgres>(args)?).fetch_all(&mut **t).await?,
        })
    }

    /// The first column of the first row, if there is a row.
    pub async fn scalar_optional<T: Scalar>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Option<T>, StoreError> {
        Ok(match self.conn() {
            Conn::Sqlite(t) => sqlx::query_scalar_with(sql, arguments::<Sqlite>(args)?).fetch_optional(&mut **t).await?,
            Conn::Postgres(t) => sqlx::query_scalar_with(sql, arguments::<Postgres>(args)?).fetch_optional(&mut **t).await?,
        })
    }

    /// The first column of the one row the query must return.
    pub async fn scalar<T: Scalar>(&mut self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<T, StoreError> {
        Ok(match self.conn() {
            Conn::Sqlite(t) => sqlx::query_scalar_with(sql, arguments::<Sqlite>(args)?).fetch_one(&mut **t).await?,
            Conn::Postgres(t) => sqlx::query_scalar_with(sql, arguments::<Postgres>(args)?).fetch_one(&mut **t).await?,
        })
    }

    /// Which database this transaction is on, for the few statements named per dialect.
    pub fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Dialect fork: a row lock for the rest of the transaction. PostgreSQL needs it; SQLite's writers
    /// already hold the database's write lock (`BEGIN IMMEDIATE`), so it has nothing to add.
    pub fn for_update(&self) -> &'static str {
        match self.conn {
            Conn::Sqlite(_) => "",
            Conn::Postgres(_) => " FOR UPDATE",
        }
    }

    /// Dialect fork: a row lock that passes over rows another transaction holds, so that concurrent
    /// claimers (outbox dispatchers on several nodes) each take different rows instead of queueing.
    /// SQLite has one writer at a time: nothing to skip.
    pub fn skip_locked(&self) -> &'static str {
        match self.conn {
            Conn::Sqlite(_) => "",
            Conn::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Notes that this transaction queued email: its commit wakes the outbox dispatcher.
    pub(crate) fn queued_email(&mut self) {
        self.queued_email = true;
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.conn {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(t) => t.commit().await?,
        }
        if let Some(w) = &self.writes {
            w.fetch_add(1, Ordering::Release);
        }
        if self.queued_email {
            self.outbox_wake.notify_one();
        }
        Ok(())
    }
}

/// `$from, $from+1, …` for `n` values: the placeholders of an `IN (…)` list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Db {
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Db, StoreError> {
        match Backend::of_url(url)? {
            Backend::Sqlite => {
                let o = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::UnsupportedUrl(format!("bad SQLite URL: {e}")))?;
                if opts.read_only {
                    return Db::connect_sqlite_read_only(o, opts).await;
                }
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
                // No ping before each acquire: a file in this process cannot drop the connection,
                // and the ping was one more hop to the connection's worker thread per request.
                let pool = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(opts.max_connections.unwrap_or(8))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(o.clone())
                    .await?;
                let writer = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(o)
                    .await?;
                Ok(Db { sqlite_writer: Some(writer), ..Db::new(Pool::Sqlite(pool)) })
            }
            Backend::Postgres => {
                let (pool, router) = pg_hosts::connect(url, opts).await?;
                Ok(Db { router, ..Db::new(Pool::Postgres(pool)) })
            }
        }
    }

    fn new(pool: Pool) -> Db {
        Db {
            pool,
            statements: Arc::new(AtomicU64::new(0)),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            sqlite_writer: None,
            writes: Arc::new(AtomicU64::new(0)),
            router: None,
        }
    }

    /// Fails at once while the router knows no host takes writes.
    fn gate(&self) -> Result<(), StoreError> {
        self.router.as_ref().map_or(Ok(()), |r| r.gate())
    }

    /// The store error for a failed PostgreSQL call; one that found the database gone wakes the
    /// router, so that it looks for the primary now rather than at its next check.
    fn seen(&self, e: sqlx::Error) -> StoreError {
        let e = StoreError::from(e);
        if let (true, Some(r)) = (e.is_unavailable(), &self.router) {
            r.nudge();
        }
        e
    }

    /// The pool, for tests and diagnostics that must reach past the use cases.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Notified after each commit that queued email in this process.
    pub fn outbox_wake(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_wake.clone()
    }

    /// How many write transactions this process committed so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// How many statements the use cases ran through this pool so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn tx(&self, conn: Conn) -> Tx {
        Tx {
            conn,
            _writer: None,
            statements: self.statements.clone(),
            outbox_wake: self.outbox_wake.clone(),
            queued_email: false,
            writes: None,
        }
    }

    /// One read statement on its own, outside any transaction (a single statement sees one
    /// snapshot anyway): saves the `BEGIN` and `COMMIT` round trips of a transaction, which on
    /// SQLite are each a hop to the connection's worker thread. For the lookups every request makes.
    pub async fn read_all<T: Row>(&self, sql: impl SqlSafeStr, args: Vec<Arg>) -> Result<Vec<T>, StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.gate()?;
        Ok(match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as_with(sql, arguments::<Sqlite>(args)?).fetch_all(p).await?,
            Pool::Postgres(p) => sqlx::query_as_with(sql, arguments::<Postgres>(args)?).fetch_all(p).await.map_err(|e| self.seen(e))?,
        })
    }

    /// A transaction for reads.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        self.gate()?;
        Ok(self.tx(match &self.pool {
            Pool::Sqlite(p) => Conn::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Conn::Postgres(p.begin().await.map_err(|e| self.seen(e))?),
        }))
    }

    /// A transaction that will write. On SQLite it first waits for this process's writer turn (a
    /// fair queue), then takes the write lock up front (`BEGIN IMMEDIATE`) so that it never fails
    /// upgrading a read lock; another process's writer is waited for through `busy_timeout`.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        self.gate()?;
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let turn = self.writer.clone().lock_owned().await;
                let p = self.sqlite_writer.as_ref().unwrap_or(p);
                let mut tx = self.tx(Conn::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?));
                tx._writer = Some(turn);
                tx.writes = Some(self.writes.clone());
                tx
            }
            Pool::Postgres(p) => {
                let conn = p.begin().await.map_err(|e| self.seen(e))?;
                Tx { writes: Some(self.writes.clone()), ..self.tx(Conn::Postgres(conn)) }
            }
        })
    }

    pub async fn close(&self) {
        if let Some(w) = &self.sqlite_writer {
            w.close().await;
        }
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}
