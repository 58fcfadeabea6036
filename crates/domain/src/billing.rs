//! The rules of billing accounts, profiles and the link, as plain functions (rules A2, A3, C3, M1–M3,
//! N4, N6).

use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::money::Currency;
use crate::roles::BillingRole;

/// The version of the customer agreement accepted by Finish (rule M3 records it).
pub const AGREEMENT_VERSION: &str = "MCA-2024-01";

/// What the agreement asks for on a billing account (rules M1, M2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgreementNeeds {
    /// The MCA has not been accepted for this account yet: the checkbox must be ticked.
    pub mca_required: bool,
    /// The account's sold-to is in Italy and this is the first acceptance: a second, separate
    /// acknowledgement is needed too.
    pub secondary_required: bool,
}

/// Rules M1 and M2: what Finish must collect for an account with this sold-to country, given which
/// acceptances already exist.
pub fn agreement_needs(country: CountryCode, mca_accepted: bool, secondary_accepted: bool) -> AgreementNeeds {
    let mca_required = !mca_accepted;
    let secondary_required = country == CountryCode::ITALY && !mca_accepted && !secondary_accepted;
    AgreementNeeds { mca_required, secondary_required }
}

/// Why Finish cannot record the agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AgreementRefusal {
    #[error("the Microsoft Customer Agreement must be accepted for this billing account (tick accept_agreement)")]
    NotAccepted,
    #[error("the billing account's sold-to address is in Italy: the secondary acknowledgement of the agreement is required too")]
    SecondaryAcknowledgementRequired,
}

/// Rules M1, M2: checks the checkboxes against the needs.
pub fn check_agreement(needs: AgreementNeeds, accept_agreement: bool, accept_secondary: bool) -> Result<(), AgreementRefusal> {
    if needs.mca_required && !accept_agreement {
        return Err(AgreementRefusal::NotAccepted);
    }
    if needs.secondary_required && !accept_secondary {
        return Err(AgreementRefusal::SecondaryAcknowledgementRequired);
    }
    Ok(())
}

/// The currency a new billing profile bills in, from its account's sold-to country.
pub fn currency_for_country(country: CountryCode) -> Currency {
    const EURO: &[&str] =
        &["AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK"];
    let c = country.as_str();
    if EURO.contains(&c) {
        return Currency::EUR;
    }
    let code = match c {
        "GB" => "GBP",
        "JP" => "JPY",
        "CA" => "CAD",
        "AU" => "AUD",
        "CH" => "CHF",
        "IN" => "INR",
        "BR" => "BRL",
        "DK" => "DKK",
        "SE" => "SEK",
        "NO" => "NOK",
        _ => "USD",
    };
    Currency::parse(code).unwrap_or(Currency::USD)
}

/// Why membership purchases cannot go through now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseBlocker {
    /// Rule P2: the partner account is not active.
    PartnerAccountNotActive(crate::PartnerAccountState),
    /// Rule B1: nothing is linked.
    BillingLinkRequired,
    /// Rules N4, M4: the linked billing account has no primary contact.
    PrimaryContactRequired,
}

impl PurchaseBlocker {
    /// The stable warning code shown by the API.
    pub fn code(&self) -> &'static str {
        match self {
            PurchaseBlocker::PartnerAccountNotActive(_) => "partner_account_not_active",
            PurchaseBlocker::BillingLinkRequired => "billing_link_required",
            PurchaseBlocker::PrimaryContactRequired => "billing_account_primary_contact_missing",
        }
    }
}

/// Everything that stops a membership purchase now; empty means purchases can go through.
/// `linked_account_has_contact` is `None` when nothing is linked.
pub fn purchase_blockers(state: crate::PartnerAccountState, linked_account_has_contact: Option<bool>) -> Vec<PurchaseBlocker> {
    let mut blockers = Vec::new();
    if !state.may_link() {
        blockers.push(PurchaseBlocker::PartnerAccountNotActive(state));
    }
    match linked_account_has_contact {
        None => blockers.push(PurchaseBlocker::BillingLinkRequired),
        Some(false) => blockers.push(PurchaseBlocker::PrimaryContactRequired),
        Some(true) => {}
    }
    blockers
}

