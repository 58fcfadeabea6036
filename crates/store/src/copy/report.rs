//! What a copy reports, and why it refuses or fails.

use std::time::Duration;

use crate::StoreError;

/// One table of a copy: its rows and checksum on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    pub source_rows: i64,
    pub target_rows: i64,
    /// SHA-256 in hexadecimal, computed in Rust from the rows (see `copy/checksum.rs`).
    pub source_checksum: String,
    pub target_checksum: String,
}

impl TableCopy {
    pub fn ok(&self) -> bool {
        self.source_rows == self.target_rows && self.source_checksum == self.target_checksum
    }
}

/// A finished copy, verified table by table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Every table, in the order copied.
    pub tables: Vec<TableCopy>,
    /// The schema version of both databases (the newest migration of this build).
    pub schema_version: i64,
    /// Instances of `serve` that said they were alive on the source moments before the copy read
    /// it: whatever they wrote after that is not in the target.
    pub live_instances: Vec<String>,
    pub elapsed: Duration,
}

impl CopyReport {
    pub fn ok(&self) -> bool {
        self.tables.iter().all(TableCopy::ok)
    }

    /// Rows in the source, all tables together.
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|t| t.source_rows).sum()
    }
}

/// Which of the two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Hears how a copy advances (the CLI prints it).
pub trait CopyProgress: Send {
    /// `table` was copied: `rows` rows.
    fn copied(&mut self, _table: &str, _rows: u64) {}
    /// Every table is copied; checksums are being computed on both sides.
    fn verifying(&mut self) {}
}

impl CopyProgress for () {}

/// Why a copy was refused or did not finish. Every refusal comes before anything is written; a
/// failure once writing began rolls the target back to empty.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source and the target are the same database")]
    SameDatabase,
    #[error("cannot open the {side} database {url}: {source}")]
    Open { side: Side, url: String, source: StoreError },
    /// The source must already have this build's schema: the copy never writes to it.
    #[error(
        "the source database {url} is at schema version {}, this partner-billing's is {expected}: \
         run `partner-billing migrate --database {url}` with this version first (the copy never writes to its source)",
        .applied.map_or_else(|| "none (not a partner-billing database, or never migrated)".to_owned(), |v| v.to_string())
    )]
    SourceBehind { url: String, applied: Option<i64>, expected: i64 },
    #[error(
        "the source database {url} is at schema version {applied}, newer than this partner-billing's {expected}: \
         copy it with the partner-billing version that last migrated it"
    )]
    SourceAhead { url: String, applied: i64, expected: i64 },
    #[error(
        "the target database {url} is not empty, rows per table: {}; copy only into a new, empty database",
        .tables.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ")
    )]
    TargetNotEmpty { url: String, tables: Vec<(String, i64)> },
    #[error("the {side} database's schema is not the one this partner-billing copies: {}", .differences.join("; "))]
    SchemaDrift { side: Side, differences: Vec<String> },
    #[error("copying {table}: {source}")]
    Table { table: &'static str, source: StoreError },
    /// Counts or checksums differ: nothing was committed.
    #[error("the copy does not match its source ({} of {} tables differ); nothing was committed to the target", .0.tables.iter().filter(|t| !t.ok()).count(), .0.tables.len())]
    Mismatch(Box<CopyReport>),
    #[error(transparent)]
    Store(#[from] StoreError),
}
