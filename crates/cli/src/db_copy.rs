//! `partner-billing db copy --from URL --to URL`: the store copies and verifies (pb_store::copy);
//! this prints what it did, one line per table.

use anyhow::{Context, Result};
use pb_store::copy::{CopyError, CopyProgress, CopyReport, copy_database};
use pb_store::redact_url;

/// A line on stderr per table copied, so a long copy shows it is moving.
struct Lines;

impl CopyProgress for Lines {
    fn copied(&mut self, table: &str, rows: u64) {
        eprintln!("copied {table}: {rows} rows");
    }

    fn verifying(&mut self) {
        eprintln!("verifying: counting and checksumming every table on both sides");
    }
}

pub async fn run(from: &str, to: &str) -> Result<()> {
    eprintln!("copying {} to {}", redact_url(from), redact_url(to));
    match copy_database(from, to, &mut Lines).await {
        Ok(report) => {
            warn_of_live_instances(&report);
            print_report(&report);
            crate::files::private_database(to)?;
            println!(
                "copied and verified {} rows in {} tables (schema version {}) in {:.2} s",
                report.rows(),
                report.tables.len(),
                report.schema_version,
                report.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Err(CopyError::Mismatch(report)) => {
            print_report(&report);
            Err(CopyError::Mismatch(report)).context("db copy failed")
        }
        Err(e) => Err(e).context("db copy failed"),
    }
}

fn warn_of_live_instances(report: &CopyReport) {
    if !report.live_instances.is_empty() {
        eprintln!(
            "warning: serve was running on the source moments ago (instance {}): whatever it wrote after the copy read the \
             source is not in the target; stop every serve, then copy into a new, empty database again",
            report.live_instances.join(", ")
        );
    }
}

/// table, rows, checksum (the first 12 hex digits), ok: one line per table.
fn print_report(report: &CopyReport) {
    println!("{:<24} {:>10}  {:<12}  ok", "table", "rows", "checksum");
    for t in &report.tables {
        if t.ok() {
            println!("{:<24} {:>10}  {:<12}  ok", t.table, t.source_rows, short(&t.source_checksum));
        } else {
            println!(
                "{:<24} {:>10}  {:<12}  MISMATCH: target has {} rows, checksum {}",
                t.table,
                t.source_rows,
                short(&t.source_checksum),
                t.target_rows,
                short(&t.target_checksum)
            );
        }
    }
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}
