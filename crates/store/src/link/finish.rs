//! Finish: link or change the link, creating whatever the flow asked for, all in one transaction
//! (rules N8, E3, C1–C6, M1–M3, T2, U1).

use pb_domain::billing::{AGREEMENT_VERSION, BillingAction, agreement_needs, check_agreement};
use pb_domain::{AgreementAcceptanceId, BillingAccountId, BillingLinkId, LinkEffect, LinkEffects, TenantId};
use serde_json::json;

use super::{AccountChoice, LinkCommand, LinkOutcome, ProfileChoice, SetupCommand};
use crate::access::{Flow, require_global_admin, require_on_account};
use crate::audit::{NewAudit, write_audit, write_audit_as};
use crate::billing::{insert_account, insert_profile};
use crate::db::{Tx, args};
use crate::model::{BillingAccount, BillingLink, BillingProfile, PartnerAccount};
use crate::notify::{Announcement, Audience, announce};
use crate::read::{acceptances_of, account_in_tx, current_link_in_tx, partner_in_tx, profile_in_tx};
use crate::{Result, Store, StoreError, Ts, UserCtx};

/// Rules P1–P3: a global admin of this tenant, whose partner account is active. `lock` takes the
/// partner account's row lock for a transaction that will change the link (rule C6).
pub(super) async fn link_preconditions(tx: &mut Tx, cx: &UserCtx, lock: bool) -> Result<PartnerAccount> {
    require_global_admin(cx)?;
    let partner = partner_in_tx(tx, cx.tenant(), lock).await?.ok_or(StoreError::NotFound("partner account"))?;
    if !partner.state.may_link() {
        return Err(StoreError::PartnerAccountNotActive(partner.state));
    }
    Ok(partner)
}

/// Rule C6: once a link exists a change says which version it replaces, and that must be current.
fn check_version(partner: &PartnerAccount, current: &Option<BillingLink>, if_match: Option<i64>) -> Result<()> {
    match (current, if_match) {
        (Some(_), None) => Err(StoreError::PreconditionRequired),
        (_, Some(v)) if v != partner.link_version => Err(StoreError::PreconditionFailed { expected: v, current: partner.link_version }),
        _ => Ok(()),
    }
}

/// Rule E2: the profile belongs to the selected account.
pub(super) fn profile_belongs(account: &BillingAccount, profile: &BillingProfile) -> Result<()> {
    if profile.billing_account_id != account.id {
        return Err(StoreError::Invalid {
            field: "billing_profile_id",
            code: "profile_not_in_account",
            message: format!("billing profile {} belongs to another billing account, not {}", profile.id, account.id),
        });
    }
    Ok(())
}

fn link_json(l: &BillingLink) -> serde_json::Value {
    json!({"link_id": l.id.to_string(), "billing_account_id": l.billing_account_id.to_string(), "billing_profile_id": l.billing_profile_id.to_string()})
}

/// Rule T2's words: what the global admins and MCPP admins are told.
fn announcement(effects: &LinkEffects, account: &BillingAccount, profile: &BillingProfile) -> Announcement {
    let (title, body) = match effects.effect {
        LinkEffect::Move { .. } => (
            "Billing link changed".to_owned(),
            format!(
                "From now on purchases are billed to billing profile {} of billing account {}. Earlier purchases and their invoices stay where they were.",
                profile.display_name, account.display_name
            ),
        ),
        _ => (
            "Billing account and profile linked".to_owned(),
            format!(
                "Billing account {} and billing profile {} are now linked to the partner account. Membership purchases can go ahead.",
                account.display_name, profile.display_name
            ),
        ),
    };
    Announcement { kind: "billing_link", title, body, action_url: Some("/account/billing-profile".into()) }
}

async fn record_acceptance(tx: &mut Tx, cx: &UserCtx, now: Ts, account: BillingAccountId, kind: &'static str) -> Result<()> {
    // Accepting an account's agreement is the owner's act; the global admin does it as owner here.
    let authority = require_on_account(tx, cx, account, BillingAction::AcceptAgreement, Flow::LinkFlow).await?;
    let id = AgreementAcceptanceId::new();
    tx.execute(
        "INSERT INTO agreement_acceptances (id, tenant_id, billing_account_id, kind, agreement_version, accepted_by, accepted_at, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![id, cx.tenant(), account, kind, AGREEMENT_VERSION, cx.user_id(), now, cx.request_id()],
    )
    .await?;
    let audit = NewAudit {
        tenant_id: Some(cx.tenant()),
        action: if kind == "mca" { "agreement.accept" } else { "agreement.secondary_acknowledge" },
        target_kind: "billing_account",
        target_id: account.to_string(),
        before: None,
        after: Some(json!({"acceptance_id": id.to_string(), "kind": kind, "agreement_version": AGREEMENT_VERSION})),
    };
    write_audit_as(tx, cx.ctx(), now, audit, authority).await
}

/// The parts of a Finish, gathered by the caller inside its transaction.
struct Finish {
    partner: PartnerAccount,
    current: Option<BillingLink>,
    account: BillingAccount,
    profile: BillingProfile,
    accept_agreement: bool,
    accept_secondary: bool,
}

