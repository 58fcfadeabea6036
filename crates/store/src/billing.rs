//! Billing accounts, billing profiles, invoice sections and payment instruments (rules H1, H2, H4,
//! A2–A4, N3–N6, C3).

use pb_domain::billing::{BillingAction, any_role_permits, currency_for_country, looks_like_card_number};
use pb_domain::{
    Address, BillingAccountId, BillingProfileId, BillingRole, BillingScopeKind, Contact, Currency, DisplayName, InvoiceSectionId,
    PaymentInstrumentId, RoleAssignmentId, TenantId, UserId, billing::PaymentInstrumentKind,
};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, on};
use crate::error::corrupt;
use crate::partners::partner_in_tx;
use crate::{Actor, Ctx, Page, Result, Store, StoreError, Ts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAccount {
    pub id: BillingAccountId,
    pub tenant_id: TenantId,
    pub display_name: String,
    pub company_name: String,
    /// Copied from the verified legal profile at creation; never edited here (rule N3).
    pub sold_to: Address,
    pub primary_contact: Option<Contact>,
    pub created_by: String,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    tenant_id: String,
    display_name: String,
    company_name: String,
    sold_to: String,
    primary_contact: Option<String>,
    created_by: String,
    created_at: Ts,
    updated_at: Ts,
}

const ACCOUNT_COLUMNS: &str = "id, tenant_id, display_name, company_name, sold_to, primary_contact, created_by, created_at, updated_at";

impl TryFrom<AccountRow> for BillingAccount {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(BillingAccount {
            id: BillingAccountId::parse(&r.id).map_err(|e| corrupt("billing account id", e))?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt("tenant id", e))?,
            display_name: r.display_name,
            company_name: r.company_name,
            sold_to: serde_json::from_str(&r.sold_to).map_err(|e| corrupt("sold_to", e))?,
            primary_contact: r.primary_contact.map(|c| serde_json::from_str(&c)).transpose().map_err(|e| corrupt("primary_contact", e))?,
            created_by: r.created_by,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSection {
    pub id: InvoiceSectionId,
    pub billing_profile_id: BillingProfileId,
    pub display_name: String,
    pub is_default: bool,
    pub created_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct SectionRow {
    id: String,
    billing_profile_id: String,
    display_name: String,
    is_default: bool,
    created_at: Ts,
}

impl TryFrom<SectionRow> for InvoiceSection {
    type Error = StoreError;
    fn try_from(r: SectionRow) -> Result<Self> {
        Ok(InvoiceSection {
            id: InvoiceSectionId::parse(&r.id).map_err(|e| corrupt("invoice section id", e))?,
            billing_profile_id: BillingProfileId::parse(&r.billing_profile_id).map_err(|e| corrupt("billing profile id", e))?,
            display_name: r.display_name,
            is_default: r.is_default,
            created_at: r.created_at.0,
        })
    }
}

/// A payment instrument: a processor's token and a hint such as "Visa 4242"; never a card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInstrument {
    pub id: PaymentInstrumentId,
    pub billing_profile_id: BillingProfileId,
    pub kind: PaymentInstrumentKind,
    pub display_hint: String,
    pub created_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct InstrumentRow {
    id: String,
    billing_profile_id: String,
    kind: String,
    display_hint: String,
    created_at: Ts,
}

impl TryFrom<InstrumentRow> for PaymentInstrument {
    type Error = StoreError;
    fn try_from(r: InstrumentRow) -> Result<Self> {
        Ok(PaymentInstrument {
            id: PaymentInstrumentId::parse(&r.id).map_err(|e| corrupt("payment instrument id", e))?,
            billing_profile_id: BillingProfileId::parse(&r.billing_profile_id).map_err(|e| corrupt("billing profile id", e))?,
            kind: PaymentInstrumentKind::parse(&r.kind).ok_or_else(|| corrupt("payment instrument kind", &r.kind))?,
            display_hint: r.display_hint,
            created_at: r.created_at.0,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingProfile {
    pub id: BillingProfileId,
    pub tenant_id: TenantId,
    pub billing_account_id: BillingAccountId,
    pub display_name: String,
    pub currency: Currency,
    pub created_by: String,
    pub created_at: time::OffsetDateTime,
    pub invoice_sections: Vec<InvoiceSection>,
    /// Empty means "None" (rule N6).
    pub payment_instruments: Vec<PaymentInstrument>,
}

#[derive(sqlx::FromRow)]
struct ProfileRow {
    id: String,
    tenant_id: String,
    billing_account_id: String,
    display_name: String,
    currency: String,
    created_by: String,
    created_at: Ts,
}

const PROFILE_COLUMNS: &str = "id, tenant_id, billing_account_id, display_name, currency, created_by, created_at";

impl ProfileRow {
    fn into_profile(self, invoice_sections: Vec<InvoiceSection>, payment_instruments: Vec<PaymentInstrument>) -> Result<BillingProfile> {
        Ok(BillingProfile {
            id: BillingProfileId::parse(&self.id).map_err(|e| corrupt("billing profile id", e))?,
            tenant_id: TenantId::parse(&self.tenant_id).map_err(|e| corrupt("tenant id", e))?,
            billing_account_id: BillingAccountId::parse(&self.billing_account_id).map_err(|e| corrupt("billing account id", e))?,
            display_name: self.display_name,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt("currency", e))?,
            created_by: self.created_by,
            created_at: self.created_at.0,
            invoice_sections,
            payment_instruments,
        })
    }
}

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

/// A billing account with its profiles, as the link flow lists them (rule E1).
#[derive(Debug, Clone)]
pub struct BillingAccountWithProfiles {
    pub account: BillingAccount,
    pub profiles: Vec<BillingProfile>,
    pub agreement_accepted: bool,
}

pub(crate) fn user_of(ctx: &Ctx) -> Result<(UserId, bool)> {
    match &ctx.actor {
        Actor::User { user_id, global_admin } => Ok((*user_id, *global_admin)),
        _ => Err(StoreError::Forbidden("only a tenant's users can do this".into())),
    }
}

/// The billing roles `user` holds on the given scopes (a scope and its ancestors, rule A2).
async fn roles_on(tx: &mut Tx, user: UserId, scopes: &[(BillingScopeKind, String)]) -> Result<Vec<BillingRole>> {
    let mut roles = Vec::new();
    for (kind, id) in scopes {
        let rows: Vec<String> = on!(&mut *tx, |c| sqlx::query_scalar(
            "SELECT role FROM role_assignments WHERE user_id = $1 AND scope_kind = $2 AND scope_id = $3"
        )
        .bind(user.to_string())
        .bind(kind.as_str())
        .bind(id)
        .fetch_all(c)
        .await?);
        for r in rows {
            roles.push(BillingRole::parse(&r).ok_or_else(|| corrupt("billing role", &r))?);
        }
    }
    Ok(roles)
}

/// A role to grant on a scope.
pub(crate) struct Grant<'a> {
    pub user: UserId,
    pub role: BillingRole,
    pub scope: BillingScopeKind,
    pub scope_id: &'a str,
}

pub(crate) async fn grant_role(tx: &mut Tx, ctx: &Ctx, tenant: TenantId, g: &Grant<'_>, at: Ts) -> Result<()> {
    let Grant { user, role, scope, scope_id } = *g;
    let id = RoleAssignmentId::new();
    on!(&mut *tx, |c| sqlx::query(
        "INSERT INTO role_assignments (id, tenant_id, user_id, role, scope_kind, scope_id, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(scope.as_str())
    .bind(scope_id)
    .bind(ctx.actor.id())
    .bind(at)
    .execute(c)
    .await?
    .rows_affected());
    write_audit(
        tx,
        ctx,
        at,
        NewAudit {
            tenant_id: Some(tenant),
            action: "role.grant",
            target_kind: scope.as_str(),
            target_id: scope_id.to_owned(),
            before: None,
            after: Some(json!({"role_assignment_id": id.to_string(), "user_id": user.to_string(), "role": role.as_str()})),
        },
    )
    .await
}

/// Loads an account of the tenant (another tenant's id is "not found", rule H4); locks it on
/// PostgreSQL when `for_update`, so that rules that count its profiles (C3) see a stable set.
pub(crate) async fn account_in_tx(tx: &mut Tx, tenant: TenantId, id: BillingAccountId, for_update: bool) -> Result<BillingAccount> {
    let lock = if for_update && matches!(tx, Tx::Postgres(_)) { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE tenant_id = $1 AND id = $2{lock}");
    let row: Option<AccountRow> =
        on!(&mut *tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(c).await?);
    row.ok_or(StoreError::NotFound("billing account"))?.try_into()
}

async fn sections_of(tx: &mut Tx, profile: &str) -> Result<Vec<InvoiceSection>> {
    let rows: Vec<SectionRow> = on!(&mut *tx, |c| {
        sqlx::query_as(
        "SELECT id, billing_profile_id, display_name, is_default, created_at FROM invoice_sections WHERE billing_profile_id = $1 ORDER BY id"
    )
    .bind(profile)
    .fetch_all(c)
    .await?
    });
    rows.into_iter().map(InvoiceSection::try_from).collect()
}

async fn instruments_of(tx: &mut Tx, profile: &str) -> Result<Vec<PaymentInstrument>> {
    let rows: Vec<InstrumentRow> = on!(&mut *tx, |c| {
        sqlx::query_as(
        "SELECT id, billing_profile_id, kind, display_hint, created_at FROM payment_instruments WHERE billing_profile_id = $1 ORDER BY id"
    )
    .bind(profile)
    .fetch_all(c)
    .await?
    });
    rows.into_iter().map(PaymentInstrument::try_from).collect()
}

async fn complete_profile(tx: &mut Tx, row: ProfileRow) -> Result<BillingProfile> {
    let sections = sections_of(tx, &row.id).await?;
    let instruments = instruments_of(tx, &row.id).await?;
    row.into_profile(sections, instruments)
}

pub(crate) async fn profile_in_tx(tx: &mut Tx, tenant: TenantId, id: BillingProfileId) -> Result<BillingProfile> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM billing_profiles WHERE tenant_id = $1 AND id = $2");
    let row: Option<ProfileRow> =
        on!(&mut *tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(c).await?);
    complete_profile(tx, row.ok_or(StoreError::NotFound("billing profile"))?).await
}

async fn profiles_of(tx: &mut Tx, account: BillingAccountId) -> Result<Vec<BillingProfile>> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM billing_profiles WHERE billing_account_id = $1 ORDER BY id");
    let rows: Vec<ProfileRow> = on!(&mut *tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(account.to_string()).fetch_all(c).await?);
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(complete_profile(tx, r).await?);
    }
    Ok(out)
}

/// Whether the MCA (and the Italian acknowledgement) were accepted for the account (rule M3 records).
pub(crate) async fn acceptances_of(tx: &mut Tx, account: BillingAccountId) -> Result<(bool, bool)> {
    let kinds: Vec<String> = on!(&mut *tx, |c| sqlx::query_scalar("SELECT kind FROM agreement_acceptances WHERE billing_account_id = $1")
        .bind(account.to_string())
        .fetch_all(c)
        .await?);
    Ok((kinds.iter().any(|k| k == "mca"), kinds.iter().any(|k| k == "mca_secondary")))
}

/// Checks `action` on an account for the actor: global admins may read every account of their
/// tenant and act as owner inside the link flow (rule A3); others need a role (rule A2).
async fn require_on_account(tx: &mut Tx, ctx: &Ctx, account: BillingAccountId, action: BillingAction, link_flow: bool) -> Result<()> {
    let (user, ga) = user_of(ctx)?;
    if ga && (action == BillingAction::Read || link_flow) {
        return Ok(());
    }
    let roles = roles_on(tx, user, &[(BillingScopeKind::BillingAccount, account.to_string())]).await?;
    if any_role_permits(&roles, action) { Ok(()) } else { Err(forbidden(action, "billing account")) }
}

async fn require_on_profile(tx: &mut Tx, ctx: &Ctx, profile: &BillingProfile, action: BillingAction) -> Result<()> {
    let (user, ga) = user_of(ctx)?;
    if ga && action == BillingAction::Read {
        return Ok(());
    }
    let roles = roles_on(
        tx,
        user,
        &[
            (BillingScopeKind::BillingAccount, profile.billing_account_id.to_string()),
            (BillingScopeKind::BillingProfile, profile.id.to_string()),
        ],
    )
    .await?;
    if any_role_permits(&roles, action) { Ok(()) } else { Err(forbidden(action, "billing profile")) }
}

fn forbidden(action: BillingAction, what: &str) -> StoreError {
    let need = match action {
        BillingAction::Read => "a billing role",
        BillingAction::Manage => "the owner or contributor role",
        BillingAction::ManageRoles => "the owner role",
        BillingAction::PayInvoices => "the owner, contributor or invoice manager role",
        BillingAction::CreateSubscriptions => "the subscription creator role",
    };
    StoreError::Forbidden(format!("this needs {need} on the {what}"))
}

fn account_json(a: &BillingAccount) -> serde_json::Value {
    json!({"display_name": a.display_name, "company_name": a.company_name, "sold_to": a.sold_to, "primary_contact": a.primary_contact})
}

/// Inserts a billing account copied from the verified legal profile; the creator becomes owner.
pub(crate) async fn insert_account(tx: &mut Tx, ctx: &Ctx, tenant: TenantId, new: &NewBillingAccount, now: Ts) -> Result<BillingAccount> {
    let (user, ga) = user_of(ctx)?;
    let partner = partner_in_tx(tx, tenant, false).await?.ok_or(StoreError::NotFound("partner account"))?;
    let lp = partner.legal_profile;
    let account = BillingAccount {
        id: BillingAccountId::new(),
        tenant_id: tenant,
        display_name: new.display_name.as_ref().map(|d| d.to_string()).unwrap_or_else(|| lp.company_name.clone()),
        company_name: lp.company_name.clone(),
        sold_to: lp.sold_to.clone(),
        primary_contact: new.primary_contact.clone(),
        created_by: user.to_string(),
        created_at: now.0,
        updated_at: now.0,
    };
    let sold_to = serde_json::to_string(&account.sold_to).map_err(|e| corrupt("sold_to", e))?;
    let contact = account.primary_contact.as_ref().map(serde_json::to_string).transpose().map_err(|e| corrupt("contact", e))?;
    on!(&mut *tx, |c| {
        sqlx::query(
        "INSERT INTO billing_accounts (id, tenant_id, display_name, company_name, sold_to, primary_contact, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
    )
    .bind(account.id.to_string())
    .bind(tenant.to_string())
    .bind(&account.display_name)
    .bind(&account.company_name)
    .bind(&sold_to)
    .bind(contact)
    .bind(&account.created_by)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    write_audit(
        tx,
        ctx,
        now,
        NewAudit {
            tenant_id: Some(tenant),
            action: "billing_account.create",
            target_kind: "billing_account",
            target_id: account.id.to_string(),
            before: None,
            after: Some(json!({"account": account_json(&account), "by_global_admin": ga})),
        },
    )
    .await?;
    // Rule A3: the creator becomes the owner.
    let scope_id = account.id.to_string();
    grant_role(
        tx,
        ctx,
        tenant,
        &Grant { user, role: BillingRole::Owner, scope: BillingScopeKind::BillingAccount, scope_id: &scope_id },
        now,
    )
    .await?;
    Ok(account)
}

/// Inserts a profile under `account` with its default invoice section (rule H2), after rule C3.
pub(crate) async fn insert_profile(
    tx: &mut Tx,
    ctx: &Ctx,
    account: &BillingAccount,
    name: &DisplayName,
    now: Ts,
) -> Result<BillingProfile> {
    let (user, ga) = user_of(ctx)?;
    require_on_account(tx, ctx, account.id, BillingAction::Manage, true).await?;
    // Rule C3: an account with a profile that has no payment instrument reuses it.
    if let Some(reuse) = unfunded_profile_in_tx(tx, account.id).await? {
        return Err(StoreError::UnfundedProfileExists { reuse });
    }
    let id = BillingProfileId::new();
    let currency = currency_for_country(account.sold_to.country);
    on!(&mut *tx, |c| sqlx::query(
        "INSERT INTO billing_profiles (id, tenant_id, billing_account_id, display_name, currency, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
    )
    .bind(id.to_string())
    .bind(account.tenant_id.to_string())
    .bind(account.id.to_string())
    .bind(name.as_str())
    .bind(currency.as_str())
    .bind(user.to_string())
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    let section = InvoiceSection {
        id: InvoiceSectionId::new(),
        billing_profile_id: id,
        display_name: name.to_string(),
        is_default: true,
        created_at: now.0,
    };
    insert_section(tx, account.tenant_id, &section, now).await?;
    write_audit(
        tx,
        ctx,
        now,
        NewAudit {
            tenant_id: Some(account.tenant_id),
            action: "billing_profile.create",
            target_kind: "billing_profile",
            target_id: id.to_string(),
            before: None,
            after: Some(json!({
                "billing_account_id": account.id.to_string(), "display_name": name, "currency": currency,
                "default_invoice_section_id": section.id.to_string(), "by_global_admin": ga,
            })),
        },
    )
    .await?;
    // Rule A4: the creator becomes the owner.
    let scope_id = id.to_string();
    grant_role(
        tx,
        ctx,
        account.tenant_id,
        &Grant { user, role: BillingRole::Owner, scope: BillingScopeKind::BillingProfile, scope_id: &scope_id },
        now,
    )
    .await?;
    Ok(BillingProfile {
        id,
        tenant_id: account.tenant_id,
        billing_account_id: account.id,
        display_name: name.to_string(),
        currency,
        created_by: user.to_string(),
        created_at: now.0,
        invoice_sections: vec![section],
        payment_instruments: Vec::new(),
    })
}

/// Rule C3: the account's profile that has no payment instrument, if any (the oldest).
async fn unfunded_profile_in_tx(tx: &mut Tx, account: BillingAccountId) -> Result<Option<BillingProfileId>> {
    let unfunded: Option<String> = on!(&mut *tx, |c| sqlx::query_scalar(
        "SELECT p.id FROM billing_profiles p WHERE p.billing_account_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM payment_instruments i WHERE i.billing_profile_id = p.id) ORDER BY p.id LIMIT 1"
    )
    .bind(account.to_string())
    .fetch_optional(c)
    .await?);
    unfunded.map(|p| BillingProfileId::parse(&p).map_err(|e| corrupt("billing profile id", e))).transpose()
}

async fn insert_section(tx: &mut Tx, tenant: TenantId, s: &InvoiceSection, now: Ts) -> Result<()> {
    on!(&mut *tx, |c| sqlx::query(
        "INSERT INTO invoice_sections (id, tenant_id, billing_profile_id, display_name, is_default, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)"
    )
    .bind(s.id.to_string())
    .bind(tenant.to_string())
    .bind(s.billing_profile_id.to_string())
    .bind(&s.display_name)
    .bind(s.is_default)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

async fn section_in_tx(tx: &mut Tx, tenant: TenantId, id: InvoiceSectionId) -> Result<InvoiceSection> {
    let row: Option<SectionRow> = on!(&mut *tx, |c| sqlx::query_as(
        "SELECT id, billing_profile_id, display_name, is_default, created_at FROM invoice_sections WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(c)
    .await?);
    row.ok_or(StoreError::NotFound("invoice section"))?.try_into()
}

impl Store {
    /// Creates a billing account from the verified legal profile (rule N3); the creator is its owner.
    pub async fn create_billing_account(&self, ctx: &Ctx, tenant: TenantId, new: &NewBillingAccount) -> Result<BillingAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let a = insert_account(&mut tx, ctx, tenant, new, now).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// The accounts the caller may see (all of the tenant's for a global admin, rule A3), with their
    /// profiles and whether the agreement was accepted.
    pub async fn list_billing_accounts(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<BillingAccountWithProfiles>> {
        let (user, ga) = user_of(ctx)?;
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM billing_accounts a WHERE tenant_id = $1 AND id > $2 AND ($3 OR EXISTS (\
               SELECT 1 FROM role_assignments r WHERE r.user_id = $4 AND ((r.scope_kind = 'billing_account' AND r.scope_id = a.id) \
               OR (r.scope_kind = 'billing_profile' AND r.scope_id IN (SELECT p.id FROM billing_profiles p WHERE p.billing_account_id = a.id))))) \
             ORDER BY id LIMIT $5"
        );
        let rows: Vec<AccountRow> = on!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(cursor.unwrap_or(""))
            .bind(ga)
            .bind(user.to_string())
            .bind(limit + 1)
            .fetch_all(c)
            .await?);
        let mut items = Vec::new();
        for r in rows {
            let account = BillingAccount::try_from(r)?;
            let profiles = profiles_of(&mut tx, account.id).await?;
            let (mca, _) = acceptances_of(&mut tx, account.id).await?;
            items.push(BillingAccountWithProfiles { account, profiles, agreement_accepted: mca });
        }
        tx.commit().await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|a| a.account.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn get_billing_account(&self, ctx: &Ctx, tenant: TenantId, id: BillingAccountId) -> Result<BillingAccountWithProfiles> {
        let mut tx = self.db.begin().await?;
        let account = account_in_tx(&mut tx, tenant, id, false).await?;
        require_on_account(&mut tx, ctx, id, BillingAction::Read, false).await?;
        let profiles = profiles_of(&mut tx, id).await?;
        let (mca, _) = acceptances_of(&mut tx, id).await?;
        tx.commit().await?;
        Ok(BillingAccountWithProfiles { account, profiles, agreement_accepted: mca })
    }

    /// Changes the display name and/or primary contact (owner or contributor).
    pub async fn update_billing_account(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        id: BillingAccountId,
        patch: &BillingAccountPatch,
    ) -> Result<BillingAccount> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = account_in_tx(&mut tx, tenant, id, true).await?;
        require_on_account(&mut tx, ctx, id, BillingAction::Manage, false).await?;
        let after = BillingAccount {
            display_name: patch.display_name.as_ref().map(|d| d.to_string()).unwrap_or_else(|| before.display_name.clone()),
            primary_contact: patch.primary_contact.clone().unwrap_or_else(|| before.primary_contact.clone()),
            updated_at: now.0,
            ..before.clone()
        };
        let contact = after.primary_contact.as_ref().map(serde_json::to_string).transpose().map_err(|e| corrupt("contact", e))?;
        on!(&mut tx, |c| sqlx::query("UPDATE billing_accounts SET display_name = $2, primary_contact = $3, updated_at = $4 WHERE id = $1")
            .bind(id.to_string())
            .bind(&after.display_name)
            .bind(contact)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected());
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant),
                action: "billing_account.update",
                target_kind: "billing_account",
                target_id: id.to_string(),
                before: Some(account_json(&before)),
                after: Some(account_json(&after)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Creates a profile under an account (rules N5, N6, C3, H2, A4).
    pub async fn create_billing_profile(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        account: BillingAccountId,
        name: &DisplayName,
    ) -> Result<BillingProfile> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let account = account_in_tx(&mut tx, tenant, account, true).await?;
        let p = insert_profile(&mut tx, ctx, &account, name, now).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Rule C3 asked ahead: the profile a new one would have to reuse, if any (the pages hide
    /// "Create new billing profile" then).
    pub async fn profile_to_reuse(&self, ctx: &Ctx, tenant: TenantId, account: BillingAccountId) -> Result<Option<BillingProfileId>> {
        let mut tx = self.db.begin().await?;
        account_in_tx(&mut tx, tenant, account, false).await?;
        require_on_account(&mut tx, ctx, account, BillingAction::Read, false).await?;
        let r = unfunded_profile_in_tx(&mut tx, account).await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn list_billing_profiles(&self, ctx: &Ctx, tenant: TenantId, account: BillingAccountId) -> Result<Vec<BillingProfile>> {
        let mut tx = self.db.begin().await?;
        account_in_tx(&mut tx, tenant, account, false).await?;
        require_on_account(&mut tx, ctx, account, BillingAction::Read, false).await?;
        let ps = profiles_of(&mut tx, account).await?;
        tx.commit().await?;
        Ok(ps)
    }

    pub async fn get_billing_profile(&self, ctx: &Ctx, tenant: TenantId, id: BillingProfileId) -> Result<BillingProfile> {
        let mut tx = self.db.begin().await?;
        let p = profile_in_tx(&mut tx, tenant, id).await?;
        require_on_profile(&mut tx, ctx, &p, BillingAction::Read).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Adds an invoice section to a profile (rule H2).
    pub async fn create_invoice_section(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        profile: BillingProfileId,
        name: &DisplayName,
    ) -> Result<InvoiceSection> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let p = profile_in_tx(&mut tx, tenant, profile).await?;
        require_on_profile(&mut tx, ctx, &p, BillingAction::Manage).await?;
        let s = InvoiceSection {
            id: InvoiceSectionId::new(),
            billing_profile_id: profile,
            display_name: name.to_string(),
            is_default: false,
            created_at: now.0,
        };
        insert_section(&mut tx, tenant, &s, now).await?;
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant),
                action: "invoice_section.create",
                target_kind: "invoice_section",
                target_id: s.id.to_string(),
                before: None,
                after: Some(json!({"billing_profile_id": profile.to_string(), "display_name": s.display_name})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(s)
    }

    pub async fn rename_invoice_section(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        id: InvoiceSectionId,
        name: &DisplayName,
    ) -> Result<InvoiceSection> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = section_in_tx(&mut tx, tenant, id).await?;
        let p = profile_in_tx(&mut tx, tenant, before.billing_profile_id).await?;
        require_on_profile(&mut tx, ctx, &p, BillingAction::Manage).await?;
        on!(&mut tx, |c| sqlx::query("UPDATE invoice_sections SET display_name = $2, updated_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(name.as_str())
            .bind(now)
            .execute(c)
            .await?
            .rows_affected());
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant),
                action: "invoice_section.rename",
                target_kind: "invoice_section",
                target_id: id.to_string(),
                before: Some(json!({"display_name": before.display_name})),
                after: Some(json!({"display_name": name})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(InvoiceSection { display_name: name.to_string(), ..before })
    }

    /// Removes an invoice section: never the last one of its profile (rule H2), never one holding
    /// charges (rule H3; purchases are not recorded yet, so no section holds any).
    pub async fn delete_invoice_section(&self, ctx: &Ctx, tenant: TenantId, id: InvoiceSectionId) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let s = section_in_tx(&mut tx, tenant, id).await?;
        let p = profile_in_tx(&mut tx, tenant, s.billing_profile_id).await?;
        require_on_profile(&mut tx, ctx, &p, BillingAction::Manage).await?;
        if p.invoice_sections.len() <= 1 {
            return Err(StoreError::conflict(
                "last_invoice_section",
                "a billing profile keeps at least one invoice section; this is its last",
            ));
        }
        on!(&mut tx, |c| sqlx::query("DELETE FROM invoice_sections WHERE id = $1").bind(id.to_string()).execute(c).await?.rows_affected());
        if s.is_default {
            // The oldest remaining section takes over as the default.
            on!(&mut tx, |c| {
                sqlx::query(
                "UPDATE invoice_sections SET is_default = TRUE WHERE id = (SELECT MIN(id) FROM invoice_sections WHERE billing_profile_id = $1)"
            )
            .bind(p.id.to_string())
            .execute(c)
            .await?
            .rows_affected()
            });
        }
        write_audit(
            &mut tx,
            ctx,
            now,
            NewAudit {
                tenant_id: Some(tenant),
                action: "invoice_section.delete",
                target_kind: "invoice_section",
                target_id: id.to_string(),
                before: Some(json!({"billing_profile_id": p.id.to_string(), "display_name": s.display_name, "is_default": s.is_default})),
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a payment instrument (a processor token and a display hint) to a profile.
    pub async fn add_payment_instrument(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        profile: BillingProfileId,
        kind: PaymentInstrumentKind,
        processor_token: &str,
        display_hint: &str,
    ) -> Result<PaymentInstrument> {
        // Card numbers are never stored: only a processor's token and a hint such as "Visa 4242".
        for (field, value) in [("token", processor_token), ("display_hint", display_hint)] {
            if looks_like_card_number(value) {
                return Err(StoreError::Invalid {
                    field,
                    code: "card_number_refused",
                    message: "looks like a card number; send the payment processor's token and only the last digits".into(),
                });
            }
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let p = profile_in_tx(&mut tx, tenant, profile).await?;
        require_on_profile(&mut tx, ctx, &p, BillingAction::PayInvoices).await?;
        let pi = PaymentInstrument {
            id: PaymentInstrumentId::new(),
            billing_profile_id: profile,
            kind,
            display_hint: display_hint.to_owned(),
            created_at: now.0,
        };
        on!(&mut tx, |c| {
            sqlx::query(
            "INSERT INTO payment_instruments (id, tenant_id, billing_profile_id, kind, processor_token, display_hint, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(pi.id.to_string())
        .bind(tenant.to_string())
        .bind(profile.to_string())
        .bind(kind.as_str())
        .bind(processor_token)
        .bind(display_hint)
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
                tenant_id: Some(tenant),
                action: "payment_instrument.add",
                target_kind: "billing_profile",
                target_id: profile.to_string(),
                before: None,
                // The processor token is not copied into the audit trail.
                after: Some(json!({"payment_instrument_id": pi.id.to_string(), "kind": kind, "display_hint": display_hint})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(pi)
    }
}
