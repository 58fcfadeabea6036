//! Billing accounts: create from the verified legal profile (rule N3), list what the caller may see
//! (rules A3, H4, E1), read and change.

use pb_domain::billing::BillingAction;
use pb_domain::{BillingAccountId, BillingRole, BillingScopeKind, Contact, DisplayName};
use serde_json::json;

use crate::access::{Flow, Grant, Grants, grant_role, require_on_account};
use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::{ACCOUNT_COLUMNS, AccountRow, BillingAccount, BillingAccountWithProfiles};
use crate::read::{account_in_tx, partner_in_tx, with_profiles};
use crate::{Page, Result, Store, StoreError, Ts, UserCtx};

/// What a new billing account takes; the rest comes from the verified legal profile (rule N3).
#[derive(Debug, Clone, Default)]
pub struct NewBillingAccount {
    pub display_name: Option<DisplayName>,
    pub primary_contact: Option<Contact>,
}

/// A change to a billing account: only these two fields can change (the sold-to never does here).
#[derive(Debug, Clone, Default)]
pub struct BillingAccountPatch {
    pub display_name: Option<DisplayName>,
    /// `Some(None)` clears the contact.
    pub primary_contact: Option<Option<Contact>>,
}

fn account_json(a: &BillingAccount) -> serde_json::Value {
    json!({"display_name": a.display_name, "company_name": a.company_name, "sold_to": a.sold_to, "primary_contact": a.primary_contact})
}

fn contact_json(c: Option<&Contact>) -> Result<Option<String>> {
    c.map(serde_json::to_string).transpose().map_err(|e| corrupt("contact", e))
}

/// Inserts a billing account copied from the verified legal profile; the creator becomes its owner
/// (rule A3).
pub(crate) async fn insert_account(tx: &mut Tx, cx: &UserCtx, new: &NewBillingAccount, now: Ts) -> Result<BillingAccount> {
    let tenant = cx.tenant();
    let partner = partner_in_tx(tx, tenant, false).await?.ok_or(StoreError::NotFound("partner account"))?;
    let lp = partner.legal_profile;
    let account = BillingAccount {
        id: BillingAccountId::new(),
        tenant_id: tenant,
        display_name: new.display_name.as_ref().map(|d| d.to_string()).unwrap_or_else(|| lp.company_name.clone()),
        company_name: lp.company_name.clone(),
        sold_to: lp.sold_to.clone(),
        primary_contact: new.primary_contact.clone(),
        created_by: cx.user_id().to_string(),
        created_at: now.0,
        updated_at: now.0,
    };
    let sold_to = serde_json::to_string(&account.sold_to).map_err(|e| corrupt("sold_to", e))?;
    tx.execute(
        "INSERT INTO billing_accounts (id, tenant_id, display_name, company_name, sold_to, primary_contact, created_by, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        args![
            account.id,
            tenant,
            account.display_name.as_str(),
            account.company_name.as_str(),
            sold_to,
            contact_json(account.primary_contact.as_ref())?,
            account.created_by.as_str(),
            now
        ],
    )
    .await?;
    let audit = NewAudit {
        tenant_id: Some(tenant),
        action: "billing_account.create",
        target_kind: "billing_account",
        target_id: account.id.to_string(),
        before: None,
        after: Some(json!({"account": account_json(&account), "by_global_admin": cx.is_global_admin()})),
    };
    write_audit(tx, cx.ctx(), now, audit).await?;
    let scope_id = account.id.to_string();
    let owner = Grant { user: cx.user_id(), role: BillingRole::Owner, scope: BillingScopeKind::BillingAccount, scope_id: &scope_id };
    grant_role(tx, cx, tenant, &owner, now).await?;
    Ok(account)
}

