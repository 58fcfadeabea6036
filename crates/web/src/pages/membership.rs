//! The membership page: whether purchases can go through now and what to do if not (rules B1, M4,
//! P2), the offers priced in the linked profile's currency with a buy form each (rules A5, B2, B3),
//! and the tenant's recent purchases with their invoices. The store decides every rule; this module
//! shows its answers. The buy form's POST is in `purchase.rs`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_documents::format_money;
use pb_domain::billing::PurchaseBlocker;
use pb_domain::{BillingProfileId, Currency, OfferKind, PartnerAccountState, PurchaseId};
use pb_store::{BillingAccountWithProfiles, BillingProfile, Offer, PartnerOverview, Purchase, StoreError};
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::commerce_views::{BlockerView, BuyFormView, MembershipPage, OfferView, OptionView, PurchaseRowView};
use crate::render::{account_summary, chrome, profile_summary, when, with_status};
use crate::session::WebUser;
use crate::views::Linked;

/// Recent purchases shown on the page.
const RECENT: u32 = 20;

/// A read the user may not be allowed (rule A2): `None` when refused or gone, other errors as they are.
pub(crate) fn readable<T>(r: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::Forbidden(_) | StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where purchases go now: the link in force and, for whoever may buy or read it, its account and
/// profile (the store decides who: rule A5 lets an MCPP admin see what they buy into).
pub(crate) struct Target {
    pub overview: PartnerOverview,
    pub account: Option<BillingAccountWithProfiles>,
    pub profile: Option<BillingProfile>,
}

impl Target {
    pub(crate) async fn read(s: &AppState, u: &WebUser) -> Result<Target, StoreError> {
        let cx = &u.who.cx;
        let overview = s.store.partner_overview(cx.tenant()).await?;
        let (account, profile) = match readable(s.store.purchase_target(cx).await)?.flatten() {
            Some((account, profile)) => (Some(account), Some(profile)),
            None => (None, None),
        };
        Ok(Target { overview, account, profile })
    }

    pub(crate) fn currency(&self) -> Option<Currency> {
        self.profile.as_ref().map(|p| p.currency)
    }
}

/// What the buy form held when the store (or the form's own parsing) refused it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempt {
    pub offer_id: String,
    pub quantity: String,
    pub section: String,
    pub payment: String,
    pub kind: String,
    pub token: String,
    pub hint: String,
    /// Per form field; `""` for the form as a whole.
    pub errors: Vec<(String, String)>,
    /// The sentence at the top of the page.
    pub refused: String,
    pub status: Option<StatusCode>,
}

/// Rules B1, M4, P2 in words, each with what to do.
fn blocker_view(b: PurchaseBlocker, u: &WebUser, linked_profile: Option<BillingProfileId>) -> BlockerView {
    let none = |sentence: String, todo: &str| BlockerView { sentence, todo: todo.to_owned(), todo_url: None, todo_link: String::new() };
    match b {
        PurchaseBlocker::PartnerAccountNotActive(state) => none(
            format!("The partner account is {}; purchases need an active account.", state.describe()),
            if state == PartnerAccountState::PendingVerification {
                "It is being verified: purchases open once it is Active"
            } else {
                "Contact partner support to get the account back to Active"
            },
        ),
        PurchaseBlocker::BillingLinkRequired => BlockerView {
            sentence: "No billing account and profile are linked yet.".into(),
            todo: if u.who.is_global_admin() { "Link them on the" } else { "A Global administrator links them on the" }.into(),
            todo_url: Some("/account/billing-profile".into()),
            todo_link: "Billing profile page".into(),
        },
        PurchaseBlocker::PrimaryContactRequired => BlockerView {
            sentence: "The linked billing account has no primary contact; purchases billed to it are refused until one is added.".into(),
            todo: "Its owner or a contributor adds one on the".into(),
            todo_url: linked_profile.map(|p| format!("/billing/profiles/{p}")),
            todo_link: "billing profile's details page".into(),
        },
    }
}

fn kind_words(k: OfferKind) -> &'static str {
    match k {
        OfferKind::ActionPack => "Action Pack",
        OfferKind::Designation => "Solutions Partner designation",
        OfferKind::BenefitsPackage => "Benefits package",
    }
}

fn price_words(o: &Offer, currency: Option<Currency>) -> (String, bool) {
    match currency {
        Some(c) => match o.price_in(c) {
            Some(p) => (format_money(p), true),
            None => (format!("Not sold in {c}"), false),
        },
        None => (o.prices.iter().map(|p| format_money(*p)).collect::<Vec<_>>().join(" · "), true),
    }
}

