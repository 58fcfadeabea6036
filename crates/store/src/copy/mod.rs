//! `partner-billing db copy`: every row of one store database into another, empty one (SQLite to
//! PostgreSQL when a deployment outgrows one file; PostgreSQL to SQLite works the same way), through
//! the store's own schema and the same [`Db`] path as every use case.
//!
//! In order: the source is opened read-only and must be at this build's schema version; the target
//! must hold no row in any store table (checked before anything is written), and is then migrated.
//! Both schemas are held against the copy's table list ([`tables::TABLES`]). Then, in one target
//! transaction and one source snapshot, each table is copied in primary-key pages, parents first;
//! each value goes through the [`crate::db::Arg`] of its column's kind, so it is bound with its
//! native type on the target (a SQLite time's text becomes a `timestamptz`, an integer 0/1 a
//! `boolean`, and back). Before committing, each table's row count and checksum are computed on
//! both sides; any difference rolls the whole copy back, so the target is either a verified copy or
//! as empty as it was.

use std::time::Instant;

use crate::db::{Db, Tx, args};
use crate::idempotency::INSTANCE_GONE_AFTER;
use crate::migrate::{applied_version, expected_version, migrate_db};
use crate::{ConnectOptions, Result, Ts, redact_url};

mod catalogue;
mod checksum;
mod report;
mod rows;
mod tables;

pub use report::{CopyError, CopyProgress, CopyReport, Side, TableCopy};
pub use tables::{TABLES, Table};

/// Copies every row of the store database at `from` into the empty one at `to`, and verifies it.
/// Never writes to `from`.
pub async fn copy_database(from: &str, to: &str, progress: &mut dyn CopyProgress) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    if from == to {
        return Err(CopyError::SameDatabase);
    }
    let read_only = ConnectOptions { read_only: true, max_connections: Some(2), ..Default::default() };
    let source =
        Db::connect(from, &read_only).await.map_err(|e| CopyError::Open { side: Side::Source, url: redact_url(from), source: e })?;
    let copied = async {
        let version = source_version(&source, from).await?;
        let target = Db::connect(to, &ConnectOptions { max_connections: Some(2), ..Default::default() })
            .await
            .map_err(|e| CopyError::Open { side: Side::Target, url: redact_url(to), source: e })?;
        let copied = copy_into(&source, &target, to, version, progress).await;
        target.close().await;
        copied
    }
    .await;
    source.close().await;
    let mut report = copied?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The source's schema version, which must be this build's.
async fn source_version(source: &Db, url: &str) -> Result<i64, CopyError> {
    let expected = expected_version(source.backend());
    let mut tx = source.begin().await?;
    let migrated = catalogue::table_names(&mut tx).await?.iter().any(|t| t == catalogue::MIGRATIONS_TABLE);
    let applied = if migrated { applied_version(&mut tx).await? } else { None };
    tx.commit().await?;
    match applied {
        Some(v) if v == expected => Ok(v),
        Some(v) if v > expected => Err(CopyError::SourceAhead { url: redact_url(url), applied: v, expected }),
        _ => Err(CopyError::SourceBehind { url: redact_url(url), applied, expected }),
    }
}

async fn copy_into(source: &Db, target: &Db, to: &str, version: i64, progress: &mut dyn CopyProgress) -> Result<CopyReport, CopyError> {
    let not_empty = |tables| CopyError::TargetNotEmpty { url: redact_url(to), tables };
    // Before migrating: a database holding anything of ours is refused before it is written to.
    let mut tx = target.begin().await?;
    let filled = filled_tables(&mut tx).await?;
    tx.commit().await?;
    if !filled.is_empty() {
        return Err(not_empty(filled));
    }
    migrate_db(target).await?;

    let mut src = source.begin_snapshot().await?;
    let mut dst = target.begin_write().await?;
    refuse_drift(&mut src, Side::Source).await?;
    refuse_drift(&mut dst, Side::Target).await?;
    // Again inside the transaction that writes: nothing may have arrived since the first look.
    let filled = filled_tables(&mut dst).await?;
    if !filled.is_empty() {
        return Err(not_empty(filled));
    }
    let live_instances = live_instances(&mut src).await?;
    for t in TABLES {
        let rows = rows::copy_table(&mut src, &mut dst, t).await.map_err(|e| CopyError::Table { table: t.name, source: e })?;
        progress.copied(t.name, rows);
    }
    progress.verifying();
    let mut tables = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        let failed = |e| CopyError::Table { table: t.name, source: e };
        let source_rows = rows::count_rows(&mut src, t.name).await.map_err(failed)?;
        let target_rows = rows::count_rows(&mut dst, t.name).await.map_err(failed)?;
        let source_checksum = checksum(&mut src, t, source_rows).await.map_err(failed)?;
        let target_checksum = checksum(&mut dst, t, target_rows).await.map_err(failed)?;
        tables.push(TableCopy { table: t.name, source_rows, target_rows, source_checksum, target_checksum });
    }
    let report = CopyReport { tables, schema_version: version, live_instances, elapsed: std::time::Duration::ZERO };
    if !report.ok() {
        // Dropping `dst` rolls every row back.
        return Err(CopyError::Mismatch(Box::new(report)));
    }
    dst.commit().await?;
    src.commit().await?;
    Ok(report)
}

