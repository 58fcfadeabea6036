//! Test support: a fresh, migrated store on SQLite (always) or PostgreSQL (when
//! `PB_TEST_DATABASE_URL` is set). Each PostgreSQL store lives in its own schema so tests run in
//! parallel on one database. Failing to set up is a test failure, so this module panics on purpose.
#![expect(clippy::expect_used, reason = "test support fails the test loudly when it cannot set up")]

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
                .expect("PB_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
            if let crate::db::Pool::Postgres(p) = admin.db.pool() {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(p).await.expect("cannot create test schema");
            }
            admin.close().await;
            Some((url, ConnectOptions { pg_schema: Some(schema), max_connections: Some(8), ..Default::default() }))
        }
    }
}

/// A fresh migrated store with the given clock.
pub async fn store_with_clock(backend: Backend, test: &str, clock: Arc<dyn Clock>) -> Option<Store> {
    let (url, opts) = fresh_database(backend, test).await?;
    let store = Store::connect(&url, &opts, clock).await.expect("cannot open test store");
    store.migrate().await.expect("cannot migrate test store");
    Some(store)
}

/// The store as it is: the default set-up of [`both_backends!`].
pub async fn ready(store: Store) -> Store {
    store
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(T)` in scope, where `T` is
/// what the set-up makes of a fresh store (the store itself by default; `with path::to::setup;`
/// names an `async fn(Store) -> T`, e.g. one that builds a whole app over it).
/// `sqlite::name` always runs; `postgres::name` runs when `PB_TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! both_backends {
    (with $setup:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = $crate::testing::store($crate::Backend::Sqlite, stringify!($name)).await {
                        super::$name($setup(s).await).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(s) = $crate::testing::store($crate::Backend::Postgres, stringify!($name)).await {
                        super::$name($setup(s).await).await
                    }
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_backends!(with $crate::testing::ready; $($name),*);
    };
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(Backend)` in scope, for tests
/// that build their own store (a test clock, a database for the real binary): `sqlite::name` and
/// `postgres::name`, the latter skipping loudly unless `PB_TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! by_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Every audit record of a tenant, oldest first, read past the use cases (which show the trail to
/// the tenant's global admins only).
pub async fn audit_trail(store: &Store, tenant: pb_domain::TenantId) -> Vec<crate::AuditRecord> {
    let mut tx = store.db.begin().await.expect("begin");
    let rows: Vec<crate::audit::AuditRow> = tx
        .fetch_all(
            "SELECT id, tenant_id, actor_kind, actor_id, action, target_kind, target_id, before_state, after_state, request_id, at, acted_as \
             FROM audit_records WHERE tenant_id = $1 ORDER BY id",
            crate::db::args![tenant],
        )
        .await
        .expect("read the audit trail");
    tx.commit().await.expect("commit");
    rows.into_iter().map(|r| crate::AuditRecord::try_from(r).expect("stored audit record")).collect()
}

/// The context of a stored user of `tenant` found by id or email.
pub async fn user_ctx(store: &Store, tenant: pb_domain::TenantId, user: &str) -> crate::UserCtx {
    let u = store.find_user(tenant, user).await.expect("test user");
    crate::UserCtx::new(&u, None)
}

/// A new database's name, prefixed with the configured database's (`pb_test` → `pb_test_<random>`),
/// so that runs sharing one server keep to their own names and each can clean up after itself;
/// `pb_bin_<random>` where that name would not be a plain identifier of at most 63 bytes.
fn binary_test_database_name(url: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let configured = url.rsplit_once('/').map(|(_, db)| db.split('?').next().unwrap_or_default()).unwrap_or_default();
    let plain = !configured.is_empty() && configured.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain && configured.len() + 1 + random.len() <= 63 { format!("{configured}_{random}") } else { format!("pb_bin_{random}") }
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
            let name = binary_test_database_name(&url);
            let admin = Store::connect(&url, &ConnectOptions { max_connections: Some(1), ..Default::default() }, Arc::new(SystemClock))
                .await
                .expect("PB_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
            if let crate::db::Pool::Postgres(p) = admin.db.pool() {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(p).await.expect("cannot create test database");
            }
            admin.close().await;
            let base = url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(url);
            Some(format!("{base}/{name}"))
        }
    }
}

pub mod every_table;
pub mod link_load;
pub mod load;
pub mod mail;

pub use load::check_invoices;
