//! Membership purchases (rules A5, B1–B3, M4, C4): billed to the link in force at the instant of
//! purchase, into a section of that profile, in the profile's currency, paid by one of its
//! instruments; stamped once and never changed.

use pb_domain::billing::BillingAction;
use pb_domain::commerce::{check_quantity, needs_billing_link, term_end};
use pb_domain::{
    BillingAccountId, BillingProfileId, InvoiceId, InvoiceSectionId, Money, NewPaymentInstrument, OfferId, PaymentInstrumentId, PurchaseId,
    billing::currency_for_country,
};
use serde_json::json;

use super::offers::offer_in_tx;
use crate::access::require_on_profile;
use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::error::corrupt;
use crate::model::{BillingAccountWithProfiles, BillingProfile, PaymentInstrument};
use crate::notify::{Announcement, Audience, announce};
use crate::read::{acceptances_of, account_in_tx, current_link_in_tx, partner_in_tx, profile_in_tx};
use crate::{Page, Result, Store, StoreError, Ts, UserCtx};

/// A purchase as recorded. The account, profile and section are those of the link in force at
/// `purchased_at`; all three are empty for a purchase made before the cutover without a link
/// (billed by the legacy platform, never invoiced here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub id: PurchaseId,
    pub offer_id: OfferId,
    pub description: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub amount: Money,
    pub purchased_at: time::OffsetDateTime,
    pub purchased_by: String,
    pub billing_account_id: Option<BillingAccountId>,
    pub billing_profile_id: Option<BillingProfileId>,
    pub invoice_section_id: Option<InvoiceSectionId>,
    pub payment_instrument_id: Option<PaymentInstrumentId>,
    /// Set once the purchase is on an issued invoice.
    pub invoice_id: Option<InvoiceId>,
}

/// How a purchase is paid (rule B3).
#[derive(Debug, Clone)]
pub enum PaymentChoice {
    /// The profile's first payment instrument.
    Default,
    Existing(PaymentInstrumentId),
    /// Added to the profile in the purchase's own transaction.
    New(NewPaymentInstrument),
}

#[derive(Debug, Clone)]
pub struct NewPurchase {
    pub offer_id: OfferId,
    pub quantity: i64,
    /// The profile's default section when `None` (rule B2).
    pub invoice_section_id: Option<InvoiceSectionId>,
    pub payment: PaymentChoice,
}

#[derive(sqlx::FromRow)]
struct PurchaseRow {
    id: String,
    offer_id: String,
    description: String,
    quantity: i64,
    unit_price_minor: i64,
    amount_minor: i64,
    currency: String,
    purchased_at: Ts,
    purchased_by: String,
    billing_account_id: Option<String>,
    billing_profile_id: Option<String>,
    invoice_section_id: Option<String>,
    payment_instrument_id: Option<String>,
    invoice_id: Option<String>,
}

/// The invoice a purchase is on comes from its line, so issuing never updates a purchase.
const PURCHASE_SELECT: &str = "SELECT p.id, p.offer_id, p.description, p.quantity, p.unit_price_minor, p.amount_minor, p.currency, \
     p.purchased_at, p.purchased_by, p.billing_account_id, p.billing_profile_id, p.invoice_section_id, p.payment_instrument_id, \
     l.invoice_id FROM purchases p LEFT JOIN invoice_lines l ON l.purchase_id = p.id";

/// Who may see a purchase: those who may buy (rule A5) see all of the tenant's; anyone else those
/// billed to a profile or section they hold a billing role on, directly or through its account (rule A2).
const VISIBLE: &str = "($2 OR EXISTS (SELECT 1 FROM role_assignments r WHERE r.user_id = $3 AND ( \
     (r.scope_kind = 'billing_profile' AND r.scope_id = p.billing_profile_id) OR \
     (r.scope_kind = 'billing_account' AND r.scope_id = p.billing_account_id) OR \
     (r.scope_kind = 'invoice_section' AND r.scope_id = p.invoice_section_id))))";

