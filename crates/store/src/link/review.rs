//! Review before Finish (rules N7, M1, M2, N4, N6, C4, C5): what Finish would do, decided by the
//! domain, read in one transaction.

use pb_domain::billing::agreement_needs;
use pb_domain::link::review_warnings;
use pb_domain::{BillingAccountId, BillingProfileId, LinkEffects, LinkTarget};

use super::LinkReview;
use super::finish::{link_preconditions, profile_belongs};
use crate::model::BillingLink;
use crate::read::{acceptances_of, account_in_tx, current_link_in_tx, profile_in_tx};
use crate::{Result, Store, UserCtx};

impl Store {
    /// What Finish would do for this account and profile.
    pub async fn review_link(&self, cx: &UserCtx, account: BillingAccountId, profile: BillingProfileId) -> Result<LinkReview> {
        let mut tx = self.db.begin().await?;
        let partner = link_preconditions(&mut tx, cx, false).await?;
        let account = account_in_tx(&mut tx, cx.tenant(), account, false).await?;
        let profile = profile_in_tx(&mut tx, cx.tenant(), profile).await?;
        profile_belongs(&account, &profile)?;
        let (mca, secondary) = acceptances_of(&mut tx, account.id).await?;
        let current = current_link_in_tx(&mut tx, partner.id).await?;
        tx.commit().await?;
        let target = LinkTarget { billing_account_id: account.id, billing_profile_id: profile.id };
        Ok(LinkReview {
            needs: agreement_needs(account.sold_to.country, mca, secondary),
            mca_already_accepted: mca,
            effects: LinkEffects::of(current.as_ref().map(BillingLink::target), target),
            warnings: review_warnings(account.primary_contact.is_some(), !profile.payment_instruments.is_empty()),
            link_version: partner.link_version,
            account,
            profile,
            current,
            partner,
        })
    }
}
