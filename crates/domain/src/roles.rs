//! Directory, partner and billing roles (rules A1, A2, A5).

use serde::{Deserialize, Serialize};

/// Entra role template id of Global Administrator, as carried in a token's `wids` (rule A1).
pub const GLOBAL_ADMIN_TEMPLATE_ID: &str = "62e90394-69f5-4237-9190-012177145e10";

/// Directory roles known to this service; they come from the identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryRole {
    GlobalAdmin,
}

impl DirectoryRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdmin => "global_admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "global_admin" => Some(DirectoryRole::GlobalAdmin),
            _ => None,
        }
    }

    /// The Entra template id that stands for this role in `wids`.
    pub fn template_id(&self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdmin => GLOBAL_ADMIN_TEMPLATE_ID,
        }
    }

    /// The roles a token's `wids` name; template ids this service does not know are ignored.
    pub fn from_wids<S: AsRef<str>>(wids: &[S]) -> Vec<DirectoryRole> {
        let mut roles: Vec<DirectoryRole> = [DirectoryRole::GlobalAdmin]
            .into_iter()
            .filter(|r| wids.iter().any(|w| w.as_ref().trim().eq_ignore_ascii_case(r.template_id())))
            .collect();
        roles.dedup();
        roles
    }
}

/// The directory and partner roles of a user, as stored by this service (directory roles refreshed
/// from the identity provider whenever the user is seen). Every decision that hangs on them is
/// made here, once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRoles {
    pub directory: Vec<DirectoryRole>,
    pub partner: Vec<PartnerRole>,
}

impl UserRoles {
    /// Rule A1: linking or changing the link needs the tenant's Global administrator.
    pub fn is_global_admin(&self) -> bool {
        self.directory.contains(&DirectoryRole::GlobalAdmin)
    }

    pub fn has_partner_role(&self, role: PartnerRole) -> bool {
        self.partner.contains(&role)
    }

    /// The legal profile is changed by a global admin or the partner's account admin.
    pub fn may_edit_legal_profile(&self) -> bool {
        self.is_global_admin() || self.has_partner_role(PartnerRole::AccountAdmin)
    }

    /// Rule A5: membership purchases are made by the MCPP admin or a global admin.
    pub fn may_purchase(&self) -> bool {
        self.is_global_admin() || self.has_partner_role(PartnerRole::McppAdmin)
    }
}

/// Roles of the partner program, stored by this service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerRole {
    /// The partner program ("MCPP") admin: makes membership purchases (rule A5).
    McppAdmin,
    /// Manages the partner account's settings such as the legal profile.
    AccountAdmin,
}

impl PartnerRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            PartnerRole::McppAdmin => "mcpp_admin",
            PartnerRole::AccountAdmin => "account_admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "mcpp_admin" => Some(PartnerRole::McppAdmin),
            "account_admin" => Some(PartnerRole::AccountAdmin),
            _ => None,
        }
    }
}

/// Where a billing role applies (rule A2); a role on a scope applies to everything below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingScopeKind {
    BillingAccount,
    BillingProfile,
    InvoiceSection,
}

impl BillingScopeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            BillingScopeKind::BillingAccount => "billing_account",
            BillingScopeKind::BillingProfile => "billing_profile",
            BillingScopeKind::InvoiceSection => "invoice_section",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "billing_account" => Some(Self::BillingAccount),
            "billing_profile" => Some(Self::BillingProfile),
            "invoice_section" => Some(Self::InvoiceSection),
            _ => None,
        }
    }
}

/// Billing roles (rule A2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingRole {
    Owner,
    Contributor,
    Reader,
    InvoiceManager,
    SubscriptionCreator,
}

impl BillingRole {
    pub const ALL: [BillingRole; 5] =
        [BillingRole::Owner, BillingRole::Contributor, BillingRole::Reader, BillingRole::InvoiceManager, BillingRole::SubscriptionCreator];

    pub fn as_str(&self) -> &'static str {
        match self {
            BillingRole::Owner => "owner",
            BillingRole::Contributor => "contributor",
            BillingRole::Reader => "reader",
            BillingRole::InvoiceManager => "invoice_manager",
            BillingRole::SubscriptionCreator => "subscription_creator",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Self::Owner),
            "contributor" => Some(Self::Contributor),
            "reader" => Some(Self::Reader),
            "invoice_manager" => Some(Self::InvoiceManager),
            "subscription_creator" => Some(Self::SubscriptionCreator),
            _ => None,
        }
    }

    /// Rule A2: which roles exist at which scope.
    pub fn allowed_at(&self, scope: BillingScopeKind) -> bool {
        match self {
            BillingRole::Owner | BillingRole::Contributor | BillingRole::Reader => true,
            BillingRole::InvoiceManager => scope == BillingScopeKind::BillingProfile,
            BillingRole::SubscriptionCreator => scope == BillingScopeKind::InvoiceSection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_a2_roles_exist_only_at_their_scopes() {
        use BillingScopeKind::*;
        assert!(BillingRole::Owner.allowed_at(BillingAccount));
        assert!(BillingRole::InvoiceManager.allowed_at(BillingProfile));
        assert!(!BillingRole::InvoiceManager.allowed_at(BillingAccount));
        assert!(BillingRole::SubscriptionCreator.allowed_at(InvoiceSection));
        assert!(!BillingRole::SubscriptionCreator.allowed_at(BillingProfile));
    }

    #[test]
    fn rule_a1_global_admin_comes_from_the_template_id_in_wids() {
        let upper = GLOBAL_ADMIN_TEMPLATE_ID.to_uppercase();
        assert_eq!(DirectoryRole::from_wids(&[upper.as_str(), "some-other-role"]), vec![DirectoryRole::GlobalAdmin]);
        assert_eq!(DirectoryRole::from_wids::<&str>(&[]), vec![]);
        let ga = UserRoles { directory: vec![DirectoryRole::GlobalAdmin], partner: vec![] };
        assert!(ga.is_global_admin() && ga.may_edit_legal_profile() && ga.may_purchase());
        let aa = UserRoles { directory: vec![], partner: vec![PartnerRole::AccountAdmin] };
        assert!(!aa.is_global_admin() && aa.may_edit_legal_profile() && !aa.may_purchase());
        let mcpp = UserRoles { directory: vec![], partner: vec![PartnerRole::McppAdmin] };
        assert!(!mcpp.may_edit_legal_profile() && mcpp.may_purchase());
        assert!(!UserRoles::default().may_purchase());
    }

    #[test]
    fn role_names_round_trip() {
        for r in [
            BillingRole::Owner,
            BillingRole::Contributor,
            BillingRole::Reader,
            BillingRole::InvoiceManager,
            BillingRole::SubscriptionCreator,
        ] {
            assert_eq!(BillingRole::parse(r.as_str()), Some(r));
        }
        for r in [PartnerRole::McppAdmin, PartnerRole::AccountAdmin] {
            assert_eq!(PartnerRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(DirectoryRole::parse("global_admin"), Some(DirectoryRole::GlobalAdmin));
        assert_eq!(PartnerRole::parse("global_admin"), None);
    }
}
