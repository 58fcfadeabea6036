//! Response bodies: what the API shows of the store's values.

use pb_domain::{LegalProfile, LegalProfileChange, PartnerAccountState};
use pb_store::{AuditRecord, PartnerAccount, Tenant, User};
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
            directory_roles: u.directory_roles.iter().map(|r| r.as_str().to_owned()).collect(),
            partner_roles: u.partner_roles.iter().map(|r| r.as_str().to_owned()).collect(),
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
    pub fn new(p: &PartnerAccount, billing_link: Option<LinkView>) -> Self {
        let mut warnings = Vec::new();
        if !p.state.may_link() {
            warnings.push("partner_account_not_active".to_owned());
        }
        if billing_link.is_none() {
            warnings.push("billing_link_required".to_owned());
        }
        if p.legal_profile.primary_contact.is_none() {
            warnings.push("primary_contact_missing".to_owned());
        }
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
            purchase_ready: p.state.may_link() && billing_link.is_some(),
            billing_link,
            warnings,
            updated_at: p.updated_at,
        }
    }

    /// The `ETag` of a partner account: its link version (rule C6).
    pub fn etag(p: &PartnerAccount) -> String {
        format!("\"{}\"", p.link_version)
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
    #[schema(value_type = Object)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
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
        }
    }
}

/// A page of a list (api.md "Lists").
#[derive(Debug, Serialize, ToSchema)]
pub struct ListView<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
