//! What Finish will do (rules C4, C5) and what the review warns about (rules N4, N6), as values that
//! the API, the pages and the notifications each put into their own words.

use crate::ids::{BillingAccountId, BillingProfileId};

/// A billing account and one of its profiles: what a link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkTarget {
    pub billing_account_id: BillingAccountId,
    pub billing_profile_id: BillingProfileId,
}

/// How Finish changes the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEffect {
    /// Rule C5: the selection is the link already in force; nothing changes, no history row.
    Unchanged,
    /// Nothing was linked: purchases from now on are billed to the target.
    FirstLink,
    /// Rule C4: purchases after Finish are billed to the target; earlier purchases and their
    /// invoices stay on `from`.
    Move { from: LinkTarget },
}

/// The effect of Finish and the pair it leaves linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkEffects {
    pub target: LinkTarget,
    pub effect: LinkEffect,
}

impl LinkEffects {
    /// Rules C4, C5: what linking `target` does when `current` is in force.
    pub fn of(current: Option<LinkTarget>, target: LinkTarget) -> LinkEffects {
        let effect = match current {
            Some(c) if c == target => LinkEffect::Unchanged,
            Some(from) => LinkEffect::Move { from },
            None => LinkEffect::FirstLink,
        };
        LinkEffects { target, effect }
    }

    pub fn changes_link(&self) -> bool {
        self.effect != LinkEffect::Unchanged
    }

    /// Where earlier purchases stay, when Finish moves the link.
    pub fn earlier_purchases_stay_on(&self) -> Option<LinkTarget> {
        match self.effect {
            LinkEffect::Move { from } => Some(from),
            _ => None,
        }
    }
}

/// Something the link flow warns about without refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingWarning {
    /// Rule N4: the billing account has no primary contact; purchases billed to it will be refused.
    PrimaryContactMissing,
    /// Rule N6: the profile's payment instrument is "None" until one is added.
    PaymentInstrumentMissing,
}

impl BillingWarning {
    /// The stable code the API shows.
    pub fn code(&self) -> &'static str {
        match self {
            BillingWarning::PrimaryContactMissing => "primary_contact_missing",
            BillingWarning::PaymentInstrumentMissing => "payment_instrument_missing",
        }
    }
}

/// Rule N4: what a billing account warns about wherever it is shown.
pub fn account_warnings(has_primary_contact: bool) -> Vec<BillingWarning> {
    if has_primary_contact { Vec::new() } else { vec![BillingWarning::PrimaryContactMissing] }
}

/// Rules N4, N6: what the review warns about for this account and profile.
pub fn review_warnings(account_has_primary_contact: bool, profile_has_instrument: bool) -> Vec<BillingWarning> {
    let mut w = account_warnings(account_has_primary_contact);
    if !profile_has_instrument {
        w.push(BillingWarning::PaymentInstrumentMissing);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LinkTarget {
        LinkTarget { billing_account_id: BillingAccountId::new(), billing_profile_id: BillingProfileId::new() }
    }

    #[test]
    fn rule_c5_selecting_the_link_in_force_changes_nothing() {
        let t = target();
        let e = LinkEffects::of(Some(t), t);
        assert_eq!(e.effect, LinkEffect::Unchanged);
        assert!(!e.changes_link());
        assert_eq!(e.earlier_purchases_stay_on(), None);
    }

    #[test]
    fn rule_c4_a_change_moves_later_purchases_and_leaves_earlier_ones() {
        let (old, new) = (target(), target());
        let e = LinkEffects::of(Some(old), new);
        assert_eq!(e.effect, LinkEffect::Move { from: old });
        assert_eq!(e.earlier_purchases_stay_on(), Some(old));
        assert_eq!(e.target, new);
        assert_eq!(LinkEffects::of(None, new).effect, LinkEffect::FirstLink);
    }

    #[test]
    fn rule_n4_and_n6_review_warnings() {
        use BillingWarning::*;
        assert_eq!(review_warnings(true, true), vec![]);
        assert_eq!(review_warnings(false, false), vec![PrimaryContactMissing, PaymentInstrumentMissing]);
        assert_eq!(account_warnings(false).iter().map(BillingWarning::code).collect::<Vec<_>>(), vec!["primary_contact_missing"]);
    }
}
