//! Billing profiles: created under an account with a name only and their default invoice section
//! (rules N5, N6, H2, A4), never beside a profile that still has no payment instrument (rule C3).

use pb_domain::billing::{BillingAction, currency_for_country};
use pb_domain::{BillingAccountId, BillingProfileId, BillingRole, BillingScopeKind, DisplayName, InvoiceSectionId};
use serde_json::json;

use crate::access::{Flow, Grant, Grants, grant_role, require_on_account};
use crate::audit::{NewAudit, write_audit_as};
use crate::billing::sections::insert_section;
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::{BillingAccount, BillingProfile, InvoiceSection};
use crate::read::{account_in_tx, profile_in_tx, profiles_of};
use crate::{Result, Store, StoreError, Ts, UserCtx};

/// Rule C3: the account's profile that has no payment instrument, if any (the oldest).
async fn unfunded_profile_in_tx(tx: &mut Tx, account: BillingAccountId) -> Result<Option<BillingProfileId>> {
    let unfunded: Option<String> = tx
        .scalar_optional(
            "SELECT p.id FROM billing_profiles p WHERE p.billing_account_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM payment_instruments i WHERE i.billing_profile_id = p.id) ORDER BY p.id LIMIT 1",
            args![account],
        )
        .await?;
    unfunded.map(|p| BillingProfileId::parse(&p).map_err(|e| corrupt("billing profile id", e))).transpose()
}

/// Inserts a profile under `account` (row-locked by the caller) with its default invoice section
/// (rule H2), after rule C3; the creator becomes its owner (rule A4).
pub(crate) async fn insert_profile(
    tx: &mut Tx,
    cx: &UserCtx,
    account: &BillingAccount,
    name: &DisplayName,
    now: Ts,
    flow: Flow,
) -> Result<BillingProfile> {
    let authority = require_on_account(tx, cx, account.id, BillingAction::Manage, flow).await?;
    if let Some(reuse) = unfunded_profile_in_tx(tx, account.id).await? {
        return Err(StoreError::UnfundedProfileExists { reuse });
    }
    let id = BillingProfileId::new();
    let currency = currency_for_country(account.sold_to.country);
    tx.execute(
        "INSERT INTO billing_profiles (id, tenant_id, billing_account_id, display_name, currency, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        args![id, account.tenant_id, account.id, name.as_str(), currency.as_str(), cx.user_id(), now],
    )
    .await?;
    let section = InvoiceSection {
        id: InvoiceSectionId::new(),
        billing_profile_id: id,
        display_name: name.to_string(),
        is_default: true,
        created_at: now.0,
    };
    insert_section(tx, account.tenant_id, &section, now).await?;
    let audit = NewAudit {
        tenant_id: Some(account.tenant_id),
        action: "billing_profile.create",
        target_kind: "billing_profile",
        target_id: id.to_string(),
        before: None,
        after: Some(json!({
            "billing_account_id": account.id.to_string(), "display_name": name, "currency": currency,
            "default_invoice_section_id": section.id.to_string(),
        })),
    };
    write_audit_as(tx, cx.ctx(), now, audit, authority).await?;
    let scope_id = id.to_string();
    let owner = Grant { user: cx.user_id(), role: BillingRole::Owner, scope: BillingScopeKind::BillingProfile, scope_id: &scope_id };
    grant_role(tx, cx, account.tenant_id, &owner, now).await?;
    Ok(BillingProfile {
        id,
        tenant_id: account.tenant_id,
        billing_account_id: account.id,
        display_name: name.to_string(),
        currency,
        created_by: cx.user_id().to_string(),
        created_at: now.0,
        invoice_sections: vec![section],
        payment_instruments: Vec::new(),
    })
}

impl Store {
    /// Creates a profile under an account (rules N5, N6, C3, H2, A4). `flow` says whether this is the
    /// link flow's "Create billing profile" step, where a global admin acts as owner (rule A3).
    pub async fn create_billing_profile(
        &self,
        cx: &UserCtx,
        account: BillingAccountId,
        name: &DisplayName,
        flow: Flow,
    ) -> Result<BillingProfile> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let account = account_in_tx(&mut tx, cx.tenant(), account, true).await?;
        let p = insert_profile(&mut tx, cx, &account, name, now, flow).await?;
        self.commit(tx, cx.ctx(), &p).await?;
        Ok(p)
    }

    /// Rule C3 asked ahead: the profile a new one would have to reuse, if any (the pages hide
    /// "Create new billing profile" then).
    pub async fn profile_to_reuse(&self, cx: &UserCtx, account: BillingAccountId) -> Result<Option<BillingProfileId>> {
        let mut tx = self.db.begin().await?;
        account_in_tx(&mut tx, cx.tenant(), account, false).await?;
        require_on_account(&mut tx, cx, account, BillingAction::Read, Flow::Direct).await?;
        let r = unfunded_profile_in_tx(&mut tx, account).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The account's profiles the caller may see (rule A2: a reader of one profile sees only it).
    pub async fn list_billing_profiles(&self, cx: &UserCtx, account: BillingAccountId) -> Result<Vec<BillingProfile>> {
        let mut tx = self.db.begin().await?;
        account_in_tx(&mut tx, cx.tenant(), account, false).await?;
        let grants = Grants::load(&mut tx, cx).await?;
        let ps: Vec<BillingProfile> = profiles_of(&mut tx, &[account]).await?.into_iter().filter_map(|p| grants.trim_profile(p)).collect();
        if ps.is_empty() {
            // Nothing of theirs in it: readable only with a role on the account itself (or as a global admin).
            require_on_account(&mut tx, cx, account, BillingAction::Read, Flow::Direct).await?;
        }
        tx.commit().await?;
        Ok(ps)
    }

    /// A profile, whole for those who read it, or with only the sections a section role opens.
    pub async fn get_billing_profile(&self, cx: &UserCtx, id: BillingProfileId) -> Result<BillingProfile> {
        let mut tx = self.db.begin().await?;
        let p = profile_in_tx(&mut tx, cx.tenant(), id).await?;
        let grants = Grants::load(&mut tx, cx).await?;
        tx.commit().await?;
        grants.trim_profile(p).ok_or_else(|| StoreError::Forbidden("this needs a billing role on the billing profile".into()))
    }
}
