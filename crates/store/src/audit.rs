//! The audit trail (rule U1): append-only. This module has an INSERT and SELECTs and nothing else,
//! and the database refuses UPDATE and DELETE on the table by trigger.

use pb_domain::{AuditRecordId, TenantId};

use crate::db::{Tx, on};
use crate::error::corrupt;
use crate::{Ctx, Page, Result, Store, StoreError, Ts};

/// What a use case hands to [`write_audit`].
pub(crate) struct NewAudit {
    pub tenant_id: Option<TenantId>,
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Writes one audit record inside the caller's transaction, so it commits or rolls back with the
/// change it describes.
pub(crate) async fn write_audit(tx: &mut Tx, ctx: &Ctx, at: Ts, a: NewAudit) -> Result<()> {
    let before = a.before.map(|v| v.to_string());
    let after = a.after.map(|v| v.to_string());
    on!(tx, |c| {
        sqlx::query(
            "INSERT INTO audit_records (id, tenant_id, actor_kind, actor_id, action, target_kind, target_id, \
             before_state, after_state, request_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(AuditRecordId::new().to_string())
        .bind(a.tenant_id.map(|t| t.to_string()))
        .bind(ctx.actor.kind())
        .bind(ctx.actor.id())
        .bind(a.action)
        .bind(a.target_kind)
        .bind(&a.target_id)
        .bind(before)
        .bind(after)
        .bind(ctx.request_id.as_deref())
        .bind(at)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: AuditRecordId,
    pub tenant_id: Option<TenantId>,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    tenant_id: Option<String>,
    actor_kind: String,
    actor_id: String,
    action: String,
    target_kind: String,
    target_id: String,
    before_state: Option<String>,
    after_state: Option<String>,
    request_id: Option<String>,
    at: Ts,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self> {
        let json = |s: Option<String>| -> Result<Option<serde_json::Value>> {
            s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt("audit state", e))).transpose()
        };
        Ok(AuditRecord {
            id: AuditRecordId::parse(&r.id).map_err(|e| corrupt("audit id", e))?,
            tenant_id: r.tenant_id.map(|t| TenantId::parse(&t).map_err(|e| corrupt("tenant id", e))).transpose()?,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            before: json(r.before_state)?,
            after: json(r.after_state)?,
            request_id: r.request_id,
            at: r.at.0,
        })
    }
}

/// Filters for reading a tenant's audit trail, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl Store {
    /// A tenant's audit records, newest first; `cursor` is the last id of the previous page.
    pub async fn list_audit(&self, tenant_id: TenantId, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        let limit = crate::page_limit(q.limit);
        let cursor = q.cursor.clone().unwrap_or_else(|| "au_~".to_owned());
        let mut tx = self.db.begin().await?;
        let rows: Vec<AuditRow> = on!(&mut tx, |c| {
            sqlx::query_as(
                "SELECT id, tenant_id, actor_kind, actor_id, action, target_kind, target_id, before_state, after_state, \
                 request_id, at FROM audit_records WHERE tenant_id = $1 AND id < $2 AND ($3 IS NULL OR action = $3) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(tenant_id.to_string())
            .bind(&cursor)
            .bind(q.action.as_deref())
            .bind(limit + 1)
            .fetch_all(c)
            .await?
        });
        tx.commit().await?;
        let mut items: Vec<AuditRecord> = rows.into_iter().map(AuditRecord::try_from).collect::<Result<_>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