impl Store {
    /// Creates a billing account from the verified legal profile (rule N3); the creator is its owner.
    pub async fn create_billing_account(&self, cx: &UserCtx, new: &NewBillingAccount) -> Result<BillingAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let a = insert_account(&mut tx, cx, new, now).await?;
        self.commit(tx, cx.ctx(), &a).await?;
        Ok(a)
    }

    /// The accounts the caller may see (all of the tenant's for a global admin, rule A3; else those
    /// where they hold a role on the account or one of its profiles), with their profiles and whether
    /// the agreement was accepted. Six queries whatever the page holds.
    pub async fn list_billing_accounts(
        &self,
        cx: &UserCtx,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<BillingAccountWithProfiles>> {
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM billing_accounts a WHERE tenant_id = $1 AND id > $2 AND ($3 OR EXISTS (\
               SELECT 1 FROM role_assignments r WHERE r.user_id = $4 AND ((r.scope_kind = 'billing_account' AND r.scope_id = a.id) \
               OR (r.scope_kind = 'billing_profile' AND r.scope_id IN (SELECT p.id FROM billing_profiles p WHERE p.billing_account_id = a.id)) \
               OR (r.scope_kind = 'invoice_section' AND r.scope_id IN (SELECT s.id FROM invoice_sections s \
                   JOIN billing_profiles p ON p.id = s.billing_profile_id WHERE p.billing_account_id = a.id))))) \
             ORDER BY id LIMIT $5"
        );
        let rows: Vec<AccountRow> = tx
            .fetch_all(sqlx::AssertSqlSafe(sql), args![cx.tenant(), cursor.unwrap_or(""), cx.is_global_admin(), cx.user_id(), limit + 1])
            .await?;
        let accounts: Vec<BillingAccount> = rows.into_iter().map(BillingAccount::try_from).collect::<Result<_>>()?;
        let page = Page::of(accounts, limit, |a: &BillingAccount| a.id.to_string());
        let grants = Grants::load(&mut tx, cx).await?;
        let items = with_profiles(&mut tx, page.items).await?.into_iter().filter_map(|a| grants.trim_account(a)).collect();
        tx.commit().await?;
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    pub async fn get_billing_account(&self, cx: &UserCtx, id: BillingAccountId) -> Result<BillingAccountWithProfiles> {
        let mut tx = self.db.begin().await?;
        let account = account_in_tx(&mut tx, cx.tenant(), id, false).await?;
        let grants = Grants::load(&mut tx, cx).await?;
        let seen = with_profiles(&mut tx, vec![account]).await?.into_iter().find_map(|a| grants.trim_account(a));
        tx.commit().await?;
        // Listed means readable: whoever holds a role anywhere in the account sees it, trimmed to that.
        seen.ok_or_else(|| StoreError::Forbidden("this needs a billing role on the billing account or something in it".into()))
    }

    /// Changes the display name and/or primary contact (owner or contributor).
    pub async fn update_billing_account(&self, cx: &UserCtx, id: BillingAccountId, patch: &BillingAccountPatch) -> Result<BillingAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = account_in_tx(&mut tx, cx.tenant(), id, true).await?;
        require_on_account(&mut tx, cx, id, BillingAction::Manage, Flow::Direct).await?;
        let after = BillingAccount {
            display_name: patch.display_name.as_ref().map(|d| d.to_string()).unwrap_or_else(|| before.display_name.clone()),
            primary_contact: patch.primary_contact.clone().unwrap_or_else(|| before.primary_contact.clone()),
            updated_at: now.0,
            ..before.clone()
        };
        tx.execute(
            "UPDATE billing_accounts SET display_name = $2, primary_contact = $3, updated_at = $4 WHERE id = $1",
            args![id, after.display_name.as_str(), contact_json(after.primary_contact.as_ref())?, now],
        )
        .await?;
        let audit = NewAudit {
            tenant_id: Some(cx.tenant()),
            action: "billing_account.update",
            target_kind: "billing_account",
            target_id: id.to_string(),
            before: Some(account_json(&before)),
            after: Some(account_json(&after)),
        };
        write_audit(&mut tx, cx.ctx(), now, audit).await?;
        self.commit(tx, cx.ctx(), &after).await?;
        Ok(after)
    }
}
