//! Test support: a fresh, migrated store on SQLite (always) or PostgreSQL (when
//! `PB_TEST_DATABASE_URL` is set). Each PostgreSQL store lives in its own schema so tests run in
//! parallel on one database.

use std::io::Write;
use std::sync::Arc;

use pb_domain::{Clock, SystemClock};

use crate::{Backend, ConnectOptions, Store};

/// The PostgreSQL URL for tests, if configured.
pub fn pg_url() -> Option<String> {
    std::env::var("PB_TEST_DATABASE_URL").ok().filter(|s| !s.trim().is_empty())
}

/// Says loudly (straight to the terminal, past the test harness's capture) that a PostgreSQL test
/// was skipped, and records a run in `PB_TEST_PG_MARKER` so CI can prove PostgreSQL tests ran.
fn note_pg(test: &str, ran: bool) {
    if ran {
        if let Ok(path) = std::env::var("PB_TEST_PG_MARKER")
            && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
        {
            let _ = writeln!(f, "{test}");
        }
    } else {
        let _ = writeln!(std::io::stderr(), "SKIPPED (PostgreSQL): {test}: set PB_TEST_DATABASE_URL to run it");
    }
}

/// A fresh migrated store with the system clock; `None` when the backend is not available.
pub async fn store(backend: Backend, test: &str) -> Option<Store> {
    store_with_clock(backend, test, Arc::new(SystemClock)).await
}

/// The URL and options of a fresh, empty database for `backend` (for tests that start the binary).
pub async fn fresh_database(backend: Backend, test: &str) -> Option<(String, ConnectOptions)> {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("pb-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).ok()?;
            Some((format!("sqlite://{}/test.db", dir.display()), ConnectOptions::default()))
        }
        Backend::Postgres => {
            let Some(url) = pg_url() else {
                note_pg(test, false);
                return None;
            };
            note_pg(test, true);
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect(&url, &ConnectOptions { max_connections: Some(1), ..Default::default() }, Arc::new(SystemClock))
                .await
                .unwrap_or_else(|e| panic!("PB_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
            if let crate::Db::Postgres(p) = &admin.db {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(p)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test schema: {e}"));
            }
            admin.close().await;
            Some((url, ConnectOptions { pg_schema: Some(schema), max_connections: Some(8) }))
        }
    }
}

/// A fresh migrated store with the given clock.
pub async fn store_with_clock(backend: Backend, test: &str, clock: Arc<dyn Clock>) -> Option<Store> {
    let (url, opts) = fresh_database(backend, test).await?;
    let store = Store::connect(&url, &opts, clock).await.unwrap_or_else(|e| panic!("cannot open test store: {e}"));
    store.migrate().await.unwrap_or_else(|e| panic!("cannot migrate test store: {e}"));
    Some(store)
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(Store)` in scope:
/// `sqlite::name` always runs; `postgres::name` runs when `PB_TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = $crate::testing::store($crate::Backend::Sqlite, stringify!($name)).await {
                        super::$name(s).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = $crate::testing::store($crate::Backend::Postgres, stringify!($name)).await {
                        super::$name(s).await
                    }
                }
            )*
        }
    };
}

/// A URL of a new, empty database for `backend`, for tests that start the real binary (which
/// takes only a URL, not a schema).
pub async fn fresh_database_url(backend: Backend, test: &str) -> Option<String> {
    match backend {
        Backend::Sqlite => fresh_database(backend, test).await.map(|(url, _)| url),
        Backend::Postgres => {
            let Some(url) = pg_url() else {
                note_pg(test, false);
                return None;
            };
            note_pg(test, true);
            let name = format!("pb_bin_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect(&url, &ConnectOptions { max_connections: Some(1), ..Default::default() }, Arc::new(SystemClock))
                .await
                .unwrap_or_else(|e| panic!("PB_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
            if let crate::Db::Postgres(p) = &admin.db {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(p)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
            }
            admin.close().await;
            let base = url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(url);
            Some(format!("{base}/{name}"))
        }
    }
}