/// What `GET /partner-account` warns about: every purchase blocker (rules B1, M4, P2), and a legal
/// profile without a primary contact (rule N4).
pub fn partner_account_warnings(blockers: &[PurchaseBlocker], legal_profile_has_contact: bool) -> Vec<&'static str> {
    let mut w: Vec<&'static str> = blockers.iter().map(PurchaseBlocker::code).collect();
    if !legal_profile_has_contact {
        w.push("primary_contact_missing");
    }
    w
}

/// What a caller may do on a billing scope (rule A2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingAction {
    Read,
    /// Create, rename or remove things at and below the scope (profiles, sections, instruments).
    Manage,
    ManageRoles,
    /// Accept the customer agreement for a billing account (an owner's act, rule A3).
    AcceptAgreement,
    PayInvoices,
    CreateSubscriptions,
}

/// Rule A2: the one permission table. A role held on a scope applies to everything below it, so the
/// caller passes every role held on the target and its ancestors.
pub fn role_permits(role: BillingRole, action: BillingAction) -> bool {
    use BillingAction::*;
    use BillingRole::*;
    match role {
        Owner => true,
        Contributor => !matches!(action, ManageRoles | AcceptAgreement),
        Reader => matches!(action, Read),
        InvoiceManager => matches!(action, Read | PayInvoices),
        SubscriptionCreator => matches!(action, Read | CreateSubscriptions),
    }
}

pub fn any_role_permits(roles: &[BillingRole], action: BillingAction) -> bool {
    roles.iter().any(|r| role_permits(*r, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_m1_nothing_needed_once_accepted() {
        let n = agreement_needs(CountryCode::UNITED_STATES, true, false);
        assert_eq!(n, AgreementNeeds { mca_required: false, secondary_required: false });
        assert_eq!(check_agreement(n, false, false), Ok(()));
        let n = agreement_needs(CountryCode::UNITED_STATES, false, false);
        assert_eq!(check_agreement(n, false, false), Err(AgreementRefusal::NotAccepted));
        assert_eq!(check_agreement(n, true, false), Ok(()));
    }

    #[test]
    fn rule_m2_italy_needs_a_second_acknowledgement_the_first_time() {
        let n = agreement_needs(CountryCode::ITALY, false, false);
        assert!(n.mca_required && n.secondary_required);
        assert_eq!(check_agreement(n, true, false), Err(AgreementRefusal::SecondaryAcknowledgementRequired));
        assert_eq!(check_agreement(n, true, true), Ok(()));
        assert!(!agreement_needs(CountryCode::ITALY, true, true).secondary_required);
    }

    #[test]
    fn rule_a2_permission_table() {
        use BillingAction::*;
        assert!(role_permits(BillingRole::Owner, ManageRoles));
        assert!(role_permits(BillingRole::Contributor, Manage));
        assert!(!role_permits(BillingRole::Contributor, ManageRoles));
        assert!(role_permits(BillingRole::Reader, Read));
        assert!(!role_permits(BillingRole::Reader, Manage));
        assert!(role_permits(BillingRole::InvoiceManager, PayInvoices));
        assert!(!role_permits(BillingRole::InvoiceManager, Manage));
        assert!(role_permits(BillingRole::SubscriptionCreator, CreateSubscriptions));
        assert!(!role_permits(BillingRole::SubscriptionCreator, Manage));
    }

    #[test]
    fn rule_m4_purchases_need_an_active_account_a_link_and_a_primary_contact() {
        use crate::PartnerAccountState::*;
        assert_eq!(purchase_blockers(Active, Some(true)), vec![]);
        assert_eq!(purchase_blockers(Active, Some(false)), vec![PurchaseBlocker::PrimaryContactRequired]);
        assert_eq!(
            purchase_blockers(Suspended, None),
            vec![PurchaseBlocker::PartnerAccountNotActive(Suspended), PurchaseBlocker::BillingLinkRequired]
        );
    }

    #[test]
    fn profile_currency_follows_sold_to() {
        assert_eq!(currency_for_country(CountryCode::ITALY), Currency::EUR);
        assert_eq!(currency_for_country(CountryCode::UNITED_STATES), Currency::USD);
    }
}