/// The checksum of `t`, whose pages must have held every one of the `counted` rows.
async fn checksum(tx: &mut Tx, t: &Table, counted: i64) -> Result<String> {
    let sum = rows::checksum_table(tx, t).await?;
    if u64::try_from(counted).ok() != Some(sum.rows()) {
        return Err(crate::StoreError::Corrupt(format!(
            "its pages in key order held {} rows where the database counts {counted}",
            sum.rows()
        )));
    }
    Ok(sum.hex())
}

/// The store tables that exist in this database and hold rows, with their counts.
async fn filled_tables(tx: &mut Tx) -> Result<Vec<(String, i64)>> {
    let present = catalogue::table_names(tx).await?;
    let mut filled = Vec::new();
    for t in TABLES.iter().filter(|t| present.iter().any(|p| p == t.name)) {
        let n = rows::count_rows(tx, t.name).await?;
        if n > 0 {
            filled.push((t.name.to_owned(), n));
        }
    }
    Ok(filled)
}

async fn refuse_drift(tx: &mut Tx, side: Side) -> Result<(), CopyError> {
    let differences = schema_differences(tx).await?;
    if differences.is_empty() { Ok(()) } else { Err(CopyError::SchemaDrift { side, differences }) }
}

/// How this database's schema differs from the copy's table list; empty when the list describes it
/// exactly (the tests hold every migrated schema to that).
pub async fn schema_differences(tx: &mut Tx) -> Result<Vec<String>> {
    let live = catalogue::read(tx).await?;
    Ok(catalogue::differences(&live, tx.backend()))
}

/// Instances of serve that said they were alive within [`INSTANCE_GONE_AFTER`] of now.
async fn live_instances(tx: &mut Tx) -> Result<Vec<String>> {
    let since = Ts::from(time::OffsetDateTime::now_utc() - INSTANCE_GONE_AFTER);
    tx.scalars("SELECT id FROM instances WHERE seen_at > $1 ORDER BY id", args![since]).await
}

#[cfg(test)]
mod tests {
    use crate::db::args;
    use crate::{Store, both_backends};

    /// The copy's table list is the schema: every table, column, kind, key and reference the
    /// migrations make, no more. A migration that adds a table or column fails here until the copy
    /// knows it.
    async fn copy_table_list_covers_every_table_of_the_migrated_schema(store: Store) {
        let mut tx = store.db().begin().await.unwrap();
        let differences = super::schema_differences(&mut tx).await.unwrap();
        assert!(differences.is_empty(), "{differences:#?}");
    }

    /// The check above sees what it must: a table, a column and a sequence that the list lacks.
    async fn copy_table_list_check_finds_a_table_a_column_and_a_sequence_it_does_not_know(store: Store) {
        let mut tx = store.db().begin_write().await.unwrap();
        tx.execute("CREATE TABLE surprises (id TEXT PRIMARY KEY, tenant_id TEXT REFERENCES tenants(id))", args![]).await.unwrap();
        tx.execute("ALTER TABLE tenants ADD COLUMN motto TEXT", args![]).await.unwrap();
        let serial = match store.backend() {
            crate::Backend::Sqlite => "CREATE TABLE counters (n INTEGER PRIMARY KEY AUTOINCREMENT)",
            crate::Backend::Postgres => "CREATE TABLE counters (n BIGSERIAL PRIMARY KEY)",
        };
        tx.execute(serial, args![]).await.unwrap();
        let differences = super::schema_differences(&mut tx).await.unwrap();
        let has = |needle: &str| differences.iter().any(|d| d.contains(needle));
        assert!(has("table surprises is not in the copy's table list"), "{differences:#?}");
        assert!(has("table counters is not in the copy's table list"), "{differences:#?}");
        assert!(has("column tenants.motto is not in the copy's table list"), "{differences:#?}");
        if store.backend() == crate::Backend::Postgres {
            assert!(has("column counters.n draws from a sequence"), "{differences:#?}");
        }
    }

    both_backends!(
        copy_table_list_covers_every_table_of_the_migrated_schema,
        copy_table_list_check_finds_a_table_a_column_and_a_sequence_it_does_not_know
    );
}
