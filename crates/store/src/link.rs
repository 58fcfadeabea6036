//! The billing link: review, link or change, the whole create-new flow in one transaction, and
//! history (rules P1–P3, N7–N9, E1–E3, C1–C6, M1–M3, U1, T2).

use pb_domain::billing::{AGREEMENT_VERSION, AgreementNeeds, agreement_needs, check_agreement};
use pb_domain::{
    AgreementAcceptanceId, BillingAccountId, BillingLinkId, BillingProfileId, DisplayName, PartnerAccountId, TenantId, UserId,
};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::billing::{
    BillingAccount, BillingProfile, NewBillingAccount, acceptances_of, account_in_tx, insert_account, insert_profile, profile_in_tx,
    user_of,
};
use crate::db::{Tx, on};
use crate::error::corrupt;
use crate::notify::{Announcement, Audience, announce};
use crate::partners::{PartnerAccount, partner_in_tx};
use crate::{Actor, Ctx, Result, Store, StoreError, Ts};

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

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: String,
    billing_account_id: String,
    billing_profile_id: String,
    linked_at: Ts,
    linked_by: String,
    unlinked_at: Option<Ts>,
    unlinked_by: Option<String>,
}

const LINK_COLUMNS: &str = "id, billing_account_id, billing_profile_id, linked_at, linked_by, unlinked_at, unlinked_by";

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

/// What Finish would do, for the review step (rule N7).
#[derive(Debug, Clone)]
pub struct LinkReview {
    pub account: BillingAccount,
    pub profile: BillingProfile,
    pub needs: AgreementNeeds,
    pub mca_already_accepted: bool,
    pub current: Option<BillingLink>,
    /// The link version to send as `If-Match`.
    pub link_version: i64,
    pub partner: PartnerAccount,
}

impl LinkReview {
    /// Rule C5: Finish would select the link already in force.
    pub fn is_noop(&self) -> bool {
        self.current.as_ref().is_some_and(|l| l.billing_account_id == self.account.id && l.billing_profile_id == self.profile.id)
    }
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
    /// False when the request named the link already in force (rule C5).
    pub changed: bool,
    pub link_version: i64,
    pub account: BillingAccount,
    pub profile: BillingProfile,
    pub previous: Option<BillingLink>,
}

pub(crate) async fn current_link_in_tx(tx: &mut Tx, partner: PartnerAccountId) -> Result<Option<BillingLink>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links WHERE partner_account_id = $1 AND unlinked_at IS NULL");
    let row: Option<LinkRow> =
        on!(&mut *tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(partner.to_string()).fetch_optional(c).await?);
    row.map(BillingLink::try_from).transpose()
}

fn require_global_admin(ctx: &Ctx) -> Result<UserId> {
    match &ctx.actor {
        Actor::User { user_id, global_admin: true } => Ok(*user_id),
        _ => Err(StoreError::GlobalAdminRequired),
    }
}

/// Rules P1–P3: a global admin of this tenant, whose partner account is active.
/// `lock` takes the partner account's row lock (PostgreSQL) for a transaction that will change the link.
async fn link_preconditions(tx: &mut Tx, ctx: &Ctx, tenant: TenantId, lock: bool) -> Result<(UserId, PartnerAccount)> {
    let user = require_global_admin(ctx)?;
    let partner = partner_in_tx(tx, tenant, lock).await?.ok_or(StoreError::NotFound("partner account"))?;
    if !partner.state.may_link() {
        return Err(StoreError::PartnerAccountNotActive(partner.state));
    }
    Ok((user, partner))
}

fn check_version(partner: &PartnerAccount, current: &Option<BillingLink>, if_match: Option<i64>) -> Result<()> {
    match (current, if_match) {
        (Some(_), None) => Err(StoreError::PreconditionRequired),
        (_, Some(v)) if v != partner.link_version => Err(StoreError::PreconditionFailed { expected: v, current: partner.link_version }),
        _ => Ok(()),
    }
}

