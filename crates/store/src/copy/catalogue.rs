//! The database's own catalogue (`sqlite_master` and `pragma_table_info` on SQLite,
//! `information_schema` and `pg_constraint` on PostgreSQL), held against the copy's table list:
//! before every copy on both databases, and in the tests on freshly migrated ones. A table, column,
//! key, reference or sequence that the list does not account for is a difference, and a copy with
//! differences is refused rather than made incomplete.

use crate::db::{ArgKind, Tx, args};
use crate::{Backend, Result};

use super::tables::TABLES;

/// A table as the database describes it.
#[derive(Debug)]
pub(crate) struct LiveTable {
    pub name: String,
    pub columns: Vec<LiveColumn>,
    /// The tables its foreign keys refer to.
    pub references: Vec<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LiveColumn {
    pub name: String,
    /// The declared type, as the database spells it.
    pub declared: String,
    /// 1-based position in the primary key; 0 outside it.
    pub key_position: i64,
    /// 1 when the column takes its default from a sequence or is an identity column.
    pub from_sequence: i64,
}

/// The migrations table of sqlx: schema bookkeeping, which the copy checks but never copies.
pub(crate) const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Dialect fork: every table of the database (of the current schema on PostgreSQL), the migrations
/// table included, SQLite's own tables left out.
fn tables_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name",
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    }
}

/// Dialect fork: the columns of table `$1` as [`LiveColumn`]s, in their order.
fn columns_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT name, type AS declared, pk AS key_position, 0 AS from_sequence FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT CAST(c.column_name AS TEXT) AS name, CAST(c.data_type AS TEXT) AS declared, \
               CAST(COALESCE(k.ordinal_position, 0) AS BIGINT) AS key_position, \
               CAST(CASE WHEN c.is_identity = 'YES' OR left(COALESCE(c.column_default, ''), 8) = 'nextval(' THEN 1 ELSE 0 END AS BIGINT) \
                 AS from_sequence \
             FROM information_schema.columns c \
             LEFT JOIN ( \
               SELECT k.column_name, k.ordinal_position FROM information_schema.table_constraints tc \
               JOIN information_schema.key_column_usage k ON k.constraint_schema = tc.constraint_schema \
                 AND k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name \
               WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() AND tc.table_name = $1 \
             ) k ON k.column_name = c.column_name \
             WHERE c.table_schema = current_schema() AND c.table_name = $1 ORDER BY c.ordinal_position"
        }
    }
}

/// Dialect fork: the tables that table `$1`'s foreign keys refer to.
fn references_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)",
        Backend::Postgres => {
            "SELECT DISTINCT CAST(CAST(confrelid AS regclass) AS TEXT) FROM pg_constraint \
             WHERE contype = 'f' AND conrelid = to_regclass($1)"
        }
    }
}

/// The names of the database's tables, the migrations table included.
pub(crate) async fn table_names(tx: &mut Tx) -> Result<Vec<String>> {
    let sql = tables_sql(tx.backend());
    tx.scalars(sql, args![]).await
}

/// Every table of the database but the migrations table, as the database describes it.
pub(crate) async fn read(tx: &mut Tx) -> Result<Vec<LiveTable>> {
    let backend = tx.backend();
    let mut out = Vec::new();
    for name in table_names(tx).await? {
        if name == MIGRATIONS_TABLE {
            continue;
        }
        let columns: Vec<LiveColumn> = tx.fetch_all(columns_sql(backend), args![name.as_str()]).await?;
        let references: Vec<String> = tx.scalars(references_sql(backend), args![name.as_str()]).await?;
        out.push(LiveTable { name, columns, references });
    }
    Ok(out)
}

/// Whether a column declared `declared` on `backend` holds values of `kind` the way the store
/// writes them (times are fixed-width text on SQLite, `timestamptz` on PostgreSQL).
fn declares(backend: Backend, kind: ArgKind, declared: &str) -> bool {
    let declared = declared.to_ascii_lowercase();
    let allowed: &[&str] = match (backend, kind) {
        (Backend::Sqlite, ArgKind::Text | ArgKind::Time) => &["text"],
        (Backend::Sqlite, ArgKind::Int) => &["integer", "bigint"],
        (Backend::Sqlite, ArgKind::Bool) => &["boolean"],
        (Backend::Postgres, ArgKind::Text) => &["text"],
        (Backend::Postgres, ArgKind::Time) => &["timestamp with time zone"],
        (Backend::Postgres, ArgKind::Int) => &["bigint", "integer"],
        (Backend::Postgres, ArgKind::Bool) => &["boolean"],
    };
    allowed.contains(&declared.as_str())
}

/// What the database has that the copy's table list does not say, or the other way round; empty
/// when the list describes the schema exactly.
pub(crate) fn differences(live: &[LiveTable], backend: Backend) -> Vec<String> {
    let mut out = Vec::new();
    for t in live.iter().filter(|t| !TABLES.iter().any(|s| s.name == t.name)) {
        out.push(format!("table {} is not in the copy's table list (crates/store/src/copy/tables.rs)", t.name));
    }
    for t in live {
        for c in t.columns.iter().filter(|c| c.from_sequence != 0) {
            out.push(format!("column {}.{} draws from a sequence, which the copy does not carry over", t.name, c.name));
        }
    }
    for (position, spec) in TABLES.iter().enumerate() {
        let Some(t) = live.iter().find(|t| t.name == spec.name) else {
            out.push(format!("table {} of the copy's table list is not in the database", spec.name));
            continue;
        };
        for c in &t.columns {
            match spec.columns.iter().find(|(name, _)| *name == c.name) {
                None => out.push(format!("column {}.{} is not in the copy's table list", t.name, c.name)),
                Some((_, kind)) if !declares(backend, *kind, &c.declared) => {
                    out.push(format!("column {}.{} is declared {} where the copy's table list says {kind:?}", t.name, c.name, c.declared));
                }
                Some(_) => {}
            }
        }
        for (name, _) in spec.columns.iter().filter(|(name, _)| !t.columns.iter().any(|c| c.name == *name)) {
            out.push(format!("column {}.{name} of the copy's table list is not in the database", spec.name));
        }
        let mut key: Vec<&LiveColumn> = t.columns.iter().filter(|c| c.key_position > 0).collect();
        key.sort_by_key(|c| c.key_position);
        let key: Vec<&str> = key.iter().map(|c| c.name.as_str()).collect();
        if key != spec.key {
            out.push(format!("the primary key of {} is ({}) where the copy pages by ({})", spec.name, key.join(", "), spec.key.join(", ")));
        }
        for r in &t.references {
            if !TABLES[..position].iter().any(|earlier| earlier.name == r.as_str()) {
                out.push(format!("{} refers to {r}, which the copy's table list does not put before it", spec.name));
            }
        }
    }
    out
}