/// Records acceptances as needed, closes the current link, opens the new one and bumps the version;
/// all in the caller's transaction. The caller has checked P1–P3 and the version.
async fn finish_link(tx: &mut Tx, cx: &UserCtx, now: Ts, f: Finish) -> Result<LinkOutcome> {
    let Finish { partner, current, account, profile, accept_agreement, accept_secondary } = f;
    profile_belongs(&account, &profile)?;
    let target = pb_domain::LinkTarget { billing_account_id: account.id, billing_profile_id: profile.id };
    let effects = LinkEffects::of(current.as_ref().map(BillingLink::target), target);
    if let (LinkEffect::Unchanged, Some(link)) = (effects.effect, &current) {
        // Rule C5: a no-op that says so; no history row, no version bump.
        let account_profiles = crate::read::profiles_of(tx, &[account.id]).await?;
        return Ok(LinkOutcome {
            link: link.clone(),
            effects,
            link_version: partner.link_version,
            account,
            account_profiles,
            profile,
            previous: current,
        });
    }
    let tenant: TenantId = partner.tenant_id;
    let (mca, secondary) = acceptances_of(tx, account.id).await?;
    let needs = agreement_needs(account.sold_to.country, mca, secondary);
    check_agreement(needs, accept_agreement, accept_secondary)?;
    if needs.mca_required {
        record_acceptance(tx, cx, now, account.id, "mca").await?;
    }
    if needs.secondary_required {
        record_acceptance(tx, cx, now, account.id, "mca_secondary").await?;
    }
    if let Some(old) = &current {
        tx.execute(
            "UPDATE billing_links SET unlinked_at = $2, unlinked_by = $3 WHERE id = $1 AND unlinked_at IS NULL",
            args![old.id, now, cx.user_id()],
        )
        .await?;
    }
    let link = BillingLink {
        id: BillingLinkId::new(),
        billing_account_id: account.id,
        billing_profile_id: profile.id,
        linked_at: now.0,
        linked_by: cx.user_id().to_string(),
        unlinked_at: None,
        unlinked_by: None,
    };
    tx.execute(
        "INSERT INTO billing_links (id, tenant_id, partner_account_id, billing_account_id, billing_profile_id, linked_at, linked_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![link.id, tenant, partner.id, account.id, profile.id, now, cx.user_id()],
    )
    .await?;
    // Compare-and-set on the version: the last guard of rule C6 should two changes ever get here.
    let bumped = tx
        .execute(
            "UPDATE partner_accounts SET link_version = link_version + 1, updated_at = $3 WHERE id = $1 AND link_version = $2",
            args![partner.id, partner.link_version, now],
        )
        .await?;
    if bumped != 1 {
        return Err(StoreError::PreconditionFailed { expected: partner.link_version, current: partner.link_version + 1 });
    }
    let audit = NewAudit {
        tenant_id: Some(tenant),
        action: if current.is_some() { "billing_link.change" } else { "billing_link.create" },
        target_kind: "partner_account",
        target_id: partner.id.to_string(),
        before: current.as_ref().map(link_json),
        after: Some(link_json(&link)),
    };
    write_audit(tx, cx.ctx(), now, audit).await?;
    // Rule T2: global admins and MCPP admins hear of it, in the product and by email.
    announce(tx, tenant, now, Audience::GlobalAndMcppAdmins, &announcement(&effects, &account, &profile)).await?;
    // The account as it is now, with every profile (the one this request may have just made too).
    let account_profiles = crate::read::profiles_of(tx, &[account.id]).await?;
    Ok(LinkOutcome { link, effects, link_version: partner.link_version + 1, account, account_profiles, profile, previous: current })
}

impl Store {
    /// Rules A1, P1–P3 asked ahead of any step: `Ok(())` when this caller may link now, else the
    /// refusal Finish would give. The pages use it to explain instead of offering Start.
    pub async fn check_may_link(&self, cx: &UserCtx) -> Result<()> {
        let mut tx = self.db.begin().await?;
        link_preconditions(&mut tx, cx, false).await?;
        tx.commit().await
    }

    /// Links or changes the link (rules P1–P3, E3, C1, C2, C4–C6, M1–M3), atomically.
    pub async fn link_billing(&self, cx: &UserCtx, cmd: &LinkCommand) -> Result<LinkOutcome> {
        // Linking existing ones is the create-new flow with nothing to create.
        let setup = SetupCommand {
            account: AccountChoice::Existing(cmd.billing_account_id),
            profile: ProfileChoice::Existing(cmd.billing_profile_id),
            accept_agreement: cmd.accept_agreement,
            accept_secondary_acknowledgement: cmd.accept_secondary_acknowledgement,
            if_match: cmd.if_match,
        };
        self.setup_link(cx, &setup).await
    }

    /// The whole create-new flow in one transaction (rule N8): whatever is created and the link
    /// commit together, or nothing does.
    pub async fn setup_link(&self, cx: &UserCtx, cmd: &SetupCommand) -> Result<LinkOutcome> {
        let mut tx = self.db.begin_write().await?;
        let partner = link_preconditions(&mut tx, cx, true).await?;
        // Under the partner account's lock, as purchases read it (rule C4: a purchase is billed to
        // the link in force at its time).
        let now = self.now();
        let current = current_link_in_tx(&mut tx, partner.id).await?;
        check_version(&partner, &current, cmd.if_match)?;
        let account = match &cmd.account {
            AccountChoice::Existing(id) => account_in_tx(&mut tx, cx.tenant(), *id, true).await?,
            AccountChoice::New(new) => insert_account(&mut tx, cx, new, now).await?,
        };
        let profile = match &cmd.profile {
            ProfileChoice::Existing(id) => profile_in_tx(&mut tx, cx.tenant(), *id).await?,
            ProfileChoice::New(name) => insert_profile(&mut tx, cx, &account, name, now, Flow::LinkFlow).await?,
        };
        let finish = Finish {
            partner,
            current,
            account,
            profile,
            accept_agreement: cmd.accept_agreement,
            accept_secondary: cmd.accept_secondary_acknowledgement,
        };
        let out = finish_link(&mut tx, cx, now, finish).await?;
        self.commit(tx, cx.ctx(), &out).await?;
        Ok(out)
    }
}