/// The buy form of `o`: defaults, or what a refused attempt for this offer held.
fn buy_form(o: &Offer, t: &Target, attempt: Option<&Attempt>) -> BuyFormView {
    let attempt = attempt.filter(|a| a.offer_id == o.id.as_str());
    let sections = t.profile.as_ref().map(|p| p.invoice_sections.as_slice()).unwrap_or_default();
    let chosen_section =
        attempt.map(|a| a.section.clone()).or_else(|| sections.iter().find(|x| x.is_default).map(|x| x.id.to_string())).unwrap_or_default();
    let mut payments: Vec<(String, String)> = match &t.profile {
        Some(p) => {
            p.payment_instruments.iter().map(|i| (i.id.to_string(), format!("{} ({})", i.display_hint, i.kind.describe()))).collect()
        }
        // The store pays with the profile's first instrument when the user cannot see them.
        None => vec![("default".into(), "The payment instrument on file for the linked billing profile".into())],
    };
    payments.push(("new".into(), "A new payment instrument (enter it below)".into()));
    let chosen_payment = attempt
        .map(|a| a.payment.clone())
        .filter(|p| !p.is_empty())
        .or_else(|| payments.first().map(|(v, _)| v.clone()))
        .unwrap_or_default();
    BuyFormView {
        open: attempt.is_some(),
        quantity: attempt.map(|a| a.quantity.clone()).unwrap_or_else(|| "1".into()),
        sections: sections
            .iter()
            .map(|x| OptionView {
                value: x.id.to_string(),
                label: if x.is_default { format!("{} (default)", x.display_name) } else { x.display_name.clone() },
                selected: x.id.to_string() == chosen_section,
            })
            .collect(),
        payments: payments.into_iter().map(|(value, label)| OptionView { selected: value == chosen_payment, value, label }).collect(),
        kind: attempt.map(|a| a.kind.clone()).filter(|k| !k.is_empty()).unwrap_or_else(|| "card".into()),
        token: attempt.map(|a| a.token.clone()).unwrap_or_default(),
        hint: attempt.map(|a| a.hint.clone()).unwrap_or_default(),
        errors: attempt.map(|a| a.errors.clone()).unwrap_or_default(),
    }
}

/// Names of the profiles, sections and invoices the purchases are billed to, as far as this user
/// may read them.
struct Names {
    /// The profile of the link in force.
    linked: Option<BillingProfileId>,
    profiles: HashMap<BillingProfileId, Option<BillingProfile>>,
    invoices: HashMap<String, String>,
}

impl Names {
    async fn read(s: &AppState, u: &WebUser, t: &Target, purchases: &[Purchase]) -> Result<Names, StoreError> {
        let cx = &u.who.cx;
        let mut profiles: HashMap<BillingProfileId, Option<BillingProfile>> = HashMap::new();
        if let Some(p) = &t.profile {
            profiles.insert(p.id, Some(p.clone()));
        }
        for id in purchases.iter().filter_map(|p| p.billing_profile_id) {
            if let Entry::Vacant(slot) = profiles.entry(id) {
                slot.insert(readable(s.store.get_billing_profile(cx, id).await)?);
            }
        }
        let mut invoices = HashMap::new();
        for p in profiles.values().flatten() {
            if purchases.iter().any(|x| x.billing_profile_id == Some(p.id) && x.invoice_id.is_some())
                && let Some(page) = readable(s.store.list_invoices(cx, p.id, None, Some(50)).await)?
            {
                invoices.extend(page.items.into_iter().map(|i| (i.id.to_string(), i.number)));
            }
        }
        Ok(Names { linked: t.overview.link.as_ref().map(|l| l.billing_profile_id), profiles, invoices })
    }

    fn profile(&self, id: Option<BillingProfileId>) -> Option<&BillingProfile> {
        id.and_then(|id| self.profiles.get(&id)).and_then(Option::as_ref)
    }

