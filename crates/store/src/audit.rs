//! The audit trail (rule U1): append-only. This module has an INSERT and SELECTs and nothing else,
//! and the database refuses UPDATE and DELETE on the table by trigger.

use pb_domain::{AuditRecordId, TenantId};

use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::{Ctx, Page, Result, Store, StoreError, Ts, UserCtx};

/// Where a permitted act draws its authority from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authority {
    /// A billing role the caller holds on the scope or above (rule A2).
    Role,
    /// A global admin reading an account of their tenant (rule A3).
    GlobalAdminReads,
    /// A global admin acting as owner inside the link flow (rule A3), audited as such.
    GlobalAdminAsOwner,
}

impl Authority {
    /// The audit column's value.
    pub(crate) fn acted_as(self) -> Option<&'static str> {
        (self == Authority::GlobalAdminAsOwner).then_some("global_admin_as_owner")
    }
}

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
    write_audit_as(tx, ctx, at, a, Authority::Role).await
}

/// [`write_audit`] for an act whose authority is recorded too (rule A3: a global admin acting as
/// owner inside the link flow).
pub(crate) async fn write_audit_as(tx: &mut Tx, ctx: &Ctx, at: Ts, a: NewAudit, authority: Authority) -> Result<()> {
    let before = a.before.map(|v| v.to_string());
    let after = a.after.map(|v| v.to_string());
    tx.execute(
        "INSERT INTO audit_records (id, tenant_id, actor_kind, actor_id, action, target_kind, target_id, \
         before_state, after_state, request_id, at, acted_as) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        args![
            AuditRecordId::new(),
            a.tenant_id.map(|t| t.to_string()),
            ctx.actor.kind(),
            ctx.actor.id(),
            a.action,
            a.target_kind,
            a.target_id,
            before,
            after,
            ctx.request_id.as_deref(),
            at,
            authority.acted_as()
        ],
    )
    .await?;
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
    /// `global_admin_as_owner` when a global admin acted as owner without holding the role (A3).
    pub acted_as: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
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
    acted_as: Option<String>,
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
            acted_as: r.acted_as,
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
    /// The audit records of the caller's tenant, newest first; `cursor` is the last id of the previous
    /// page. Only a global admin reads the tenant's audit trail.
    pub async fn list_audit(&self, cx: &UserCtx, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        if !cx.is_global_admin() {
            return Err(StoreError::Forbidden("reading the audit log needs the global admin role".into()));
        }
        let limit = crate::page_limit(q.limit);
        let cursor = q.cursor.clone().unwrap_or_else(|| "au_~".to_owned());
        let mut tx = self.db.begin().await?;
        let rows: Vec<AuditRow> = tx
            .fetch_all(
                "SELECT id, tenant_id, actor_kind, actor_id, action, target_kind, target_id, before_state, after_state, \
                 request_id, at, acted_as FROM audit_records WHERE tenant_id = $1 AND id < $2 AND ($3 IS NULL OR action = $3) \
                 ORDER BY id DESC LIMIT $4",
                args![cx.tenant(), cursor, q.action.as_deref(), limit + 1],
            )
            .await?;
        tx.commit().await?;
        let items: Vec<AuditRecord> = rows.into_iter().map(AuditRecord::try_from).collect::<Result<_>>()?;
        Ok(Page::of(items, limit, |r| r.id.to_string()))
    }
}
