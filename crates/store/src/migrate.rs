use sqlx::migrate::Migrator;

use crate::db::{Db, Pool, Tx, args};
use crate::{Backend, Result, Store};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub database_reachable: bool,
    pub applied_version: Option<i64>,
    pub expected_version: i64,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database_reachable && self.applied_version == Some(self.expected_version)
    }
}

impl Store {
    /// Applies every pending migration. Safe to run from several nodes at once: sqlx takes an
    /// advisory lock on PostgreSQL, and SQLite serialises writers.
    pub async fn migrate(&self) -> Result<()> {
        migrate_db(&self.db).await
    }

    /// Database reachable, and the newest applied migration is the newest this build knows.
    pub async fn readiness(&self) -> Readiness {
        let expected_version = expected_version(self.backend());
        let applied = async {
            let mut tx = self.db.begin().await?;
            let v = applied_version(&mut tx).await?;
            tx.commit().await?;
            Ok::<_, crate::StoreError>(v)
        }
        .await;
        match applied {
            Ok(v) => Readiness { database_reachable: true, applied_version: v, expected_version },
            Err(e) => {
                // A missing migrations table means reachable but not migrated.
                let reachable = self.ping().await;
                tracing::warn!(error = %e, "readiness check could not read migrations");
                Readiness { database_reachable: reachable, applied_version: None, expected_version }
            }
        }
    }

    async fn ping(&self) -> bool {
        let Ok(mut tx) = self.db.begin().await else { return false };
        tx.scalar::<i32>("SELECT 1", args![]).await.is_ok()
    }
}

/// Applies every pending migration to `db` (see [`Store::migrate`]).
pub(crate) async fn migrate_db(db: &Db) -> Result<()> {
    match db.pool() {
        Pool::Sqlite(p) => SQLITE.run(p).await?,
        Pool::Postgres(p) => POSTGRES.run(p).await?,
    }
    Ok(())
}

/// The newest migration applied successfully; fails where there is no migrations table.
pub(crate) async fn applied_version(tx: &mut Tx) -> Result<Option<i64>> {
    tx.scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE", args![]).await
}

/// The newest migration this build knows for `backend`: the schema version it reads and writes.
pub(crate) fn expected_version(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The migration file names per backend, for the parity test.
pub fn migration_names() -> (Vec<String>, Vec<String>) {
    let names = |m: &Migrator| m.iter().map(|m| format!("{}_{}", m.version, m.description)).collect();
    (names(&SQLITE), names(&POSTGRES))
}
