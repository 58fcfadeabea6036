//! Delivering the email outbox (rule T4). Emails are queued in the transaction of the change they
//! announce (see `notify`); these use cases hand them to a dispatcher and record what came of it.
//!
//! A dispatcher claims due rows for a lease: the claim is one `UPDATE` whose inner select skips rows
//! another node holds locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a
//! time), and whose condition skips rows under a live lease. So several nodes never send one email
//! at once, and a node that dies mid-send only delays its claims until their lease runs out.

use pb_domain::{AfterFailure, OutboxState, RetryPolicy, TenantId};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::args;
use crate::error::corrupt;
use crate::{Ctx, Page, Result, Store, StoreError, Ts};

/// The longest `last_error` kept: SMTP replies can be long, and the list shows them.
const ERROR_CHARS: usize = 500;

/// An email claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: String,
    pub tenant_id: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    /// The page path to act on (e.g. `/account/billing-profile`), joined to the public URL.
    pub action_url: Option<String>,
    pub created_at: Ts,
    /// Attempts made before this one.
    pub attempts: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct EntryRow {
    id: String,
    tenant_id: String,
    to_address: String,
    subject: String,
    state: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: Ts,
    sent_at: Option<Ts>,
    created_at: Ts,
}

/// An outbox email as operators see it (`GET /outbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: String,
    pub tenant_id: TenantId,
    pub to: String,
    pub subject: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: time::OffsetDateTime,
    pub sent_at: Option<time::OffsetDateTime>,
    pub created_at: time::OffsetDateTime,
}

impl TryFrom<EntryRow> for OutboxEntry {
    type Error = StoreError;

    fn try_from(r: EntryRow) -> Result<Self> {
        Ok(OutboxEntry {
            tenant_id: r.tenant_id.parse().map_err(|e| corrupt("email_outbox.tenant_id", e))?,
            state: OutboxState::parse(&r.state).ok_or_else(|| corrupt("email_outbox.state", &r.state))?,
            id: r.id,
            to: r.to_address,
            subject: r.subject,
            attempts: i64::from(r.attempts),
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at.0,
            sent_at: r.sent_at.map(|t| t.0),
            created_at: r.created_at.0,
        })
    }
}

const ENTRY_COLUMNS: &str = "id, tenant_id, to_address, subject, state, attempts, last_error, next_attempt_at, sent_at, created_at";

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    RetryAt(time::OffsetDateTime),
    Dead,
}

