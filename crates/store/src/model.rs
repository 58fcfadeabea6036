//! What the store hands out, and the rows it reads them from. A row that no longer parses is
//! [`StoreError::Corrupt`]: a bug or a hand edit, never the client's fault.

use pb_domain::{
    Address, AgreementAcceptanceId, BillingAccountId, BillingLinkId, BillingProfileId, Contact, Currency, InvoiceSectionId, LegalProfile,
    LegalProfileChange, LinkTarget, PartnerAccountId, PartnerAccountState, PaymentInstrumentId, PaymentInstrumentKind, TenantId, UserId,
    UserRoles,
};

use crate::error::corrupt;
use crate::{Result, StoreError, Ts};

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
pub(crate) struct AccountRow {
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

pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, tenant_id, display_name, company_name, sold_to, primary_contact, created_by, created_at, updated_at";

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
pub(crate) struct SectionRow {
    id: String,
    billing_profile_id: String,
    display_name: String,
    is_default: bool,
    created_at: Ts,
}

pub(crate) const SECTION_COLUMNS: &str = "id, billing_profile_id, display_name, is_default, created_at";

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
/// The token stays in the database; nothing reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInstrument {
    pub id: PaymentInstrumentId,
    pub billing_profile_id: BillingProfileId,
    pub kind: PaymentInstrumentKind,
    pub display_hint: String,
    pub created_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(crate) struct InstrumentRow {
    id: String,
    billing_profile_id: String,
    kind: String,
    display_hint: String,
    created_at: Ts,
}

pub(crate) const INSTRUMENT_COLUMNS: &str = "id, billing_profile_id, kind, display_hint, created_at";

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
pub(crate) struct ProfileRow {
    pub(crate) id: String,
    tenant_id: String,
    billing_account_id: String,
    display_name: String,
    currency: String,
    created_by: String,
    created_at: Ts,
}

pub(crate) const PROFILE_COLUMNS: &str = "id, tenant_id, billing_account_id, display_name, currency, created_by, created_at";

impl ProfileRow {
    pub(crate) fn into_profile(
        self,
        invoice_sections: Vec<InvoiceSection>,
        payment_instruments: Vec<PaymentInstrument>,
    ) -> Result<BillingProfile> {
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

/// A billing account with its profiles, as the link flow lists them (rule E1).
#[derive(Debug, Clone)]
pub struct BillingAccountWithProfiles {
    pub account: BillingAccount,
    pub profiles: Vec<BillingProfile>,
    pub agreement_accepted: bool,
}

/// A link between the partner account and a billing account and profile, with its time span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingLink {
    pub id: BillingLinkId,
    pub billing_account_id: BillingAccountId,
    pub billing_profile_id: BillingProfileId,
    pub linked_at: time::OffsetDateTime,
    pub linked_by: String,
    pub unlinked_at: Option<time::OffsetDateTime>,
    pub unlinked_by: Option<String>,
}

impl BillingLink {
    pub fn target(&self) -> LinkTarget {
        LinkTarget { billing_account_id: self.billing_account_id, billing_profile_id: self.billing_profile_id }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LinkRow {
    id: String,
    billing_account_id: String,
    billing_profile_id: String,
    linked_at: Ts,
    linked_by: String,
    unlinked_at: Option<Ts>,
    unlinked_by: Option<String>,
}

pub(crate) const LINK_COLUMNS: &str = "id, billing_account_id, billing_profile_id, linked_at, linked_by, unlinked_at, unlinked_by";

impl TryFrom<LinkRow> for BillingLink {
    type Error = StoreError;
    fn try_from(r: LinkRow) -> Result<Self> {
        Ok(BillingLink {
            id: BillingLinkId::parse(&r.id).map_err(|e| corrupt("link id", e))?,
            billing_account_id: BillingAccountId::parse(&r.billing_account_id).map_err(|e| corrupt("billing account id", e))?,
            billing_profile_id: BillingProfileId::parse(&r.billing_profile_id).map_err(|e| corrupt("billing profile id", e))?,
            linked_at: r.linked_at.0,
            linked_by: r.linked_by,
            unlinked_at: r.unlinked_at.map(|t| t.0),
            unlinked_by: r.unlinked_by,
        })
    }
}

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

/// One acceptance record (rule M3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementAcceptance {
    pub id: AgreementAcceptanceId,
    pub billing_account_id: BillingAccountId,
    pub kind: String,
    pub agreement_version: String,
    pub accepted_by: String,
    pub accepted_at: time::OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AcceptanceRow {
    id: String,
    billing_account_id: String,
    kind: String,
    agreement_version: String,
    accepted_by: String,
    accepted_at: Ts,
}

impl TryFrom<AcceptanceRow> for AgreementAcceptance {
    type Error = StoreError;
    fn try_from(r: AcceptanceRow) -> Result<Self> {
        Ok(AgreementAcceptance {
            id: AgreementAcceptanceId::parse(&r.id).map_err(|e| corrupt("acceptance id", e))?,
            billing_account_id: BillingAccountId::parse(&r.billing_account_id).map_err(|e| corrupt("account id", e))?,
            kind: r.kind,
            agreement_version: r.agreement_version,
            accepted_by: r.accepted_by,
            accepted_at: r.accepted_at.0,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Empty when the identity provider never told us one.
    pub email: String,
    pub display_name: String,
    pub roles: UserRoles,
    pub created_at: time::OffsetDateTime,
}

impl User {
    /// Rule A1, as the stored roles say.
    pub fn is_global_admin(&self) -> bool {
        self.roles.is_global_admin()
    }
}
