//! The monthly invoice run (rules B4, B5, T3, U1). Profiles with charges in the period are walked in
//! batches (keyset order by profile id); each batch is one transaction of a fixed number of
//! statements, whatever its charges: the invoices and their lines are made by `INSERT … SELECT` on
//! the database, never carried through this process, so memory does not grow with the charges.
//!
//! Exactly once, whatever happens: `invoice_lines` is keyed by the purchase, `invoices` is unique per
//! profile and period, and numbers come from a per-year counter row that the batch locks until it
//! commits. A re-run, a concurrent run on another node, or a run killed half way and started again
//! only ever adds the invoices still missing; a number is taken only by a committed invoice, so the
//! sequence has no gap and no repeat.

use pb_domain::commerce::invoice_number;
use pb_domain::{InvoiceId, InvoiceRunId, Period};

use crate::db::{Arg, Tx, args, placeholders};
use crate::{Ctx, Result, Store, StoreError, Ts};

/// Profiles per batch: large enough that round trips do not dominate, small enough that a batch's
/// transaction stays short and its parameters few.
const BATCH: usize = 500;

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRunSummary {
    pub id: InvoiceRunId,
    pub period: Period,
    /// Profiles with charges in the period.
    pub profiles: i64,
    /// Invoices this run issued.
    pub invoices_created: i64,
    /// Profiles whose invoice for the period already existed (an earlier or concurrent run).
    pub invoices_already_issued: i64,
    /// Charges of the period, every one now on an invoice.
    pub charges: i64,
    pub started_at: time::OffsetDateTime,
    pub finished_at: time::OffsetDateTime,
}

/// Told as the run goes, e.g. to draw a progress bar.
pub trait RunProgress: Send {
    /// The run found `profiles` profiles with charges in the period.
    fn started(&mut self, _profiles: u64) {}
    /// Another `profiles` were handled, `created` of them got a new invoice.
    fn advanced(&mut self, _profiles: u64, _created: u64) {}
}

impl RunProgress for () {}

#[derive(sqlx::FromRow)]
struct NewInvoice {
    profile_id: String,
}

#[derive(sqlx::FromRow)]
struct Recipient {
    invoice_id: String,
    tenant_id: String,
    user_id: String,
    email: String,
    number_year: i64,
    number_seq: i64,
    profile_name: String,
}

fn bounds(period: Period) -> (Ts, Ts) {
    (Ts::from(period.start()), Ts::from(period.end()))
}

/// The next batch of profiles with charges in the period, after `after` in id order.
async fn next_profiles(tx: &mut Tx, period: Period, after: &str) -> Result<Vec<String>> {
    let (start, end) = bounds(period);
    tx.scalars(
        "SELECT p.id FROM billing_profiles p WHERE p.id > $3 AND EXISTS (SELECT 1 FROM purchases c \
         WHERE c.billing_profile_id = p.id AND c.purchased_at >= $1 AND c.purchased_at < $2) ORDER BY p.id LIMIT $4",
        args![start, end, after, i64::try_from(BATCH).unwrap_or(500)],
    )
    .await
}

