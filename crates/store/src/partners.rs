//! The partner account of a tenant: state and legal profile (rules P2, N3).

use pb_domain::{DisplayName, LegalProfile, LegalProfileChange, PartnerAccountId, PartnerAccountState, TenantId};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, on};
use crate::error::corrupt;
use crate::link::current_link_in_tx;
use crate::notify::{Announcement, Audience, announce};
use crate::{Ctx, Result, Store, StoreError, Ts};

/// A submitted legal profile change awaiting an operator's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLegalProfile {
    pub change: LegalProfileChange,
    pub submitted_by: String,
    pub submitted_at: time::OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerAccount {
    pub id: PartnerAccountId,
    pub tenant_id: TenantId,
    pub partner_id: String,
    pub name: String,
    pub state: PartnerAccountState,
    /// The verified profile: the only one used anywhere else (rule N3).
    pub legal_profile: LegalProfile,
    pub pending_legal_profile: Option<PendingLegalProfile>,
    /// Bumped by every link change; the `ETag` of the partner account (rule C6).
    pub link_version: i64,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(crate) struct PartnerRow {
    id: String,
    tenant_id: String,
    partner_id: String,
    name: String,
    state: String,
    legal_profile: String,
    pending_legal_profile: Option<String>,
    pending_submitted_by: Option<String>,
    pending_submitted_at: Option<Ts>,
    link_version: i64,
    created_at: Ts,
    updated_at: Ts,
}

pub(crate) const PARTNER_COLUMNS: &str = "id, tenant_id, partner_id, name, state, legal_profile, pending_legal_profile, \
     pending_submitted_by, pending_submitted_at, link_version, created_at, updated_at";

impl TryFrom<PartnerRow> for PartnerAccount {
    type Error = StoreError;
    fn try_from(r: PartnerRow) -> Result<Self> {
        let pending = match (r.pending_legal_profile, r.pending_submitted_by, r.pending_submitted_at) {
            (Some(p), Some(by), Some(at)) => Some(PendingLegalProfile {
                change: serde_json::from_str(&p).map_err(|e| corrupt("pending legal profile", e))?,
                submitted_by: by,
                submitted_at: at.0,
            }),
            _ => None,
        };
        Ok(PartnerAccount {
            id: PartnerAccountId::parse(&r.id).map_err(|e| corrupt("partner account id", e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt("tenant id", e))?,
            partner_id: r.partner_id,
            name: r.name,
            state: PartnerAccountState::parse(&r.state).ok_or_else(|| corrupt("partner state", &r.state))?,
            legal_profile: serde_json::from_str(&r.legal_profile).map_err(|e| corrupt("legal profile", e))?,
            pending_legal_profile: pending,
            link_version: r.link_version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

/// What an operator puts when creating or replacing a tenant's partner account.
#[derive(Debug, Clone)]
pub struct PutPartnerAccount {
    pub partner_id: String,
    pub name: DisplayName,
    pub state: PartnerAccountState,
    pub legal_profile: LegalProfile,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt("serialize", e))
}

fn snapshot(p: &PartnerAccount) -> serde_json::Value {
    json!({
        "partner_id": p.partner_id, "name": p.name, "state": p.state,
        "legal_profile": p.legal_profile,
        "pending_legal_profile": p.pending_legal_profile.as_ref().map(|x| &x.change),
    })
}

/// Reads the partner account inside a transaction (locking it on PostgreSQL when `for_update`).
pub(crate) async fn partner_in_tx(tx: &mut Tx, tenant_id: TenantId, for_update: bool) -> Result<Option<PartnerAccount>> {
    let lock = match (tx_is_pg(tx), for_update) {
        (true, true) => " FOR UPDATE",
        _ => "",
    };
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partner_accounts WHERE tenant_id = $1{lock}");
    let row: Option<PartnerRow> =
        on!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id.to_string()).fetch_optional(c).await?);
    row.map(PartnerAccount::try_from).transpose()
}

/// Rule N1/T1: when a partner account becomes active with nothing linked, its global admins are
/// prompted, in the product and by email, to link a billing account and profile.
async fn prompt_to_link(tx: &mut Tx, before: Option<PartnerAccountState>, after: &PartnerAccount, now: Ts) -> Result<()> {
    let became_active = after.state.may_link() && before != Some(PartnerAccountState::Active);
    if !became_active || current_link_in_tx(tx, after.id).await?.is_some() {
        return Ok(());
    }
    let a = Announcement {
        kind: "link_prompt",
        title: "Link a billing account and profile".to_owned(),
        body: "Partner program purchases moved to the new commerce platform. To make membership purchases, link a billing \
               account and billing profile to your partner account: select Link billing profile, then Start."
            .to_owned(),
        action_url: Some("/account/billing-profile".to_owned()),
    };
    announce(tx, after.tenant_id, now, Audience::GlobalAdmins, &a).await?;
    Ok(())
}

fn tx_is_pg(tx: &Tx) -> bool {
    matches!(tx, Tx::Postgres(_))
}

impl Store {
    pub async fn get_partner_account(&self, tenant_id: TenantId) -> Result<PartnerAccount> {
        let mut tx = self.db.begin().await?;
        let p = partner_in_tx(&mut tx, tenant_id, false).await?;
        tx.commit().await?;
        p.ok_or(StoreError::NotFound("partner account"))
    }

    /// Creates or replaces the tenant's partner account (operator). Returns whether it was created.
    /// Replacing keeps the link, its version and any pending legal profile change.
    pub async fn put_partner_account(&self, ctx: &Ctx, tenant_id: TenantId, put: &PutPartnerAccount) -> Result<(PartnerAccount, bool)> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let tenant: Option<String> = on!(&mut tx, |c| {
            sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1").bind(tenant_id.to_string()).fetch_optional(c).await?
        });
        if tenant.is_none() {
            return Err(StoreError::NotFound("tenant"));
        }
        let before = partner_in_tx(&mut tx, tenant_id, true).await?;
        let profile = to_json(&put.legal_profile)?;
        let created = before.is_none();
        match &before {
            None => {
                on!(&mut tx, |c| {
                    sqlx::query(
                        "INSERT INTO partner_accounts (id, tenant_id, partner_id, name, state, legal_profile, link_version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                    )
                    .bind(PartnerAccountId::new().to_string())
                    .bind(tenant_id.to_string())
                    .bind(&put.partner_id)
                    .bind(put.name.as_str())
                    .bind(put.state.as_str())
                    .bind(&profile)
                    .bind(now)
                    .execute(c)
                    .await?.rows_affected()
                });
            }
            Some(_) => {
                on!(&mut tx, |c| {
                    sqlx::query(
                        "UPDATE partner_accounts SET partner_id = $2, name = $3, state = $4, legal_profile = $5, updated_at = $6 \
                         WHERE tenant_id = $1",
                    )
                    .bind(tenant_id.to_string())
                    .bind(&put.partner_id)
                    .bind(put.name.as_str())
                    .bind(put.state.as_str())
                    .bind(&profile)
                    .bind(now)
                    .execute(c)
                    .await?
                    .rows_affected()
                });
            }
        }
        let after = partner_in_tx(&mut tx, tenant_id, false).await?.ok_or(StoreError::NotFound("partner account"))?;
        prompt_to_link(&mut tx, before.as_ref().map(|b| b.state), &after, now).await?;
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant_id),
                action: if created { "partner_account.create" } else { "partner_account.replace" },
                target_kind: "partner_account",
                target_id: after.id.to_string(),
                before: before.as_ref().map(snapshot),
                after: Some(snapshot(&after)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((after, created))
    }

    /// Moves the partner account to another state (operator).
    pub async fn set_partner_state(&self, ctx: &Ctx, tenant_id: TenantId, state: PartnerAccountState) -> Result<PartnerAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = partner_in_tx(&mut tx, tenant_id, true).await?.ok_or(StoreError::NotFound("partner account"))?;
        on!(&mut tx, |c| {
            sqlx::query("UPDATE partner_accounts SET state = $2, updated_at = $3 WHERE tenant_id = $1")
                .bind(tenant_id.to_string())
                .bind(state.as_str())
                .bind(now)
                .execute(c)
                .await?
                .rows_affected()
        });
        let after = PartnerAccount { state, updated_at: now.0, ..before.clone() };
        prompt_to_link(&mut tx, Some(before.state), &after, now).await?;
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant_id),
                action: "partner_account.state_change",
                target_kind: "partner_account",
                target_id: before.id.to_string(),
                before: Some(json!({"state": before.state})),
                after: Some(json!({"state": state})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Records a legal profile change as pending (rule N3): nothing uses it until it is verified.
    /// A newer submission replaces an older pending one.
    pub async fn submit_legal_profile_change(&self, ctx: &Ctx, tenant_id: TenantId, change: &LegalProfileChange) -> Result<PartnerAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = partner_in_tx(&mut tx, tenant_id, true).await?.ok_or(StoreError::NotFound("partner account"))?;
        let pending = to_json(change)?;
        on!(&mut tx, |c| {
            sqlx::query(
                "UPDATE partner_accounts SET pending_legal_profile = $2, pending_submitted_by = $3, pending_submitted_at = $4, \
                 updated_at = $4 WHERE tenant_id = $1",
            )
            .bind(tenant_id.to_string())
            .bind(&pending)
            .bind(ctx.actor.id())
            .bind(now)
            .execute(c)
            .await?
            .rows_affected()
        });
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant_id),
                action: "legal_profile.submit_change",
                target_kind: "partner_account",
                target_id: before.id.to_string(),
                before: before.pending_legal_profile.as_ref().map(|p| json!({"pending_legal_profile": p.change})),
                after: Some(json!({"pending_legal_profile": change})),
            },
        )
        .await?;
        let after = PartnerAccount {
            pending_legal_profile: Some(PendingLegalProfile { change: change.clone(), submitted_by: ctx.actor.id(), submitted_at: now.0 }),
            updated_at: now.0,
            ..before
        };
        tx.commit().await?;
        Ok(after)
    }

    /// Applies the pending change to the verified legal profile (operator). Without a pending change
    /// this is 409 `no_pending_change`.
    pub async fn verify_legal_profile(&self, ctx: &Ctx, tenant_id: TenantId) -> Result<PartnerAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = partner_in_tx(&mut tx, tenant_id, true).await?.ok_or(StoreError::NotFound("partner account"))?;
        let Some(pending) = &before.pending_legal_profile else {
            return Err(StoreError::conflict("no_pending_change", "the legal profile has no pending change to verify"));
        };
        let verified = before.legal_profile.apply(&pending.change);
        on!(&mut tx, |c| {
            sqlx::query(
                "UPDATE partner_accounts SET legal_profile = $2, pending_legal_profile = NULL, pending_submitted_by = NULL, \
                 pending_submitted_at = NULL, updated_at = $3 WHERE tenant_id = $1",
            )
            .bind(tenant_id.to_string())
            .bind(to_json(&verified)?)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected()
        });
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant_id),
                action: "legal_profile.verify",
                target_kind: "partner_account",
                target_id: before.id.to_string(),
                before: Some(json!({"legal_profile": before.legal_profile})),
                after: Some(json!({"legal_profile": verified})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(PartnerAccount { legal_profile: verified, pending_legal_profile: None, updated_at: now.0, ..before })
    }
}
