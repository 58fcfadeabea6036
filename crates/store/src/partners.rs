//! The partner account of a tenant: state, legal profile, and what purchases need of it now
//! (rules P2, N1, N3, M4).

use pb_domain::billing::{PurchaseBlocker, purchase_blockers};
use pb_domain::{DisplayName, LegalProfile, LegalProfileInput, PartnerAccountId, PartnerAccountState, TenantId};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::{BillingLink, PartnerAccount};
use crate::read::{current_link_in_tx, partner_in_tx};
use crate::reminders::prompt_in_tx;
use crate::{Ctx, Result, Store, StoreError, Ts, UserCtx};

/// The partner account with the link in force and what stops purchases now (rule M4): everything
/// `GET /partner-account`, the billing profile page and the membership page show, read at once.
#[derive(Debug, Clone)]
pub struct PartnerOverview {
    pub partner: PartnerAccount,
    pub link: Option<BillingLink>,
    /// Empty when membership purchases can go through.
    pub blockers: Vec<PurchaseBlocker>,
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

/// Rule N1/T1: when a partner account becomes active with nothing linked, its global admins are
/// prompted, in the product and by email, to link a billing account and profile.
async fn prompt_to_link(tx: &mut Tx, before: Option<PartnerAccountState>, after: &PartnerAccount, now: Ts) -> Result<()> {
    let became_active = after.state.may_link() && before != Some(PartnerAccountState::Active);
    if !became_active || current_link_in_tx(tx, after.id).await?.is_some() {
        return Ok(());
    }
    prompt_in_tx(tx, after.id, after.tenant_id, now).await
}

/// Rules B1, M4, P2: what stops purchases for this partner account and link, read in `tx`.
async fn blockers_in_tx(tx: &mut Tx, partner: &PartnerAccount, link: Option<&BillingLink>) -> Result<Vec<PurchaseBlocker>> {
    let contact = match link {
        Some(l) => Some(
            tx.scalar::<bool>("SELECT primary_contact IS NOT NULL FROM billing_accounts WHERE id = $1", args![l.billing_account_id])
                .await?,
        ),
        None => None,
    };
    Ok(purchase_blockers(partner.state, contact))
}

async fn overview_in_tx(tx: &mut Tx, tenant_id: TenantId) -> Result<PartnerOverview> {
    let partner = partner_in_tx(tx, tenant_id, false).await?.ok_or(StoreError::NotFound("partner account"))?;
    let link = current_link_in_tx(tx, partner.id).await?;
    let blockers = blockers_in_tx(tx, &partner, link.as_ref()).await?;
    Ok(PartnerOverview { partner, link, blockers })
}

impl Store {
    pub async fn get_partner_account(&self, tenant_id: TenantId) -> Result<PartnerAccount> {
        let mut tx = self.db.begin().await?;
        let p = partner_in_tx(&mut tx, tenant_id, false).await?;
        tx.commit().await?;
        p.ok_or(StoreError::NotFound("partner account"))
    }

    /// The partner account, its link in force and its purchase blockers, in one read (rule M4).
    pub async fn partner_overview(&self, tenant_id: TenantId) -> Result<PartnerOverview> {
        let mut tx = self.db.begin().await?;
        let o = overview_in_tx(&mut tx, tenant_id).await?;
        tx.commit().await?;
        Ok(o)
    }

    /// Whether the caller may submit legal profile changes (the pages ask before offering the form).
    pub fn may_edit_legal_profile(&self, cx: &UserCtx) -> bool {
        cx.roles().may_edit_legal_profile()
    }