/// Issues the invoices still missing for `profiles` in one transaction; returns how many.
async fn issue_batch(tx: &mut Tx, ctx: &Ctx, period: Period, profiles: &[String], now: Ts) -> Result<u64> {
    let (start, end) = bounds(period);
    let year = i64::from(now.0.year());
    // The year's counter row, locked until commit: concurrent batches queue here, and each sees the
    // invoices the one before it committed.
    tx.execute("INSERT INTO invoice_sequences (year, last_seq) VALUES ($1, 0) ON CONFLICT (year) DO NOTHING", args![year]).await?;
    let lock = tx.for_update();
    let last: i64 =
        tx.scalar(sqlx::AssertSqlSafe(format!("SELECT last_seq FROM invoice_sequences WHERE year = $1{lock}")), args![year]).await?;
    let mut params: Vec<Arg> = args![period.to_string()];
    params.extend(profiles.iter().map(Arg::from));
    let missing: Vec<NewInvoice> = tx
        .fetch_all(
            sqlx::AssertSqlSafe(format!(
                "SELECT p.id AS profile_id FROM billing_profiles p WHERE p.id IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.billing_profile_id = p.id AND i.period = $1) ORDER BY p.id",
                placeholders(2, profiles.len())
            )),
            params,
        )
        .await?;
    if missing.is_empty() {
        return Ok(0);
    }
    // Ids and numbers are made here; everything else the database takes from the rows themselves.
    let ids: Vec<InvoiceId> = missing.iter().map(|_| InvoiceId::new()).collect();
    let mut params: Vec<Arg> = args![period.to_string(), year, now];
    let mut rows = Vec::with_capacity(missing.len());
    for (i, (m, id)) in missing.iter().zip(&ids).enumerate() {
        let n = params.len();
        rows.push(format!("(${}, ${}, ${})", n + 1, n + 2, n + 3));
        params.push(Arg::from(id));
        params.push(Arg::from(m.profile_id.as_str()));
        params.push(Arg::from(last + 1 + i64::try_from(i).unwrap_or(0)));
    }
    tx.execute(
        sqlx::AssertSqlSafe(format!(
            "INSERT INTO invoices (id, tenant_id, billing_account_id, billing_profile_id, period, number_year, number_seq, issued_at, \
             currency, bill_to, sold_to_company) \
             SELECT v.column1, p.tenant_id, p.billing_account_id, p.id, $1, $2, v.column3, $3, p.currency, a.sold_to, a.company_name \
             FROM (VALUES {}) AS v JOIN billing_profiles p ON p.id = v.column2 JOIN billing_accounts a ON a.id = p.billing_account_id",
            rows.join(", ")
        )),
        params,
    )
    .await?;
    let mut params: Vec<Arg> = args![start, end];
    params.extend(ids.iter().map(Arg::from));
    tx.execute(
        sqlx::AssertSqlSafe(format!(
            "INSERT INTO invoice_lines (purchase_id, invoice_id, invoice_section_id, section_name, description, quantity, \
             unit_price_minor, amount_minor) \
             SELECT c.id, i.id, c.invoice_section_id, s.display_name, c.description, c.quantity, c.unit_price_minor, c.amount_minor \
             FROM invoices i JOIN purchases c ON c.billing_profile_id = i.billing_profile_id AND c.purchased_at >= $1 AND c.purchased_at < $2 \
             JOIN invoice_sections s ON s.id = c.invoice_section_id WHERE i.id IN ({})",
            placeholders(3, ids.len())
        )),
        params,
    )
    .await?;
    let created = i64::try_from(ids.len()).unwrap_or(0);
    tx.execute("UPDATE invoice_sequences SET last_seq = $2 WHERE year = $1", args![year, last + created]).await?;
    audit_and_notify(tx, ctx, &ids, now).await?;
    Ok(u64::try_from(created).unwrap_or(0))
}