fn profile_belongs(account: &BillingAccount, profile: &BillingProfile) -> Result<()> {
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

/// The parts of a Finish, gathered by the caller inside its transaction.
struct Finish {
    user: UserId,
    partner: PartnerAccount,
    current: Option<BillingLink>,
    account: BillingAccount,
    profile: BillingProfile,
    accept_agreement: bool,
    accept_secondary: bool,
}

/// Records acceptances as needed, closes the current link, opens the new one and bumps the version;
/// all in the caller's transaction. The caller has checked P1–P3 and the version.
async fn finish_link(tx: &mut Tx, ctx: &Ctx, now: Ts, f: Finish) -> Result<LinkOutcome> {
    let Finish { user, partner, current, account, profile, accept_agreement, accept_secondary } = f;
    let partner = &partner;
    profile_belongs(&account, &profile)?;
    if current.as_ref().is_some_and(|l| l.billing_account_id == account.id && l.billing_profile_id == profile.id) {
        // Rule C5: a no-op that says so; no history row, no version bump.
        let link = current.clone().ok_or(StoreError::NotFound("billing link"))?;
        return Ok(LinkOutcome { link, changed: false, link_version: partner.link_version, account, profile, previous: current });
    }
    let tenant = partner.tenant_id;
    let (mca, secondary) = acceptances_of(tx, account.id).await?;
    let needs = agreement_needs(account.sold_to.country, mca, secondary);
    check_agreement(needs, accept_agreement, accept_secondary)?;
    if needs.mca_required {
        record_acceptance(tx, ctx, now, tenant, account.id, user, "mca").await?;
    }
    if needs.secondary_required {
        record_acceptance(tx, ctx, now, tenant, account.id, user, "mca_secondary").await?;
    }
    if let Some(old) = &current {
        on!(&mut *tx, |c| sqlx::query("UPDATE billing_links SET unlinked_at = $2, unlinked_by = $3 WHERE id = $1 AND unlinked_at IS NULL")
            .bind(old.id.to_string())
            .bind(now)
            .bind(user.to_string())
            .execute(c)
            .await?
            .rows_affected());
    }
    let link = BillingLink {
        id: BillingLinkId::new(),
        billing_account_id: account.id,
        billing_profile_id: profile.id,
        linked_at: now.0,
        linked_by: user.to_string(),
        unlinked_at: None,
        unlinked_by: None,
    };
    on!(&mut *tx, |c| sqlx::query(
        "INSERT INTO billing_links (id, tenant_id, partner_account_id, billing_account_id, billing_profile_id, linked_at, linked_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(link.id.to_string())
    .bind(tenant.to_string())
    .bind(partner.id.to_string())
    .bind(account.id.to_string())
    .bind(profile.id.to_string())
    .bind(now)
    .bind(user.to_string())
    .execute(c)
    .await?
    .rows_affected());
    // Compare-and-set on the version: the last guard of rule C6 should two changes ever get here.
    let bumped = on!(&mut *tx, |c| sqlx::query(
        "UPDATE partner_accounts SET link_version = link_version + 1, updated_at = $3 WHERE id = $1 AND link_version = $2"
    )
    .bind(partner.id.to_string())
    .bind(partner.link_version)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    if bumped != 1 {
        return Err(StoreError::PreconditionFailed { expected: partner.link_version, current: partner.link_version + 1 });
    }
    write_audit(
        tx,
        ctx,
        now,
        NewAudit {
            tenant_id: Some(tenant),
            action: if current.is_some() { "billing_link.change" } else { "billing_link.create" },
            target_kind: "partner_account",
            target_id: partner.id.to_string(),
            before: current.as_ref().map(link_json),
            after: Some(link_json(&link)),
        },
    )
    .await?;
    let (title, body) = match &current {
        None => (
            "Billing account and profile linked".to_owned(),
            format!(
                "Billing account {} and billing profile {} are now linked to the partner account. Membership purchases can go ahead.",
                account.display_name, profile.display_name
            ),
        ),
        Some(_) => (
            "Billing link changed".to_owned(),
            format!(
                "From now on purchases are billed to billing profile {} of billing account {}. Earlier purchases and their invoices stay where they were.",
                profile.display_name, account.display_name
            ),
        ),
    };
    // Rule T2: global admins and MCPP admins hear of it, in the product and by email.
    announce(
        tx,
        tenant,
        now,
        Audience::GlobalAndMcppAdmins,
        &Announcement { kind: "billing_link", title, body, action_url: Some("/account/billing-profile".into()) },
    )
    .await?;
    Ok(LinkOutcome { link, changed: true, link_version: partner.link_version + 1, account, profile, previous: current })
}

async fn record_acceptance(
    tx: &mut Tx,
    ctx: &Ctx,
    now: Ts,
    tenant: TenantId,
    account: BillingAccountId,
    user: UserId,
    kind: &'static str,
) -> Result<()> {
    let id = AgreementAcceptanceId::new();
    on!(&mut *tx, |c| {
        sqlx::query(
        "INSERT INTO agreement_acceptances (id, tenant_id, billing_account_id, kind, agreement_version, accepted_by, accepted_at, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(account.to_string())
    .bind(kind)
    .bind(AGREEMENT_VERSION)
    .bind(user.to_string())
    .bind(now)
    .bind(ctx.request_id.as_deref())
    .execute(c)
    .await?
    .rows_affected()
    });
    write_audit(
        tx,
        ctx,
        now,
        NewAudit {
            tenant_id: Some(tenant),
            action: if kind == "mca" { "agreement.accept" } else { "agreement.secondary_acknowledge" },
            target_kind: "billing_account",
            target_id: account.to_string(),
            before: None,
            after: Some(
                json!({"acceptance_id": id.to_string(), "kind": kind, "agreement_version": AGREEMENT_VERSION, "by_global_admin": true}),
            ),
        },
    )
    .await
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
struct AcceptanceRow {
    id: String,
    billing_account_id: String,
    kind: String,
    agreement_version: String,
    accepted_by: String,
    accepted_at: Ts,
}

impl Store {
    /// Rules A1, P1–P3 asked ahead of any step: `Ok(())` when this caller may link now, else the
    /// refusal Finish would give. The pages use it to explain instead of offering Start.
    pub async fn check_may_link(&self, ctx: &Ctx, tenant: TenantId) -> Result<()> {
        let mut tx = self.db.begin().await?;
        link_preconditions(&mut tx, ctx, tenant, false).await?;
        tx.commit().await
    }

    /// What Finish would do for this account and profile (rules N7, M1, M2, N4, C5).
    pub async fn review_link(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        account: BillingAccountId,
        profile: BillingProfileId,
    ) -> Result<LinkReview> {
        let mut tx = self.db.begin().await?;
        let (_, partner) = link_preconditions(&mut tx, ctx, tenant, false).await?;
        let account = account_in_tx(&mut tx, tenant, account, false).await?;
        let profile = profile_in_tx(&mut tx, tenant, profile).await?;
        profile_belongs(&account, &profile)?;
        let (mca, secondary) = acceptances_of(&mut tx, account.id).await?;
        let current = current_link_in_tx(&mut tx, partner.id).await?;
        tx.commit().await?;
        Ok(LinkReview {
            needs: agreement_needs(account.sold_to.country, mca, secondary),
            mca_already_accepted: mca,
            link_version: partner.link_version,
            account,
            profile,
            current,
            partner,
        })
    }

    /// Links or changes the link (rules P1–P3, E3, C1, C2, C4–C6, M1–M3), atomically.
    pub async fn link_billing(&self, ctx: &Ctx, tenant: TenantId, cmd: &LinkCommand) -> Result<LinkOutcome> {
        // Linking existing ones is the create-new flow with nothing to create.
        let setup = SetupCommand {
            account: AccountChoice::Existing(cmd.billing_account_id),
            profile: ProfileChoice::Existing(cmd.billing_profile_id),
            accept_agreement: cmd.accept_agreement,
            accept_secondary_acknowledgement: cmd.accept_secondary_acknowledgement,
            if_match: cmd.if_match,
        };
        self.setup_link(ctx, tenant, &setup).await
    }

    /// The whole create-new flow in one transaction (rule N8): whatever is created and the link
    /// commit together, or nothing does.
    pub async fn setup_link(&self, ctx: &Ctx, tenant: TenantId, cmd: &SetupCommand) -> Result<LinkOutcome> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let (user, partner) = link_preconditions(&mut tx, ctx, tenant, true).await?;
        let current = current_link_in_tx(&mut tx, partner.id).await?;
        check_version(&partner, &current, cmd.if_match)?;
        let account = match &cmd.account {
            AccountChoice::Existing(id) => account_in_tx(&mut tx, tenant, *id, true).await?,
            AccountChoice::New(new) => insert_account(&mut tx, ctx, tenant, new, now).await?,
        };
        let profile = match &cmd.profile {
            ProfileChoice::Existing(id) => profile_in_tx(&mut tx, tenant, *id).await?,
            ProfileChoice::New(name) => insert_profile(&mut tx, ctx, &account, name, now).await?,
        };
        let finish = Finish {
            user,
            partner,
            current,
            account,
            profile,
            accept_agreement: cmd.accept_agreement,
            accept_secondary: cmd.accept_secondary_acknowledgement,
        };
        let out = finish_link(&mut tx, ctx, now, finish).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Whether the billing account of the link in force has a primary contact (rule M4: without one,
    /// purchases billed to it are refused). `None` when nothing is linked.
    pub async fn linked_account_has_primary_contact(&self, tenant: TenantId) -> Result<Option<bool>> {
        let mut tx = self.db.begin().await?;
        let contact: Option<Option<String>> = on!(&mut tx, |c| sqlx::query_scalar(
            "SELECT a.primary_contact FROM billing_links l JOIN billing_accounts a ON a.id = l.billing_account_id \
             WHERE l.tenant_id = $1 AND l.unlinked_at IS NULL"
        )
        .bind(tenant.to_string())
        .fetch_optional(c)
        .await?);
        tx.commit().await?;
        Ok(contact.map(|c| c.is_some()))
    }

    /// The link in force and the version to send as `If-Match`.
    pub async fn current_link(&self, tenant: TenantId) -> Result<(Option<BillingLink>, i64)> {
        let mut tx = self.db.begin().await?;
        let partner = partner_in_tx(&mut tx, tenant, false).await?.ok_or(StoreError::NotFound("partner account"))?;
        let link = current_link_in_tx(&mut tx, partner.id).await?;
        tx.commit().await?;
        Ok((link, partner.link_version))
    }

    /// Every link of the tenant's partner account, oldest first (rule C4); with `at`, only the one in
    /// force at that instant (if any).
    pub async fn link_history(&self, tenant: TenantId, at: Option<time::OffsetDateTime>) -> Result<Vec<BillingLink>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<LinkRow> = match at {
            None => {
                let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links WHERE tenant_id = $1 ORDER BY linked_at, id");
                on!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).fetch_all(c).await?)
            }
            Some(at) => {
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM billing_links WHERE tenant_id = $1 AND linked_at <= $2 \
                     AND (unlinked_at IS NULL OR unlinked_at > $2) ORDER BY linked_at DESC, id DESC LIMIT 1"
                );
                on!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.to_string()).bind(Ts::from(at)).fetch_all(c).await?)
            }
        };
        tx.commit().await?;
        rows.into_iter().map(BillingLink::try_from).collect()
    }

    /// The acceptance records of an account (rule M3); visible to whoever may read the account.
    pub async fn agreement_acceptances(&self, ctx: &Ctx, tenant: TenantId, account: BillingAccountId) -> Result<Vec<AgreementAcceptance>> {
        user_of(ctx)?;
        self.get_billing_account(ctx, tenant, account).await?;
        let mut tx = self.db.begin().await?;
        let rows: Vec<AcceptanceRow> = on!(&mut tx, |c| sqlx::query_as(
            "SELECT id, billing_account_id, kind, agreement_version, accepted_by, accepted_at FROM agreement_acceptances \
             WHERE tenant_id = $1 AND billing_account_id = $2 ORDER BY id"
        )
        .bind(tenant.to_string())
        .bind(account.to_string())
        .fetch_all(c)
        .await?);
        tx.commit().await?;
        rows.into_iter()
            .map(|r| {
                Ok(AgreementAcceptance {
                    id: AgreementAcceptanceId::parse(&r.id).map_err(|e| corrupt("acceptance id", e))?,
                    billing_account_id: BillingAccountId::parse(&r.billing_account_id).map_err(|e| corrupt("account id", e))?,
                    kind: r.kind,
                    agreement_version: r.agreement_version,
                    accepted_by: r.accepted_by,
                    accepted_at: r.accepted_at.0,
                })
            })
            .collect()
    }
}