    fn row(&self, p: &Purchase) -> PurchaseRowView {
        let profile = self.profile(p.billing_profile_id);
        // Without a billing role on the profile its names are not this user's to read.
        let section = profile
            .and_then(|x| x.invoice_sections.iter().find(|s| Some(s.id) == p.invoice_section_id))
            .map(|s| s.display_name.clone())
            .unwrap_or_else(|| "—".into());
        let invoice =
            p.invoice_id.and_then(|i| self.invoices.get(&i.to_string()).map(|number| (format!("/billing/invoices/{i}"), number.clone())));
        PurchaseRowView {
            when: when(p.purchased_at),
            offer: p.description.clone(),
            quantity: p.quantity,
            amount: format_money(p.amount),
            profile: match (profile, p.billing_profile_id) {
                (Some(x), _) => x.display_name.clone(),
                (None, Some(id)) if Some(id) == self.linked => "The linked billing profile".into(),
                (None, Some(_)) => "An earlier billing profile".into(),
                (None, None) => "Legacy platform".into(),
            },
            section,
            invoice,
            invoiced: p.invoice_id.is_some(),
        }
    }

    /// The success banner after a purchase.
    fn bought(&self, p: &Purchase) -> String {
        let billed = match (self.profile(p.billing_profile_id), p.billing_profile_id) {
            (Some(x), _) => format!("billed to billing profile {}", x.display_name),
            (None, Some(_)) => "billed to the linked billing profile".into(),
            (None, None) => "billed by the legacy platform".into(),
        };
        format!("You bought {} × {} for {}, {billed}.", p.quantity, p.description, format_money(p.amount))
    }
}

/// The page; `attempt` is a refused purchase shown again with its reasons.
pub(crate) async fn membership(s: &AppState, u: &WebUser, bought: Option<PurchaseId>, attempt: Option<Attempt>) -> Response {
    match page(s, u, bought, attempt.as_ref()).await {
        Ok(p) => {
            let r = p.into_response();
            match attempt.and_then(|a| a.status) {
                Some(status) => with_status(r, status),
                None => r,
            }
        }
        Err(e) => render_error(s, u, e).await,
    }
}

async fn page(s: &AppState, u: &WebUser, bought: Option<PurchaseId>, attempt: Option<&Attempt>) -> Result<MembershipPage, StoreError> {
    let cx = &u.who.cx;
    let t = Target::read(s, u).await?;
    let offers = s.store.list_offers(true).await?;
    let purchases = s.store.list_purchases(cx, None, None, Some(RECENT)).await?.items;
    let bought = match bought {
        Some(id) => readable(s.store.get_purchase(cx, id).await)?,
        None => None,
    };
    let mut shown = purchases.clone();
    shown.extend(bought.iter().cloned());
    let names = Names::read(s, u, &t, &shown).await?;
    let link = t.overview.link.as_ref();
    let linked = match (&t.account, &t.profile, link) {
        (Some(a), Some(p), Some(l)) => Some(Linked {
            account: account_summary(s, &a.account, &[], a.agreement_accepted),
            profile: profile_summary(s, p),
            linked_at: when(l.linked_at),
            linked_by: l.linked_by.clone(),
        }),
        _ => None,
    };
    let currency = t.currency();
    let blockers: Vec<BlockerView> = t.overview.blockers.iter().map(|b| blocker_view(*b, u, link.map(|l| l.billing_profile_id))).collect();
    Ok(MembershipPage {
        chrome: chrome(s, u, "membership", "Membership").await,
        purchase_ready: blockers.is_empty(),
        blockers,
        linked,
        linked_unreadable: link.is_some() && t.profile.is_none(),
        currency: currency.map(|c| c.to_string()),
        may_purchase: cx.roles().may_purchase(),
        no_instrument: t.profile.as_ref().is_some_and(|p| p.payment_instruments.is_empty()),
        offers: offers
            .iter()
            .map(|o| {
                let (price, sold) = price_words(o, currency);
                OfferView {
                    id: o.id.to_string(),
                    name: o.name.clone(),
                    kind: kind_words(o.kind).into(),
                    term: if o.term_months == 1 { "1 month".into() } else { format!("{} months", o.term_months) },
                    one_per_partner: o.one_per_partner,
                    price,
                    sold,
                    form: buy_form(o, &t, attempt),
                }
            })
            .collect(),
        bought: bought.as_ref().map(|p| names.bought(p)),
        refused: attempt.map(|a| (a.refused.clone(), a.offer_id.clone())),
        purchases: purchases.iter().map(|p| names.row(p)).collect(),
    })
}

#[derive(Deserialize)]
pub struct MembershipQuery {
    bought: Option<String>,
}

pub async fn membership_page(State(s): State<AppState>, u: WebUser, Query(q): Query<MembershipQuery>) -> Response {
    let bought = q.bought.as_deref().and_then(|b| PurchaseId::parse(b).ok());
    membership(&s, &u, bought, None).await
}
