//! In-product notifications and the email outbox, written inside the transaction of the change they
//! announce (rules N8, T2, T4): committed together or not at all.

use pb_domain::{TenantId, UserId};

use crate::db::{Tx, on};
use crate::error::corrupt;
use crate::{Page, Result, Store, StoreError, Ts};

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

/// Notifies the tenant's users of `audience`: one in-product notification and one queued email each.
pub(crate) async fn announce(tx: &mut Tx, tenant: TenantId, now: Ts, audience: Audience, a: &Announcement) -> Result<usize> {
    let with_mcpp = audience == Audience::GlobalAndMcppAdmins;
    let recipients: Vec<(String, String)> = on!(&mut *tx, |c| {
        sqlx::query_as(
        "SELECT id, email FROM users WHERE tenant_id = $1 AND (directory_roles LIKE '%global_admin%' OR ($2 AND partner_roles LIKE '%mcpp_admin%')) ORDER BY id"
    )
    .bind(tenant.to_string())
    .bind(with_mcpp)
    .fetch_all(c)
    .await?
    });
    for (user, email) in &recipients {
        on!(&mut *tx, |c| {
            sqlx::query(
            "INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, action_url, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(format!("nt_{}", uuid::Uuid::now_v7().simple()))
        .bind(tenant.to_string())
        .bind(user)
        .bind(a.kind)
        .bind(&a.title)
        .bind(&a.body)
        .bind(a.action_url.as_deref())
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()
        });
        if email.contains('@') {
            on!(&mut *tx, |c| {
                sqlx::query(
                "INSERT INTO email_outbox (id, tenant_id, to_address, subject, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
            )
            .bind(format!("em_{}", uuid::Uuid::now_v7().simple()))
            .bind(tenant.to_string())
            .bind(email)
            .bind(&a.title)
            .bind(&a.body)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected()
            });
        }
    }
    Ok(recipients.len())
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

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    kind: String,
    title: String,
    body: String,
    action_url: Option<String>,
    created_at: Ts,
    read_at: Option<Ts>,
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
    /// The user's notifications, newest first.
    pub async fn list_notifications(
        &self,
        tenant: TenantId,
        user: UserId,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Notification>> {
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let rows: Vec<NotificationRow> = on!(&mut tx, |c| sqlx::query_as(
            "SELECT id, kind, title, body, action_url, created_at, read_at FROM notifications \
             WHERE tenant_id = $1 AND user_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4"
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(cursor.unwrap_or("nt_~"))
        .bind(limit + 1)
        .fetch_all(c)
        .await?);
        tx.commit().await?;
        let mut items: Vec<Notification> = rows
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
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|n| n.id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Marks one of the user's notifications read (idempotent).
    pub async fn mark_notification_read(&self, tenant: TenantId, user: UserId, id: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let found: Option<String> =
            on!(&mut tx, |c| sqlx::query_scalar("SELECT id FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
                .bind(tenant.to_string())
                .bind(user.to_string())
                .bind(id)
                .fetch_optional(c)
                .await?);
        if found.is_none() {
            return Err(StoreError::NotFound("notification"));
        }
        on!(&mut tx, |c| sqlx::query("UPDATE notifications SET read_at = $2 WHERE id = $1 AND read_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected());
        tx.commit().await?;
        Ok(())
    }

    /// Emails of the tenant not yet sent, oldest first.
    pub async fn pending_emails(&self, tenant: TenantId) -> Result<Vec<OutboxEmail>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<OutboxEmail> = on!(&mut tx, |c| sqlx::query_as(
            "SELECT id, to_address, subject, body FROM email_outbox WHERE tenant_id = $1 AND sent_at IS NULL ORDER BY id"
        )
        .bind(tenant.to_string())
        .fetch_all(c)
        .await
        .map_err(|e| corrupt("outbox", e))?);
        tx.commit().await?;
        Ok(rows)
    }
}
