//! Reads shared by the use cases, inside the caller's transaction. Every read of a tenant's thing
//! names the tenant, so another tenant's id is "not found" (rule H4). Lists are completed one query
//! per level (profiles, sections, instruments, acceptances), never one per item.

use std::collections::HashMap;

use pb_domain::{BillingAccountId, BillingProfileId, InvoiceSectionId, PartnerAccountId, TenantId};

use crate::db::{Arg, Tx, args, placeholders};
use crate::model::{
    ACCOUNT_COLUMNS, AccountRow, BillingAccount, BillingAccountWithProfiles, BillingLink, BillingProfile, INSTRUMENT_COLUMNS,
    InstrumentRow, InvoiceSection, LINK_COLUMNS, LinkRow, PARTNER_COLUMNS, PROFILE_COLUMNS, PartnerAccount, PartnerRow, PaymentInstrument,
    ProfileRow, SECTION_COLUMNS, SectionRow,
};
use crate::{Result, StoreError};

/// An account of the tenant; with `lock`, row-locked for the rest of the transaction so that rules
/// counting its profiles (C3) see a stable set.
pub(crate) async fn account_in_tx(tx: &mut Tx, tenant: TenantId, id: BillingAccountId, lock: bool) -> Result<BillingAccount> {
    let lock = if lock { tx.for_update() } else { "" };
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE tenant_id = $1 AND id = $2{lock}");
    let row: Option<AccountRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![tenant, id]).await?;
    row.ok_or(StoreError::NotFound("billing account"))?.try_into()
}

/// A profile of the tenant with its sections and instruments.
pub(crate) async fn profile_in_tx(tx: &mut Tx, tenant: TenantId, id: BillingProfileId) -> Result<BillingProfile> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM billing_profiles WHERE tenant_id = $1 AND id = $2");
    let row: Option<ProfileRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![tenant, id]).await?;
    let row = row.ok_or(StoreError::NotFound("billing profile"))?;
    complete_profiles(tx, vec![row]).await?.pop().ok_or(StoreError::NotFound("billing profile"))
}

/// An invoice section of the tenant.
pub(crate) async fn section_in_tx(tx: &mut Tx, tenant: TenantId, id: InvoiceSectionId) -> Result<InvoiceSection> {
    let sql = format!("SELECT {SECTION_COLUMNS} FROM invoice_sections WHERE tenant_id = $1 AND id = $2");
    let row: Option<SectionRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![tenant, id]).await?;
    row.ok_or(StoreError::NotFound("invoice section"))?.try_into()
}

/// Adds sections and instruments to profile rows: two queries for any number of profiles.
async fn complete_profiles(tx: &mut Tx, rows: Vec<ProfileRow>) -> Result<Vec<BillingProfile>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Arg> = rows.iter().map(|r| Arg::from(&r.id)).collect();
    let list = placeholders(1, ids.len());
    let sections: Vec<SectionRow> = tx
        .fetch_all(
            sqlx::AssertSqlSafe(format!("SELECT {SECTION_COLUMNS} FROM invoice_sections WHERE billing_profile_id IN ({list}) ORDER BY id")),
            ids.clone(),
        )
        .await?;
    let instruments: Vec<InstrumentRow> = tx
        .fetch_all(
            sqlx::AssertSqlSafe(format!(
                "SELECT {INSTRUMENT_COLUMNS} FROM payment_instruments WHERE billing_profile_id IN ({list}) ORDER BY id"
            )),
            ids,
        )
        .await?;
    let mut sections_of: HashMap<BillingProfileId, Vec<InvoiceSection>> = HashMap::new();
    for s in sections {
        let s = InvoiceSection::try_from(s)?;
        sections_of.entry(s.billing_profile_id).or_default().push(s);
    }
    let mut instruments_of: HashMap<BillingProfileId, Vec<PaymentInstrument>> = HashMap::new();
    for i in instruments {
        let i = PaymentInstrument::try_from(i)?;
        instruments_of.entry(i.billing_profile_id).or_default().push(i);
    }
    rows.into_iter()
        .map(|r| {
            let id = BillingProfileId::parse(&r.id).map_err(|e| crate::error::corrupt("billing profile id", e))?;
            r.into_profile(sections_of.remove(&id).unwrap_or_default(), instruments_of.remove(&id).unwrap_or_default())
        })
        .collect()
}

/// The profiles of the given accounts, oldest first: three queries whatever the count.
pub(crate) async fn profiles_of(tx: &mut Tx, accounts: &[BillingAccountId]) -> Result<Vec<BillingProfile>> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {PROFILE_COLUMNS} FROM billing_profiles WHERE billing_account_id IN ({}) ORDER BY id",
        placeholders(1, accounts.len())
    );
    let rows: Vec<ProfileRow> = tx.fetch_all(sqlx::AssertSqlSafe(sql), accounts.iter().map(Arg::from).collect()).await?;
    complete_profiles(tx, rows).await
}

/// Completes accounts with their profiles and whether the agreement was accepted: four queries
/// whatever the number of accounts and profiles.
pub(crate) async fn with_profiles(tx: &mut Tx, accounts: Vec<BillingAccount>) -> Result<Vec<BillingAccountWithProfiles>> {
    let ids: Vec<BillingAccountId> = accounts.iter().map(|a| a.id).collect();
    let mut profiles_by: HashMap<BillingAccountId, Vec<BillingProfile>> = HashMap::new();
    for p in profiles_of(tx, &ids).await? {
        profiles_by.entry(p.billing_account_id).or_default().push(p);
    }
    let accepted: Vec<String> = if ids.is_empty() {
        Vec::new()
    } else {
        let sql = format!(
            "SELECT billing_account_id FROM agreement_acceptances WHERE kind = 'mca' AND billing_account_id IN ({})",
            placeholders(1, ids.len())
        );
        tx.scalars(sqlx::AssertSqlSafe(sql), ids.iter().map(Arg::from).collect()).await?
    };
    Ok(accounts
        .into_iter()
        .map(|account| BillingAccountWithProfiles {
            agreement_accepted: accepted.contains(&account.id.to_string()),
            profiles: profiles_by.remove(&account.id).unwrap_or_default(),
            account,
        })
        .collect())
}

/// Whether the MCA (and the Italian acknowledgement) were accepted for the account (rule M3 records).
pub(crate) async fn acceptances_of(tx: &mut Tx, account: BillingAccountId) -> Result<(bool, bool)> {
    let kinds: Vec<String> = tx.scalars("SELECT kind FROM agreement_acceptances WHERE billing_account_id = $1", args![account]).await?;
    Ok((kinds.iter().any(|k| k == "mca"), kinds.iter().any(|k| k == "mca_secondary")))
}

/// The tenant's partner account; with `lock`, row-locked so that link changes queue (rule C6).
pub(crate) async fn partner_in_tx(tx: &mut Tx, tenant: TenantId, lock: bool) -> Result<Option<PartnerAccount>> {
    let lock = if lock { tx.for_update() } else { "" };
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partner_accounts WHERE tenant_id = $1{lock}");
    let row: Option<PartnerRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![tenant]).await?;
    row.map(PartnerAccount::try_from).transpose()
}

/// The link in force, if any.
pub(crate) async fn current_link_in_tx(tx: &mut Tx, partner: PartnerAccountId) -> Result<Option<BillingLink>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links WHERE partner_account_id = $1 AND unlinked_at IS NULL");
    let row: Option<LinkRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![partner]).await?;
    row.map(BillingLink::try_from).transpose()
}
