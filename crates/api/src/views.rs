//! Response bodies: what the API shows of the store's values.

use pb_app::AppConfig;
use pb_domain::billing::partner_account_warnings;
use pb_domain::link::account_warnings;
use pb_domain::{BillingWarning, LegalProfile, LegalProfileChange, PartnerAccountState};
use pb_store::{AuditRecord, PartnerOverview, Tenant, User};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub domain: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        TenantView { id: t.id.to_string(), name: t.name.clone(), domain: t.domain.clone(), created_at: t.created_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The user's `oid`.
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub display_name: String,
    pub directory_roles: Vec<String>,
    pub partner_roles: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.to_string(),
            tenant_id: u.tenant_id.to_string(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            directory_roles: u.roles.directory.iter().map(|r| r.as_str().to_owned()).collect(),
            partner_roles: u.roles.partner.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingLegalProfileView {
    #[serde(flatten)]
    pub change: LegalProfileChange,
    pub submitted_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    pub status: &'static str,
}

/// A billing link: the pair the partner account's purchases are billed to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    pub billing_account_id: String,
    pub billing_profile_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub linked_at: OffsetDateTime,
    pub linked_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub unlinked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerAccountView {
    pub id: String,
    pub tenant_id: String,
    pub partner_id: String,
    pub name: String,
    pub state: PartnerAccountState,
    /// The verified legal profile: the only one used elsewhere (rule N3).
    pub legal_profile: LegalProfile,
    pub pending_legal_profile: Option<PendingLegalProfileView>,
    pub billing_link: Option<LinkView>,
    /// Whether membership purchases can go through now.
    pub purchase_ready: bool,
    pub warnings: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl PartnerAccountView {
    /// The partner account with its link and what the store decided stops purchases (rule M4).
    pub fn new(o: &PartnerOverview) -> Self {
        let p = &o.partner;
        let warnings = partner_account_warnings(&o.blockers, p.legal_profile.primary_contact.is_some());
        PartnerAccountView {
            id: p.id.to_string(),
            tenant_id: p.tenant_id.to_string(),
            partner_id: p.partner_id.clone(),
            name: p.name.clone(),
            state: p.state,
            legal_profile: p.legal_profile.clone(),
            pending_legal_profile: p.pending_legal_profile.as_ref().map(|x| PendingLegalProfileView {
                change: x.change.clone(),
                submitted_by: x.submitted_by.clone(),
                submitted_at: x.submitted_at,
                status: "pending_verification",
            }),
            purchase_ready: o.blockers.is_empty(),
            billing_link: o.link.as_ref().map(LinkView::from),
            warnings: warnings.into_iter().map(str::to_owned).collect(),
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordView {
    pub id: String,
    pub tenant_id: Option<String>,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    /// The target before the change; null for a creation.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The target after the change; null for a removal.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `global_admin_as_owner` when a global admin acted as owner of someone else's billing account
    /// inside the link flow (rule A3); null otherwise.
    pub acted_as: Option<String>,
}

impl From<&AuditRecord> for AuditRecordView {
    fn from(a: &AuditRecord) -> Self {
        AuditRecordView {
            id: a.id.to_string(),
            tenant_id: a.tenant_id.map(|t| t.to_string()),
            actor_kind: a.actor_kind.clone(),
            actor_id: a.actor_id.clone(),
            action: a.action.clone(),
            target_kind: a.target_kind.clone(),
            target_id: a.target_id.clone(),
            before: a.before.clone(),
            after: a.after.clone(),
            request_id: a.request_id.clone(),
            at: a.at,
            acted_as: a.acted_as.clone(),
        }
    }
}

/// A page of a list (api.md "Lists").
#[derive(Debug, Serialize, ToSchema)]
pub struct ListView<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceSectionView {
    pub id: String,
    pub billing_profile_id: String,
    pub display_name: String,
    pub is_default: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&pb_store::InvoiceSection> for InvoiceSectionView {
    fn from(s: &pb_store::InvoiceSection) -> Self {
        InvoiceSectionView {
            id: s.id.to_string(),
            billing_profile_id: s.billing_profile_id.to_string(),
            display_name: s.display_name.clone(),
            is_default: s.is_default,
            created_at: s.created_at,
        }
    }
}

/// A payment instrument as shown: the kind and a hint, never the processor token.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentInstrumentView {
    pub id: String,
    pub billing_profile_id: String,
    pub kind: pb_domain::PaymentInstrumentKind,
    pub display_hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&pb_store::PaymentInstrument> for PaymentInstrumentView {
    fn from(p: &pb_store::PaymentInstrument) -> Self {
        PaymentInstrumentView {
            id: p.id.to_string(),
            billing_profile_id: p.billing_profile_id.to_string(),
            kind: p.kind,
            display_hint: p.display_hint.clone(),
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BillingProfileView {
    pub id: String,
    pub billing_account_id: String,
    pub display_name: String,
    pub currency: String,
    pub invoice_sections: Vec<InvoiceSectionView>,
    /// Empty until one is added; shown as "None" (rule N6).
    pub payment_instruments: Vec<PaymentInstrumentView>,
    /// "None" or the hint of the first instrument.
    pub payment_instrument_summary: String,
    pub details_url: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl BillingProfileView {
    pub fn new(p: &pb_store::BillingProfile, config: &AppConfig) -> Self {
        BillingProfileView {
            id: p.id.to_string(),
            billing_account_id: p.billing_account_id.to_string(),
            display_name: p.display_name.clone(),
            currency: p.currency.to_string(),
            invoice_sections: p.invoice_sections.iter().map(InvoiceSectionView::from).collect(),
            payment_instruments: p.payment_instruments.iter().map(PaymentInstrumentView::from).collect(),
            payment_instrument_summary: p.payment_instruments.first().map(|i| i.display_hint.clone()).unwrap_or_else(|| "None".into()),
            details_url: config.details_url(&p.id),
            created_by: p.created_by.clone(),
            created_at: p.created_at,
        }
    }
}

/// The stable codes of warnings (rules N4, N6).
pub fn warning_codes(w: &[BillingWarning]) -> Vec<String> {
    w.iter().map(|w| w.code().to_owned()).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BillingAccountView {
    pub id: String,
    pub display_name: String,
    pub company_name: String,
    /// From the verified legal profile; not editable here (rule N3).
    pub sold_to: pb_domain::Address,
    pub primary_contact: Option<pb_domain::Contact>,
    pub warnings: Vec<String>,
    pub agreement_accepted: bool,
    pub billing_profiles: Vec<BillingProfileView>,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl BillingAccountView {
    pub fn new(a: &pb_store::BillingAccount, profiles: &[pb_store::BillingProfile], agreement_accepted: bool, config: &AppConfig) -> Self {
        BillingAccountView {
            id: a.id.to_string(),
            display_name: a.display_name.clone(),
            company_name: a.company_name.clone(),
            sold_to: a.sold_to.clone(),
            primary_contact: a.primary_contact.clone(),
            warnings: warning_codes(&account_warnings(a.primary_contact.is_some())),
            agreement_accepted,
            billing_profiles: profiles.iter().map(|p| BillingProfileView::new(p, config)).collect(),
            created_by: a.created_by.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }

    pub fn of(a: &pb_store::BillingAccountWithProfiles, config: &AppConfig) -> Self {
        Self::new(&a.account, &a.profiles, a.agreement_accepted, config)
    }
}

impl From<&pb_store::BillingLink> for LinkView {
    fn from(l: &pb_store::BillingLink) -> Self {
        LinkView {
            billing_account_id: l.billing_account_id.to_string(),
            billing_profile_id: l.billing_profile_id.to_string(),
            linked_at: l.linked_at,
            linked_by: l.linked_by.clone(),
            unlinked_at: l.unlinked_at,
        }
    }
}