impl TryFrom<PurchaseRow> for Purchase {
    type Error = StoreError;
    fn try_from(r: PurchaseRow) -> Result<Self> {
        let currency = pb_domain::Currency::parse(&r.currency).map_err(|e| corrupt("purchase currency", e))?;
        let opt = |v: Option<String>, what: &str| v.map(|s| (s, what.to_owned()));
        Ok(Purchase {
            id: PurchaseId::parse(&r.id).map_err(|e| corrupt("purchase id", e))?,
            offer_id: OfferId::parse(&r.offer_id).map_err(|e| corrupt("offer id", e))?,
            description: r.description,
            quantity: r.quantity,
            unit_price: Money::new(r.unit_price_minor, currency),
            amount: Money::new(r.amount_minor, currency),
            purchased_at: r.purchased_at.0,
            purchased_by: r.purchased_by,
            billing_account_id: opt(r.billing_account_id, "account")
                .map(|(s, w)| BillingAccountId::parse(&s).map_err(|e| corrupt(&w, e)))
                .transpose()?,
            billing_profile_id: opt(r.billing_profile_id, "profile")
                .map(|(s, w)| BillingProfileId::parse(&s).map_err(|e| corrupt(&w, e)))
                .transpose()?,
            invoice_section_id: opt(r.invoice_section_id, "section")
                .map(|(s, w)| InvoiceSectionId::parse(&s).map_err(|e| corrupt(&w, e)))
                .transpose()?,
            payment_instrument_id: opt(r.payment_instrument_id, "instrument")
                .map(|(s, w)| PaymentInstrumentId::parse(&s).map_err(|e| corrupt(&w, e)))
                .transpose()?,
            invoice_id: opt(r.invoice_id, "invoice").map(|(s, w)| InvoiceId::parse(&s).map_err(|e| corrupt(&w, e))).transpose()?,
        })
    }
}

/// Where the purchase is billed: the link's account, profile, section and instrument.
struct BilledTo {
    link_id: String,
    account: BillingAccountId,
    profile: BillingProfile,
    section: InvoiceSectionId,
    instrument: PaymentInstrumentId,
}

/// Rule B2: the chosen section of the profile, else its default one.
fn section_of(profile: &BillingProfile, chosen: Option<InvoiceSectionId>) -> Result<InvoiceSectionId> {
    match chosen {
        Some(id) if profile.invoice_sections.iter().any(|s| s.id == id) => Ok(id),
        Some(_) => {
            Err(StoreError::field("invoice_section_id", "not_in_profile", "is not an invoice section of the linked billing profile"))
        }
        None => profile
            .invoice_sections
            .iter()
            .find(|s| s.is_default)
            .or_else(|| profile.invoice_sections.first())
            .map(|s| s.id)
            .ok_or_else(|| corrupt("billing profile", "has no invoice section")),
    }
}

/// Rule B3: the instrument that pays, adding one in this transaction when the purchase brings it.
async fn instrument_of(
    tx: &mut Tx,
    cx: &UserCtx,
    profile: &BillingProfile,
    payment: &PaymentChoice,
    now: Ts,
) -> Result<PaymentInstrumentId> {
    match payment {
        PaymentChoice::Existing(id) if profile.payment_instruments.iter().any(|i| i.id == *id) => Ok(*id),
        PaymentChoice::Existing(_) => {
            Err(StoreError::field("payment_instrument_id", "not_in_profile", "is not a payment instrument of the linked billing profile"))
        }
        PaymentChoice::Default => profile.payment_instruments.first().map(|i| i.id).ok_or_else(|| {
            StoreError::conflict(
                "payment_instrument_required",
                format!(
                    "billing profile {} has no payment instrument: add one on its page or send payment_instrument with the purchase",
                    profile.display_name
                ),
            )
        }),
        PaymentChoice::New(new) => {
            let pi: PaymentInstrument = crate::billing::insert_instrument(tx, cx, profile, new, now).await?;
            Ok(pi.id)
        }
    }
}