/// One audit record per invoice (rule U1), and the invoice-ready notice to the profile's owners and
/// invoice managers (rule T3), in the invoices' own transaction.
async fn audit_and_notify(tx: &mut Tx, ctx: &Ctx, ids: &[InvoiceId], now: Ts) -> Result<()> {
    let list = placeholders(1, ids.len());
    let id_args = || ids.iter().map(Arg::from).collect::<Vec<_>>();
    let mut params: Vec<Arg> = id_args();
    let (kind, actor_id, request_id) = (ctx.actor.kind(), ctx.actor.id(), ctx.request_id.clone());
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let n = params.len();
        rows.push(format!("(${}, ${})", n + 1, n + 2));
        params.push(Arg::from(pb_domain::AuditRecordId::new()));
        params.push(Arg::from(id));
    }
    let n = params.len();
    params.extend(args![kind, actor_id, request_id, now]);
    tx.execute(
        sqlx::AssertSqlSafe(format!(
            "INSERT INTO audit_records (id, tenant_id, actor_kind, actor_id, action, target_kind, target_id, before_state, after_state, \
             request_id, at) SELECT v.column1, i.tenant_id, ${}, ${}, 'invoice.issue', 'invoice', i.id, NULL, \
             '{{\"period\":\"' || i.period || '\",\"billing_profile_id\":\"' || i.billing_profile_id || '\",\"number_seq\":' || \
             CAST(i.number_seq AS TEXT) || ',\"currency\":\"' || i.currency || '\"}}', ${}, ${} \
             FROM (VALUES {}) AS v JOIN invoices i ON i.id = v.column2 WHERE i.id IN ({list})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            rows.join(", ")
        )),
        params,
    )
    .await?;
    let recipients: Vec<Recipient> = tx
        .fetch_all(
            sqlx::AssertSqlSafe(format!(
                "SELECT DISTINCT i.id AS invoice_id, i.tenant_id, u.id AS user_id, u.email, i.number_year, \
                 i.number_seq, p.display_name AS profile_name FROM invoices i \
                 JOIN billing_profiles p ON p.id = i.billing_profile_id \
                 JOIN role_assignments r ON r.role IN ('owner', 'invoice_manager') AND ( \
                   (r.scope_kind = 'billing_profile' AND r.scope_id = i.billing_profile_id) OR \
                   (r.scope_kind = 'billing_account' AND r.scope_id = i.billing_account_id)) \
                 JOIN users u ON u.id = r.user_id WHERE i.id IN ({list}) ORDER BY i.id, u.id"
            )),
            id_args(),
        )
        .await?;
    for chunk in recipients.chunks(200) {
        let mut notes: Vec<Arg> = Vec::new();
        let mut note_rows = Vec::new();
        let mut mails: Vec<Arg> = Vec::new();
        let mut mail_rows = Vec::new();
        for r in chunk {
            let number = invoice_number(i32::try_from(r.number_year).unwrap_or(0), r.number_seq);
            let title = format!("Invoice {number} is ready");
            let body = format!("The invoice of billing profile {} for last month is ready to view and download.", r.profile_name);
            let url = format!("/billing/invoices/{}", r.invoice_id);
            let mail_url = url.clone();
            let n = notes.len();
            note_rows.push(format!(
                "(${}, ${}, ${}, 'invoice_ready', ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            ));
            notes.extend(args![
                format!("nt_{}", uuid::Uuid::now_v7().simple()),
                r.tenant_id.as_str(),
                r.user_id.as_str(),
                title.as_str(),
                body.as_str(),
                url,
                now
            ]);
            if r.email.contains('@') {
                let n = mails.len();
                mail_rows.push(format!("(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 7));
                mails.extend(args![
                    format!("em_{}", uuid::Uuid::now_v7().simple()),
                    r.tenant_id.as_str(),
                    r.email.as_str(),
                    title,
                    body,
                    mail_url,
                    now
                ]);
            }
        }
        tx.execute(
            sqlx::AssertSqlSafe(format!(
                "INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, action_url, created_at) VALUES {}",
                note_rows.join(", ")
            )),
            notes,
        )
        .await?;
        if !mail_rows.is_empty() {
            tx.queued_email();
            tx.execute(
                sqlx::AssertSqlSafe(format!(
                    "INSERT INTO email_outbox (id, tenant_id, to_address, subject, body, action_url, created_at, next_attempt_at) VALUES {}",
                    mail_rows.join(", ")
                )),
                mails,
            )
            .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Runs the monthly invoices of `period` (rule B4). The period must have ended. Safe to run any
    /// number of times, concurrently, from several nodes, and to restart after a crash.
    pub async fn run_invoices(&self, ctx: &Ctx, period: Period, progress: &mut dyn RunProgress) -> Result<InvoiceRunSummary> {
        let started = self.now();
        if !period.has_ended(started.0) {
            return Err(StoreError::unprocessable(
                "period_not_ended",
                format!("{period} has not ended yet; it can be invoiced from {}", period.end()),
            ));
        }
        let id = InvoiceRunId::new();
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "INSERT INTO invoice_runs (id, period, started_by, started_at) VALUES ($1, $2, $3, $4)",
            args![id, period.to_string(), format!("{}:{}", ctx.actor.kind(), ctx.actor.id()), started],
        )
        .await?;
        tx.commit().await?;
        let (start, end) = bounds(period);
        let mut tx = self.db.begin().await?;
        // One probe per profile, not a pass over the period's charges.
        let profiles: i64 = tx
            .scalar(
                "SELECT COUNT(*) FROM billing_profiles p WHERE EXISTS (SELECT 1 FROM purchases c \
                 WHERE c.billing_profile_id = p.id AND c.purchased_at >= $1 AND c.purchased_at < $2)",
                args![start, end],
            )
            .await?;
        tx.commit().await?;
        progress.started(u64::try_from(profiles).unwrap_or(0));
        let mut created = 0u64;
        let mut after = String::new();
        loop {
            let mut tx = self.db.begin().await?;
            let batch = next_profiles(&mut tx, period, &after).await?;
            tx.commit().await?;
            let Some(last) = batch.last() else { break };
            after = last.clone();
            let mut tx = self.db.begin_write().await?;
            let made = issue_batch(&mut tx, ctx, period, &batch, self.now()).await?;
            tx.commit().await?;
            created += made;
            progress.advanced(u64::try_from(batch.len()).unwrap_or(0), made);
        }
        let finished = self.now();
        let mut tx = self.db.begin_write().await?;
        let charges: i64 = tx
            .scalar(
                "SELECT COUNT(*) FROM purchases WHERE purchased_at >= $1 AND purchased_at < $2 AND billing_profile_id IS NOT NULL",
                args![start, end],
            )
            .await?;
        let created = i64::try_from(created).unwrap_or(i64::MAX);
        let summary = InvoiceRunSummary {
            id,
            period,
            profiles,
            invoices_created: created,
            invoices_already_issued: profiles - created,
            charges,
            started_at: started.0,
            finished_at: finished.0,
        };
        tx.execute(
            "UPDATE invoice_runs SET finished_at = $2, profiles = $3, invoices_created = $4, invoices_already_issued = $5, charges = $6 \
             WHERE id = $1",
            args![id, finished, profiles, created, summary.invoices_already_issued, charges],
        )
        .await?;
        self.commit(tx, ctx, &summary).await?;
        Ok(summary)
    }

    /// Whether a run of `period` has finished (the scheduler runs each month once it is over).
    pub async fn invoice_run_finished(&self, period: Period) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done: Option<String> = tx
            .scalar_optional("SELECT id FROM invoice_runs WHERE period = $1 AND finished_at IS NOT NULL LIMIT 1", args![period.to_string()])
            .await?;
        tx.commit().await?;
        Ok(done.is_some())
    }

    /// The runs so far, newest first (operators).
    pub async fn list_invoice_runs(&self, limit: Option<u32>) -> Result<Vec<InvoiceRunSummary>> {
        #[derive(sqlx::FromRow)]
        struct RunRow {
            id: String,
            period: String,
            started_at: Ts,
            finished_at: Option<Ts>,
            profiles: Option<i64>,
            invoices_created: Option<i64>,
            invoices_already_issued: Option<i64>,
            charges: Option<i64>,
        }
        let mut tx = self.db.begin().await?;
        let rows: Vec<RunRow> = tx
            .fetch_all(
                "SELECT id, period, started_at, finished_at, profiles, invoices_created, invoices_already_issued, charges \
                 FROM invoice_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT $1",
                args![crate::page_limit(limit)],
            )
            .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|r| {
                Ok(InvoiceRunSummary {
                    id: InvoiceRunId::parse(&r.id).map_err(|e| crate::error::corrupt("run id", e))?,
                    period: Period::parse(&r.period).map_err(|e| crate::error::corrupt("run period", e))?,
                    profiles: r.profiles.unwrap_or(0),
                    invoices_created: r.invoices_created.unwrap_or(0),
                    invoices_already_issued: r.invoices_already_issued.unwrap_or(0),
                    charges: r.charges.unwrap_or(0),
                    started_at: r.started_at.0,
                    finished_at: r.finished_at.map(|t| t.0).unwrap_or(r.started_at.0),
                })
            })
            .collect()
    }
}
