//! Reading a table in pages and writing the pages elsewhere. A page is the next [`BATCH`] rows after
//! the last key seen (keyset pagination over the primary key, which its index serves), so memory
//! holds one page whatever the table's size, and no row is read twice or skipped.
//!
//! The SQL is built from the copy's table list, never from input: the names are this crate's own.

use sqlx::AssertSqlSafe;

use crate::Result;
use crate::db::{Arg, ArgKind, Tx, args, placeholders};

use super::checksum::Checksum;
use super::tables::Table;

/// Rows per page read, and at most per statement written.
pub(crate) const BATCH: usize = 500;

/// Parameters per statement: under SQLite's limit (32 766) and PostgreSQL's (65 535).
const MAX_PARAMS: usize = 30_000;

fn select_sql(t: &Table, after_key: bool) -> String {
    // PostgreSQL's `integer` columns decode only as i32; as BIGINT every integer is an i64 on both.
    let columns: Vec<String> = t
        .columns
        .iter()
        .map(|(c, kind)| match kind {
            ArgKind::Int => format!("CAST({c} AS BIGINT)"),
            _ => (*c).to_owned(),
        })
        .collect();
    let key = t.key.join(", ");
    let filter = if after_key { format!(" WHERE ({key}) > ({})", placeholders(1, t.key.len())) } else { String::new() };
    format!("SELECT {} FROM {}{filter} ORDER BY {key} LIMIT {BATCH}", columns.join(", "), t.name)
}

fn insert_sql(t: &Table, rows: usize) -> String {
    let n = t.columns.len();
    let values: Vec<String> = (0..rows).map(|r| format!("({})", placeholders(1 + r * n, n))).collect();
    let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    format!("INSERT INTO {} ({}) VALUES {}", t.name, columns.join(", "), values.join(", "))
}

/// Pages through a table in primary key order.
struct Pages<'t> {
    table: &'t Table,
    key_positions: Vec<usize>,
    after: Option<Vec<Arg>>,
    done: bool,
}

impl<'t> Pages<'t> {
    fn new(table: &'t Table) -> Pages<'t> {
        Pages { table, key_positions: table.key_positions(), after: None, done: false }
    }

    /// The next page; empty once the table is exhausted.
    async fn next(&mut self, tx: &mut Tx) -> Result<Vec<Vec<Arg>>> {
        if self.done {
            return Ok(Vec::new());
        }
        let t = self.table;
        let page = match &self.after {
            None => tx.fetch_args(AssertSqlSafe(select_sql(t, false)), args![], t.columns).await?,
            Some(key) => tx.fetch_args(AssertSqlSafe(select_sql(t, true)), key.clone(), t.columns).await?,
        };
        self.done = page.len() < BATCH;
        self.after = page.last().map(|row| self.key_positions.iter().filter_map(|&i| row.get(i).cloned()).collect());
        Ok(page)
    }
}

/// Copies every row of `t` from `src` to `dst`; the number of rows copied.
pub(crate) async fn copy_table(src: &mut Tx, dst: &mut Tx, t: &Table) -> Result<u64> {
    let per_statement = (MAX_PARAMS / t.columns.len().max(1)).clamp(1, BATCH);
    let mut pages = Pages::new(t);
    let mut copied = 0u64;
    loop {
        let page = pages.next(src).await?;
        if page.is_empty() {
            return Ok(copied);
        }
        for chunk in page.chunks(per_statement) {
            let values: Vec<Arg> = chunk.iter().flatten().cloned().collect();
            copied += dst.execute(AssertSqlSafe(insert_sql(t, chunk.len())), values).await?;
        }
    }
}

/// The checksum of every row of `t` as this database returns it.
pub(crate) async fn checksum_table(tx: &mut Tx, t: &Table) -> Result<Checksum> {
    let mut sum = Checksum::default();
    let mut pages = Pages::new(t);
    loop {
        let page = pages.next(tx).await?;
        if page.is_empty() {
            return Ok(sum);
        }
        for row in &page {
            sum.add_row(row);
        }
    }
}

/// How many rows `table` holds, counted by the database.
pub(crate) async fn count_rows(tx: &mut Tx, table: &str) -> Result<i64> {
    tx.scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")), args![]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::tables::TABLES;

    #[test]
    fn pages_follow_the_primary_key_and_inserts_stay_under_the_parameter_limit() {
        let roles = TABLES.iter().find(|t| t.name == "user_directory_roles").map(|t| select_sql(t, true));
        assert_eq!(
            roles.as_deref(),
            Some(
                "SELECT user_id, tenant_id, role FROM user_directory_roles WHERE (user_id, role) > ($1, $2) ORDER BY user_id, role LIMIT 500"
            )
        );
        for t in TABLES {
            assert_eq!(t.key_positions().len(), t.key.len(), "{}: every key column is a column", t.name);
            assert!(BATCH * t.columns.len() <= MAX_PARAMS, "{}: a whole page fits one statement", t.name);
        }
    }
}