impl Store {
    /// Notified after each commit in this process that queued email (or made a dead one pending):
    /// the dispatcher's cue to look now rather than at its next poll.
    pub fn outbox_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.db.outbox_wake()
    }

    /// Claims up to `limit` due emails for `node` until `lease` from now, oldest first.
    pub async fn claim_outbox(&self, node: &str, lease: time::Duration, limit: i64) -> Result<Vec<OutboxMessage>> {
        let now = self.now();
        let until = Ts::from(now.0 + lease);
        let mut tx = self.db.begin_write().await?;
        let sql = format!(
            "UPDATE email_outbox SET locked_by = $1, locked_until = $2 WHERE id IN (\
               SELECT id FROM email_outbox WHERE state = 'pending' AND next_attempt_at <= $3 \
               AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at, id LIMIT $4{}) \
             RETURNING id, tenant_id, to_address, subject, body, action_url, created_at, attempts",
            tx.skip_locked()
        );
        let mut rows: Vec<OutboxMessage> = tx.fetch_all(sqlx::AssertSqlSafe(sql), args![node, until, now, limit]).await?;
        tx.commit().await?;
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rows)
    }

    /// Records that the SMTP server accepted `id`. False when it was no longer pending (an
    /// operator's view changed under a lease that ran out; the email went out all the same).
    pub async fn mark_outbox_sent(&self, id: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE email_outbox SET state = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL, \
                 locked_by = NULL, locked_until = NULL WHERE id = $1 AND state = 'pending'",
                args![id, now],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Records a failed attempt at `id`: tried again later under `policy`, or `dead`.
    pub async fn mark_outbox_failed(&self, id: &str, error: &str, policy: &RetryPolicy, jitter: f64) -> Result<FailureOutcome> {
        let now = self.now();
        let error: String = error.chars().take(ERROR_CHARS).collect();
        let mut tx = self.db.begin_write().await?;
        let sql = format!("SELECT attempts FROM email_outbox WHERE id = $1 AND state = 'pending'{}", tx.for_update());
        let Some(before) = tx.scalar_optional::<i32>(sqlx::AssertSqlSafe(sql), args![id]).await? else {
            return Err(StoreError::NotFound("email"));
        };
        let attempts = u32::try_from(before.saturating_add(1)).unwrap_or(u32::MAX);
        let (state, next, outcome) = match policy.after_failure(attempts, now.0, jitter) {
            AfterFailure::RetryAt(at) => (OutboxState::Pending, Ts::from(at), FailureOutcome::RetryAt(at)),
            AfterFailure::GiveUp => (OutboxState::Dead, now, FailureOutcome::Dead),
        };
        tx.execute(
            "UPDATE email_outbox SET attempts = attempts + 1, last_error = $2, state = $3, next_attempt_at = $4, \
             locked_by = NULL, locked_until = NULL WHERE id = $1",
            args![id, error, state.as_str(), next],
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Gives back every claim `node` still holds (a clean shutdown), so another node need not wait
    /// for the leases to run out. Returns how many.
    pub async fn release_outbox(&self, node: &str) -> Result<u64> {
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE email_outbox SET locked_by = NULL, locked_until = NULL WHERE locked_by = $1 AND state = 'pending'",
                args![node],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The outbox across tenants, oldest first, optionally in one state (operators).
    pub async fn list_outbox(&self, state: Option<OutboxState>, cursor: Option<&str>, limit: Option<u32>) -> Result<Page<OutboxEntry>> {
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM email_outbox WHERE ($1 IS NULL OR state = $1) AND id > $2 ORDER BY id LIMIT $3");
        let rows: Vec<EntryRow> =
            tx.fetch_all(sqlx::AssertSqlSafe(sql), args![state.map(|s| s.as_str()), cursor.unwrap_or(""), limit + 1]).await?;
        tx.commit().await?;
        let items = rows.into_iter().map(OutboxEntry::try_from).collect::<Result<Vec<_>>>()?;
        Ok(Page::of(items, limit, |e: &OutboxEntry| e.id.clone()))
    }

    /// One outbox email (operators).
    pub async fn get_outbox(&self, id: &str) -> Result<OutboxEntry> {
        let mut tx = self.db.begin().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM email_outbox WHERE id = $1");
        let row: Option<EntryRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![id]).await?;
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("email"))?.try_into()
    }

    /// Moves a dead email back to pending with a fresh set of attempts (operators). Retrying a
    /// pending one changes nothing; a sent one is refused, since sending it again is what rule T4
    /// forbids.
    pub async fn retry_outbox(&self, ctx: &Ctx, id: &str) -> Result<OutboxEntry> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM email_outbox WHERE id = $1{}", tx.for_update());
        let before: OutboxEntry =
            tx.fetch_optional::<EntryRow>(sqlx::AssertSqlSafe(sql), args![id]).await?.ok_or(StoreError::NotFound("email"))?.try_into()?;
        match before.state {
            OutboxState::Pending => {
                tx.commit().await?;
                return Ok(before);
            }
            OutboxState::Sent => {
                return Err(StoreError::conflict(
                    "email_already_sent",
                    "the SMTP server accepted this email already; it is not sent twice",
                ));
            }
            OutboxState::Dead => {}
        }
        tx.queued_email();
        tx.execute(
            "UPDATE email_outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, locked_by = NULL, locked_until = NULL \
             WHERE id = $1",
            args![id, now],
        )
        .await?;
        let audit = NewAudit {
            tenant_id: Some(before.tenant_id),
            action: "email.retry",
            target_kind: "email",
            target_id: id.to_owned(),
            before: Some(json!({"state": "dead", "attempts": before.attempts, "last_error": before.last_error})),
            after: Some(json!({"state": "pending", "attempts": 0})),
        };
        write_audit(&mut tx, ctx, now, audit).await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM email_outbox WHERE id = $1");
        let after: OutboxEntry =
            tx.fetch_optional::<EntryRow>(sqlx::AssertSqlSafe(sql), args![id]).await?.ok_or(StoreError::NotFound("email"))?.try_into()?;
        self.commit(tx, ctx, &after).await?;
        Ok(after)
    }
}
