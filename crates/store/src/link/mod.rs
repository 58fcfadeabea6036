//! The billing link: review what Finish would do, link or change (the create-new flow and the
//! existing-pair flow are one use case), and the history (rules P1–P3, N7–N9, E1–E3, C1–C6, M1–M3).

mod finish;
mod history;
mod review;

use pb_domain::billing::AgreementNeeds;
use pb_domain::{BillingAccountId, BillingProfileId, BillingWarning, DisplayName, LinkEffects};

use crate::billing::NewBillingAccount;
use crate::model::{BillingAccount, BillingLink, BillingProfile, PartnerAccount};

/// What Finish would do, for the review step (rule N7).
#[derive(Debug, Clone)]
pub struct LinkReview {
    pub account: BillingAccount,
    pub profile: BillingProfile,
    pub needs: AgreementNeeds,
    pub mca_already_accepted: bool,
    pub current: Option<BillingLink>,
    /// Rules C4, C5: how Finish changes the link.
    pub effects: LinkEffects,
    /// Rules N4, N6.
    pub warnings: Vec<BillingWarning>,
    /// The link version to send as `If-Match`.
    pub link_version: i64,
    pub partner: PartnerAccount,
}

/// A request to link or change the link (`PUT /billing-link`).
#[derive(Debug, Clone)]
pub struct LinkCommand {
    pub billing_account_id: BillingAccountId,
    pub billing_profile_id: BillingProfileId,
    pub accept_agreement: bool,
    pub accept_secondary_acknowledgement: bool,
    /// The link version the caller saw (`If-Match`); required once a link exists (rule C6).
    pub if_match: Option<i64>,
}

/// The account of the create-new flow: an existing one or one created now.
#[derive(Debug, Clone)]
pub enum AccountChoice {
    Existing(BillingAccountId),
    New(NewBillingAccount),
}

#[derive(Debug, Clone)]
pub enum ProfileChoice {
    Existing(BillingProfileId),
    New(DisplayName),
}

/// The whole create-new flow in one call (`POST /billing-link/setup`, rule N8).
#[derive(Debug, Clone)]
pub struct SetupCommand {
    pub account: AccountChoice,
    pub profile: ProfileChoice,
    pub accept_agreement: bool,
    pub accept_secondary_acknowledgement: bool,
    pub if_match: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct LinkOutcome {
    pub link: BillingLink,
    /// Rules C4, C5: what Finish did; `Unchanged` when the request named the link in force.
    pub effects: LinkEffects,
    pub link_version: i64,
    pub account: BillingAccount,
    /// Every profile of the account after the change, oldest first.
    pub account_profiles: Vec<BillingProfile>,
    pub profile: BillingProfile,
    pub previous: Option<BillingLink>,
}

impl LinkOutcome {
    /// False when the request named the link already in force (rule C5).
    pub fn changed(&self) -> bool {
        self.effects.changes_link()
    }
}