    /// Creates or replaces the tenant's partner account (operator). Returns whether it was created.
    /// Replacing keeps the link, its version and any pending legal profile change.
    pub async fn put_partner_account(&self, ctx: &Ctx, tenant_id: TenantId, put: &PutPartnerAccount) -> Result<(PartnerOverview, bool)> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let tenant: Option<String> = tx.scalar_optional("SELECT id FROM tenants WHERE id = $1", args![tenant_id]).await?;
        if tenant.is_none() {
            return Err(StoreError::NotFound("tenant"));
        }
        let before = partner_in_tx(&mut tx, tenant_id, true).await?;
        let profile = to_json(&put.legal_profile)?;
        let created = before.is_none();
        match &before {
            None => {
                tx.execute(
                    "INSERT INTO partner_accounts (id, tenant_id, partner_id, name, state, legal_profile, link_version, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
                    args![
                        PartnerAccountId::new(),
                        tenant_id,
                        put.partner_id.as_str(),
                        put.name.as_str(),
                        put.state.as_str(),
                        profile.as_str(),
                        now
                    ],
                )
                .await?;
            }
            Some(_) => {
                tx.execute(
                    "UPDATE partner_accounts SET partner_id = $2, name = $3, state = $4, legal_profile = $5, updated_at = $6 \
                     WHERE tenant_id = $1",
                    args![tenant_id, put.partner_id.as_str(), put.name.as_str(), put.state.as_str(), profile.as_str(), now],
                )
                .await?;
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
        let o = overview_in_tx(&mut tx, tenant_id).await?;
        self.commit(tx, ctx, &o).await?;
        Ok((o, created))
    }

    /// Moves the partner account to another state (operator).
    pub async fn set_partner_state(&self, ctx: &Ctx, tenant_id: TenantId, state: PartnerAccountState) -> Result<PartnerOverview> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = partner_in_tx(&mut tx, tenant_id, true).await?.ok_or(StoreError::NotFound("partner account"))?;
        tx.execute("UPDATE partner_accounts SET state = $2, updated_at = $3 WHERE tenant_id = $1", args![tenant_id, state.as_str(), now])
            .await?;
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
        let o = overview_in_tx(&mut tx, tenant_id).await?;
        self.commit(tx, ctx, &o).await?;
        Ok(o)
    }

    /// Records a legal profile change as pending (rule N3): nothing uses it until it is verified.
    /// A newer submission replaces an older pending one. Only a global admin or the partner's account
    /// admin may submit one; their input is parsed after that check, so others learn nothing of it.
    pub async fn submit_legal_profile_change(&self, cx: &UserCtx, input: &LegalProfileInput) -> Result<PartnerOverview> {
        if !self.may_edit_legal_profile(cx) {
            return Err(StoreError::Forbidden("changing the legal profile needs the global admin or account admin role".into()));
        }
        let change = &input.parse_change().map_err(StoreError::Fields)?;
        let (ctx, tenant_id) = (cx.ctx(), cx.tenant());
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = partner_in_tx(&mut tx, tenant_id, true).await?.ok_or(StoreError::NotFound("partner account"))?;
        let pending = to_json(change)?;
        tx.execute(
            "UPDATE partner_accounts SET pending_legal_profile = $2, pending_submitted_by = $3, pending_submitted_at = $4, \
             updated_at = $4 WHERE tenant_id = $1",
            args![tenant_id, pending, ctx.actor.id(), now],
        )
        .await?;
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
        let o = overview_in_tx(&mut tx, tenant_id).await?;
        self.commit(tx, ctx, &o).await?;
        Ok(o)
    }

    /// Applies the pending change to the verified legal profile (operator). Without a pending change
    /// this is 409 `no_pending_change`.
    pub async fn verify_legal_profile(&self, ctx: &Ctx, tenant_id: TenantId) -> Result<PartnerOverview> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = partner_in_tx(&mut tx, tenant_id, true).await?.ok_or(StoreError::NotFound("partner account"))?;
        let Some(pending) = &before.pending_legal_profile else {
            return Err(StoreError::conflict("no_pending_change", "the legal profile has no pending change to verify"));
        };
        let verified = before.legal_profile.apply(&pending.change);
        tx.execute(
            "UPDATE partner_accounts SET legal_profile = $2, pending_legal_profile = NULL, pending_submitted_by = NULL, \
             pending_submitted_at = NULL, updated_at = $3 WHERE tenant_id = $1",
            args![tenant_id, to_json(&verified)?, now],
        )
        .await?;
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
        let o = overview_in_tx(&mut tx, tenant_id).await?;
        self.commit(tx, ctx, &o).await?;
        Ok(o)
    }
}
