//! In-product notifications and the email outbox, written inside the transaction of the change they
//! announce (rules N8, T2, T4): committed together or not at all.

use pb_domain::TenantId;

use crate::db::{Tx, args};
use crate::{Page, Result, Store, StoreError, Ts, UserCtx};

pub(crate) struct Announcement {
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub action_url: Option<String>,
}

/// Who hears of an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Rule T1: the link prompt goes to global admins.
    GlobalAdmins,
    /// Rule T2: a link made or changed goes to global admins and MCPP admins.
    GlobalAndMcppAdmins,
}

/// Notifies the tenant's users of `audience`: one in-product notification each, and one queued
/// email for each who has an email address. Recipients come from the stored roles (rule A1's one
/// source), so a global admin known only from a token's `wids` hears of it too.
pub(crate) async fn announce(tx: &mut Tx, tenant: TenantId, now: Ts, audience: Audience, a: &Announcement) -> Result<usize> {
    let with_mcpp = audience == Audience::GlobalAndMcppAdmins;
    let recipients: Vec<(String, String)> = tx
        .fetch_all(
            "SELECT u.id, u.email FROM users u WHERE u.tenant_id = $1 AND (\
               EXISTS (SELECT 1 FROM user_directory_roles d WHERE d.user_id = u.id AND d.role = 'global_admin') \
               OR ($2 AND EXISTS (SELECT 1 FROM user_partner_roles p WHERE p.user_id = u.id AND p.role = 'mcpp_admin'))) \
             ORDER BY u.id",
            args![tenant, with_mcpp],
        )
        .await?;
    for (user, email) in &recipients {
        tx.execute(
            "INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, action_url, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                format!("nt_{}", uuid::Uuid::now_v7().simple()),
                tenant,
                user.as_str(),
                a.kind,
                a.title.as_str(),
                a.body.as_str(),
                a.action_url.as_deref(),
                now
            ],
        )
        .await?;
        if email.contains('@') {
            tx.queued_email();
            tx.execute(
                "INSERT INTO email_outbox (id, tenant_id, to_address, subject, body, action_url, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                args![
                    format!("em_{}", uuid::Uuid::now_v7().simple()),
                    tenant,
                    email.as_str(),
                    a.title.as_str(),
                    a.body.as_str(),
                    a.action_url.as_deref(),
                    now
                ],
            )
            .await?;
        }
    }
    Ok(recipients.len())
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct NotificationRow {
    id: String,
    kind: String,
    title: String,
    body: String,
    action_url: Option<String>,
    created_at: Ts,
    read_at: Option<Ts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub action_url: Option<String>,
    pub created_at: time::OffsetDateTime,
    pub read_at: Option<time::OffsetDateTime>,
}

/// A queued email, as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEmail {
    pub id: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
}

impl Store {
    /// The caller's notifications, newest first.
    pub async fn list_notifications(&self, cx: &UserCtx, cursor: Option<&str>, limit: Option<u32>) -> Result<Page<Notification>> {
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let rows: Vec<NotificationRow> = tx
            .fetch_all(
                "SELECT id, kind, title, body, action_url, created_at, read_at FROM notifications \
                 WHERE tenant_id = $1 AND user_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
                args![cx.tenant(), cx.user_id(), cursor.unwrap_or("nt_~"), limit + 1],
            )
            .await?;
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(|r| Notification {
                id: r.id,
                kind: r.kind,
                title: r.title,
                body: r.body,
                action_url: r.action_url,
                created_at: r.created_at.0,
                read_at: r.read_at.map(|t| t.0),
            })
            .collect();
        Ok(Page::of(items, limit, |n: &Notification| n.id.clone()))
    }

    /// How many of the caller's notifications are unread (the bell).
    pub async fn unread_notifications(&self, cx: &UserCtx) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        let n: i64 = tx
            .scalar(
                "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
                args![cx.tenant(), cx.user_id()],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Marks one of the caller's notifications read (idempotent).
    pub async fn mark_notification_read(&self, cx: &UserCtx, id: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let found: Option<String> = tx
            .scalar_optional(
                "SELECT id FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
                args![cx.tenant(), cx.user_id(), id],
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound("notification"));
        }
        tx.execute("UPDATE notifications SET read_at = $2 WHERE id = $1 AND read_at IS NULL", args![id, now]).await?;
        self.commit(tx, cx.ctx(), &()).await
    }

    /// Marks every one of the caller's notifications read; how many were unread.
    pub async fn mark_all_notifications_read(&self, cx: &UserCtx) -> Result<u64> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .execute(
                "UPDATE notifications SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
                args![cx.tenant(), cx.user_id(), now],
            )
            .await?;
        self.commit(tx, cx.ctx(), &n).await?;
        Ok(n)
    }

    /// Emails of the tenant not yet sent, oldest first.
    pub async fn pending_emails(&self, tenant: TenantId) -> Result<Vec<OutboxEmail>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<OutboxEmail> = tx
            .fetch_all(
                "SELECT id, to_address, subject, body FROM email_outbox WHERE tenant_id = $1 AND state = 'pending' ORDER BY id",
                args![tenant],
            )
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