impl Store {
    /// Makes a purchase (rules A5, B1–B3, M4, C4) in one transaction with its audit record, its
    /// notifications and, for an idempotent request, its response.
    pub async fn create_purchase(&self, cx: &UserCtx, new: &NewPurchase) -> Result<Purchase> {
        if !cx.roles().may_purchase() {
            return Err(StoreError::Forbidden("membership purchases need the MCPP admin or global admin role".into()));
        }
        let mut tx = self.db.begin_write().await?;
        let offer = offer_in_tx(&mut tx, &new.offer_id).await?.filter(|o| o.active).ok_or(StoreError::NotFound("offer"))?;
        let quantity = check_quantity(new.quantity, offer.one_per_partner).map_err(|e| {
            let mut f = pb_domain::FieldErrors::new();
            f.check::<(), _>("quantity", Err(e));
            StoreError::Fields(f)
        })?;
        // The partner account's row lock orders purchases against link changes (rule C4) and
        // against each other (one per partner).
        let partner = partner_in_tx(&mut tx, cx.tenant(), true).await?.ok_or(StoreError::NotFound("partner account"))?;
        // Read under the lock: a link change that committed before it is in force at this instant,
        // one that waits for it starts after it (a time taken earlier could fall before a link that
        // committed first, and bill a purchase to a link not yet in force at its own time).
        let now = self.now();
        if !partner.state.may_link() {
            return Err(StoreError::PartnerAccountNotActive(partner.state));
        }
        let billed = match current_link_in_tx(&mut tx, partner.id).await? {
            Some(link) => {
                let account = account_in_tx(&mut tx, cx.tenant(), link.billing_account_id, false).await?;
                if account.primary_contact.is_none() {
                    return Err(StoreError::conflict(
                        "primary_contact_required",
                        format!(
                            "billing account {} has no primary contact: add one (PATCH /api/v1/billing-accounts/{}, or on the billing \
                             profile page) and buy again",
                            account.display_name, account.id
                        ),
                    ));
                }
                let profile = profile_in_tx(&mut tx, cx.tenant(), link.billing_profile_id).await?;
                let section = section_of(&profile, new.invoice_section_id)?;
                Some((link.id.to_string(), account.id, profile, section))
            }
            None if needs_billing_link(now.0, self.purchase_cutover) => {
                return Err(StoreError::conflict(
                    "billing_link_required",
                    "membership purchases need a linked billing account and profile: a global admin links them on the billing profile page",
                ));
            }
            None => {
                if new.invoice_section_id.is_some() || !matches!(new.payment, PaymentChoice::Default) {
                    return Err(StoreError::field(
                        "invoice_section_id",
                        "no_billing_profile",
                        "nothing is linked: before the cutover such a purchase is billed by the legacy platform, without a section or instrument",
                    ));
                }
                None
            }
        };
        let currency = match &billed {
            Some((_, _, profile, _)) => profile.currency,
            None => currency_for_country(partner.legal_profile.sold_to.country),
        };
        let unit_price = offer.price_in(currency).ok_or_else(|| {
            StoreError::unprocessable("offer_not_sold_in_currency", format!("offer {} has no price in {currency}", offer.id))
        })?;
        let amount = unit_price.checked_mul(quantity).map_err(|e| StoreError::field("quantity", "overflow", e.to_string()))?;
        if offer.one_per_partner {
            let owned: Option<String> = tx
                .scalar_optional(
                    "SELECT id FROM purchases WHERE partner_account_id = $1 AND offer_id = $2 AND term_ends_at > $3 LIMIT 1",
                    args![partner.id, offer.id.as_str(), now],
                )
                .await?;
            if let Some(owned) = owned {
                return Err(StoreError::conflict(
                    "already_owned",
                    format!("{} is sold one per partner and {owned} is still in its term", offer.name),
                ));
            }
        }
        let billed = match billed {
            Some((link_id, account, profile, section)) => {
                let instrument = instrument_of(&mut tx, cx, &profile, &new.payment, now).await?;
                Some(BilledTo { link_id, account, profile, section, instrument })
            }
            None => None,
        };
        let p = Purchase {
            id: PurchaseId::new(),
            offer_id: offer.id.clone(),
            description: offer.name.clone(),
            quantity,
            unit_price,
            amount,
            purchased_at: now.0,
            purchased_by: cx.user_id().to_string(),
            billing_account_id: billed.as_ref().map(|b| b.account),
            billing_profile_id: billed.as_ref().map(|b| b.profile.id),
            invoice_section_id: billed.as_ref().map(|b| b.section),
            payment_instrument_id: billed.as_ref().map(|b| b.instrument),
            invoice_id: None,
        };
        tx.execute(
            "INSERT INTO purchases (id, tenant_id, partner_account_id, offer_id, description, quantity, unit_price_minor, amount_minor, \
             currency, billing_link_id, billing_account_id, billing_profile_id, invoice_section_id, payment_instrument_id, purchased_at, \
             purchased_by, term_ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            args![
                p.id,
                cx.tenant(),
                partner.id,
                p.offer_id.as_str(),
                p.description.as_str(),
                quantity,
                unit_price.amount_minor,
                amount.amount_minor,
                currency.as_str(),
                billed.as_ref().map(|b| b.link_id.clone()),
                p.billing_account_id.map(|x| x.to_string()),
                p.billing_profile_id.map(|x| x.to_string()),
                p.invoice_section_id.map(|x| x.to_string()),
                p.payment_instrument_id.map(|x| x.to_string()),
                now,
                p.purchased_by.as_str(),
                Ts::from(term_end(now.0, offer.term_months))
            ],
        )
        .await?;
        let audit = NewAudit {
            tenant_id: Some(cx.tenant()),
            action: "purchase.create",
            target_kind: "purchase",
            target_id: p.id.to_string(),
            before: None,
            after: Some(json!({
                "offer_id": p.offer_id.as_str(), "quantity": quantity, "amount_minor": amount.amount_minor, "currency": currency.as_str(),
                "billing_profile_id": p.billing_profile_id.map(|x| x.to_string()),
                "invoice_section_id": p.invoice_section_id.map(|x| x.to_string()),
            })),
        };
        write_audit(&mut tx, cx.ctx(), now, audit).await?;
        let billed_words = match &billed {
            Some(b) => format!("billed to billing profile {}", b.profile.display_name),
            None => "billed by the legacy platform".to_owned(),
        };
        let a = Announcement {
            kind: "purchase",
            title: format!("Purchased: {}", offer.name),
            body: format!("{quantity} × {} for {amount}, {billed_words}.", offer.name),
            action_url: Some("/membership".into()),
        };
        announce(&mut tx, cx.tenant(), now, Audience::GlobalAndMcppAdmins, &a).await?;
        self.commit(tx, cx.ctx(), &p).await?;
        Ok(p)
    }

    /// Where a purchase made now would be billed: the link in force's account (with only the linked
    /// profile) and profile, with its sections and instruments. Whoever may buy sees it (rule A5: an
    /// MCPP admin needs its currency, sections and instruments without holding a billing role on
    /// it); anyone else needs a role that reads the profile. `None` when nothing is linked.
    pub async fn purchase_target(&self, cx: &UserCtx) -> Result<Option<(BillingAccountWithProfiles, BillingProfile)>> {
        let mut tx = self.db.begin().await?;
        let partner = partner_in_tx(&mut tx, cx.tenant(), false).await?.ok_or(StoreError::NotFound("partner account"))?;
        let Some(link) = current_link_in_tx(&mut tx, partner.id).await? else { return Ok(None) };
        let profile = profile_in_tx(&mut tx, cx.tenant(), link.billing_profile_id).await?;
        if !cx.roles().may_purchase() {
            require_on_profile(&mut tx, cx, &profile, BillingAction::Read).await?;
        }
        let account = account_in_tx(&mut tx, cx.tenant(), link.billing_account_id, false).await?;
        let (agreement_accepted, _) = acceptances_of(&mut tx, account.id).await?;
        tx.commit().await?;
        let account = BillingAccountWithProfiles { account, profiles: vec![profile.clone()], agreement_accepted };
        Ok(Some((account, profile)))
    }

    /// The tenant's purchases the caller may see, newest first; optionally of one profile.
    pub async fn list_purchases(
        &self,
        cx: &UserCtx,
        profile: Option<BillingProfileId>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Purchase>> {
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "{PURCHASE_SELECT} WHERE p.tenant_id = $1 AND {VISIBLE} AND ($4 IS NULL OR p.billing_profile_id = $4) AND p.id < $5 \
             ORDER BY p.id DESC LIMIT $6"
        );
        let rows: Vec<PurchaseRow> = tx
            .fetch_all(
                sqlx::AssertSqlSafe(sql),
                args![
                    cx.tenant(),
                    cx.roles().may_purchase(),
                    cx.user_id(),
                    profile.map(|p| p.to_string()),
                    cursor.unwrap_or("pu_~"),
                    limit + 1
                ],
            )
            .await?;
        tx.commit().await?;
        let items = rows.into_iter().map(Purchase::try_from).collect::<Result<Vec<_>>>()?;
        Ok(Page::of(items, limit, |p: &Purchase| p.id.to_string()))
    }

    pub async fn get_purchase(&self, cx: &UserCtx, id: PurchaseId) -> Result<Purchase> {
        let mut tx = self.db.begin().await?;
        let sql = format!("{PURCHASE_SELECT} WHERE p.tenant_id = $1 AND {VISIBLE} AND p.id = $4");
        let row: Option<PurchaseRow> =
            tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![cx.tenant(), cx.roles().may_purchase(), cx.user_id(), id]).await?;
        tx.commit().await?;
        row.ok_or(StoreError::NotFound("purchase"))?.try_into()
    }
}
