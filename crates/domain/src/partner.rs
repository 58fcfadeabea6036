//! The partner account: its state and its legal profile (rules P2, N3).

use serde::{Deserialize, Serialize};

use crate::address::{Address, AddressInput, Contact, ContactInput};
use crate::text::clean_text;
use crate::validation::FieldErrors;

/// Lifecycle of a partner account. Only `Active` may link (rule P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerAccountState {
    Active,
    PendingVerification,
    Rejected,
    Suspended,
    Closed,
}

impl PartnerAccountState {
    pub const ALL: [PartnerAccountState; 5] = [
        PartnerAccountState::Active,
        PartnerAccountState::PendingVerification,
        PartnerAccountState::Rejected,
        PartnerAccountState::Suspended,
        PartnerAccountState::Closed,
    ];

    pub const fn as_str(&self) -> &'static str {
        match self {
            PartnerAccountState::Active => "active",
            PartnerAccountState::PendingVerification => "pending_verification",
            PartnerAccountState::Rejected => "rejected",
            PartnerAccountState::Suspended => "suspended",
            PartnerAccountState::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Rule P2: only an active partner account may link or change its link.
    pub fn may_link(&self) -> bool {
        matches!(self, PartnerAccountState::Active)
    }

    /// Words for people, used in problems and on pages.
    pub fn describe(&self) -> &'static str {
        match self {
            PartnerAccountState::Active => "active",
            PartnerAccountState::PendingVerification => "pending verification",
            PartnerAccountState::Rejected => "rejected",
            PartnerAccountState::Suspended => "suspended",
            PartnerAccountState::Closed => "closed",
        }
    }
}

impl std::fmt::Display for PartnerAccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verified legal identity of a partner: the source of every billing account's sold-to (rule N3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegalProfile {
    pub company_name: String,
    pub sold_to: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_contact: Option<Contact>,
}

impl LegalProfile {
    /// The profile after a verified change: fields the change names replace the current ones.
    pub fn apply(&self, change: &LegalProfileChange) -> LegalProfile {
        LegalProfile {
            company_name: change.company_name.clone().unwrap_or_else(|| self.company_name.clone()),
            sold_to: change.sold_to.clone().unwrap_or_else(|| self.sold_to.clone()),
            primary_contact: change.primary_contact.clone().or_else(|| self.primary_contact.clone()),
        }
    }
}

/// A legal profile as submitted in full (operator provisioning).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalProfileInput {
    pub company_name: Option<String>,
    pub sold_to: Option<AddressInput>,
    pub primary_contact: Option<ContactInput>,
}

impl LegalProfileInput {
    /// Parses a complete profile: company name and sold-to are required.
    pub fn parse(&self) -> Result<LegalProfile, FieldErrors> {
        let mut e = FieldErrors::new();
        let company_name = match &self.company_name {
            Some(n) => e.check("company_name", clean_text(n, 200)),
            None => {
                e.push("company_name", "required", "is required");
                None
            }
        };
        let sold_to = match &self.sold_to {
            Some(a) => e.nested("sold_to", a.parse()),
            None => {
                e.push("sold_to", "required", "is required");
                None
            }
        };
        let primary_contact = match &self.primary_contact {
            Some(c) => e.nested("primary_contact", c.parse()).map(Some),
            None => Some(None),
        };
        e.finish(|| Some(LegalProfile { company_name: company_name?, sold_to: sold_to?, primary_contact: primary_contact? }))
    }

    /// Parses a partial change: at least one field, each valid.
    pub fn parse_change(&self) -> Result<LegalProfileChange, FieldErrors> {
        let mut e = FieldErrors::new();
        if self.company_name.is_none() && self.sold_to.is_none() && self.primary_contact.is_none() {
            e.push("", "empty_change", "name at least one of company_name, sold_to, primary_contact");
            return Err(e);
        }
        let company_name = match &self.company_name {
            Some(n) => e.check("company_name", clean_text(n, 200)).map(Some),
            None => Some(None),
        };
        let sold_to = match &self.sold_to {
            Some(a) => e.nested("sold_to", a.parse()).map(Some),
            None => Some(None),
        };
        let primary_contact = match &self.primary_contact {
            Some(c) => e.nested("primary_contact", c.parse()).map(Some),
            None => Some(None),
        };
        e.finish(|| Some(LegalProfileChange { company_name: company_name?, sold_to: sold_to?, primary_contact: primary_contact? }))
    }
}

/// A submitted, not yet verified change to the legal profile. Nothing uses it until an operator
/// verifies it (rule N3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegalProfileChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_to: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_contact: Option<Contact>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CountryCode;

    fn profile_input() -> LegalProfileInput {
        LegalProfileInput {
            company_name: Some("Contoso Ltd".into()),
            sold_to: Some(AddressInput { address_line1: Some("1 Main St".into()), country: Some("US".into()), ..Default::default() }),
            primary_contact: None,
        }
    }

    #[test]
    fn state_names_round_trip_and_only_active_may_link() {
        for s in PartnerAccountState::ALL {
            assert_eq!(PartnerAccountState::parse(s.as_str()), Some(s));
            assert_eq!(s.may_link(), s == PartnerAccountState::Active);
        }
        assert_eq!(PartnerAccountState::parse("deleted"), None);
    }

    #[test]
    fn legal_profile_requires_company_and_sold_to() {
        let e = LegalProfileInput::default().parse().err().map(|e| e.0.len());
        assert_eq!(e, Some(2));
        assert!(profile_input().parse().is_ok());
    }

    #[test]
    fn legal_profile_nested_errors_name_the_path() {
        let mut i = profile_input();
        if let Some(a) = i.sold_to.as_mut() {
            a.country = Some("ZZ".into());
        }
        let fields: Vec<String> = i.parse().err().map(|e| e.0.into_iter().map(|e| e.field).collect()).unwrap_or_default();
        assert_eq!(fields, vec!["sold_to.country"]);
    }

    #[test]
    fn rule_n3_change_applies_only_named_fields() {
        let Ok(current) = profile_input().parse() else { panic!("valid input") };
        let change = LegalProfileInput {
            sold_to: Some(AddressInput { address_line1: Some("Via Roma 1".into()), country: Some("IT".into()), ..Default::default() }),
            ..Default::default()
        }
        .parse_change();
        let Ok(change) = change else { panic!("valid change") };
        let next = current.apply(&change);
        assert_eq!(next.company_name, "Contoso Ltd");
        assert_eq!(next.sold_to.country, CountryCode::ITALY);
    }

    #[test]
    fn empty_change_is_refused() {
        assert!(LegalProfileInput::default().parse_change().is_err());
    }
}
