//! A billing profile's own page ("View details", rule E1): its account, sections and payment
//! instruments, its monthly spend drawn from its invoices, the form to add an instrument (a
//! processor token and a hint; never a card number), and the form to give its account the primary
//! contact that purchases need (rule M4).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_domain::{BillingProfileId, ContactInput, PaymentInstrumentInput};
use pb_store::{BillingAccountPatch, BillingProfile, Invoice, StoreError};
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::commerce_views::SpendChart;
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::{account_summary, chrome, not_found, profile_summary, see_other, with_status};
use crate::session::WebUser;
use crate::spend_chart::{MONTHS, spend_chart};
use crate::views::{AccountSummary, ProfileDetailsPage};

#[derive(Deserialize)]
pub struct DetailsQuery {
    added: Option<String>,
    contact: Option<String>,
    /// The outcome of a grant or revoke form (see `roles::outcome_words`).
    roles: Option<String>,
}

/// Which success banner to show after a form's 303.
#[derive(Debug, Default, Clone, Copy)]
struct Banner {
    added: bool,
    contact_saved: bool,
    roles: Option<&'static str>,
}

/// What the page's forms held when one is shown again with its errors.
#[derive(Debug, Default)]
struct Typed {
    token: String,
    hint: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
}

pub async fn profile_details_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<DetailsQuery>,
) -> Response {
    let roles = q.roles.as_deref().and_then(super::roles::outcome_words);
    let banner = Banner { added: q.added.is_some(), contact_saved: q.contact.is_some(), roles };
    details(&s, &u, &id, banner, Vec::new(), Typed::default()).await
}

/// The profile's spend chart: its newest issued invoices, read as the invoice pages read them.
/// The page shows without it when they cannot be read.
async fn chart(s: &AppState, u: &WebUser, p: &BillingProfile) -> Option<SpendChart> {
    let limit = u32::try_from(MONTHS).unwrap_or(12);
    let page = match s.store.list_invoices(&u.who.cx, p.id, None, Some(limit)).await {
        Ok(page) => page,
        Err(e) => {
            tracing::warn!(error = %e, profile = %p.id, "spend chart: invoices not readable");
            return None;
        }
    };
    let mut invoices: Vec<Invoice> = Vec::with_capacity(page.items.len());
    for i in &page.items {
        match s.store.get_invoice(&u.who.cx, i.id).await {
            Ok(inv) => invoices.push(inv),
            Err(e) => {
                tracing::warn!(error = %e, invoice = %i.id, "spend chart: invoice not readable");
                return None;
            }
        }
    }
    spend_chart(&invoices, p.currency)
}

/// The page; `typed` is what the forms held when one is shown again with `errors`.
async fn details(s: &AppState, u: &WebUser, id: &str, banner: Banner, errors: Vec<(String, String)>, typed: Typed) -> Response {
    let c = chrome(s, u, "billing-profile", "Billing profile details").await;
    let Ok(id) = BillingProfileId::parse(id) else { return not_found(c, "billing profile") };
    let p = match s.store.get_billing_profile(&u.who.cx, id).await {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => return not_found(c, "billing profile"),
        Err(e) => return render_error(s, u, e).await,
    };
    // A reader of the profile alone may not read its account: show its id then.
    let (account, account_readable) = match s.store.get_billing_account(&u.who.cx, p.billing_account_id).await {
        Ok(a) => (account_summary(s, &a.account, &[], a.agreement_accepted), true),
        Err(_) => (
            AccountSummary {
                id: p.billing_account_id.to_string(),
                name: p.billing_account_id.to_string(),
                company: String::new(),
                sold_to: String::new(),
                country: String::new(),
                contact: None,
                agreement_accepted: false,
                profiles: Vec::new(),
            },
            false,
        ),
    };
    let instruments = p.payment_instruments.iter().map(|i| format!("{} ({})", i.display_hint, i.kind.describe())).collect();
    let failed = !errors.is_empty();
    let r = ProfileDetailsPage {
        chrome: c,
        account,
        account_readable,
        profile: profile_summary(s, &p),
        instruments,
        chart: chart(s, u, &p).await,
        added: banner.added,
        contact_saved: banner.contact_saved,
        errors,
        token: typed.token,
        hint: typed.hint,
        contact_name: typed.contact_name,
        contact_email: typed.contact_email,
        contact_phone: typed.contact_phone,
        roles_section: super::roles::section(s, u, &p, banner.roles.map(str::to_owned)).await,
    }
    .into_response();
    if failed { with_status(r, StatusCode::UNPROCESSABLE_ENTITY) } else { r }
}

#[derive(Deserialize)]
pub struct InstrumentSubmit {
    csrf: String,
    kind: String,
    token: String,
    display_hint: String,
}

impl CsrfProtected for InstrumentSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Adds a payment instrument. The domain parses the input exactly as for the API; a refused value
/// (a card number) is not echoed back into the form.
pub async fn payment_instrument_submit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user: u, form: f }: CsrfForm<InstrumentSubmit>,
) -> Response {
    let Ok(profile) = BillingProfileId::parse(&id) else { return see_other("/account/billing-profile") };
    let input = PaymentInstrumentInput { kind: Some(f.kind), token: Some(f.token.clone()), display_hint: Some(f.display_hint.clone()) };
    let new = match input.parse() {
        Ok(new) => new,
        Err(errs) => {
            let card = errs.0.iter().any(|e| e.code == "card_number_refused");
            let errors = errs.0.into_iter().map(|e| (e.field, sentence(&e.code, &e.message))).collect();
            let typed = if card { Typed::default() } else { Typed { token: f.token, hint: f.display_hint, ..Typed::default() } };
            return details(&s, &u, &id, Banner::default(), errors, typed).await;
        }
    };
    match s.store.add_payment_instrument(&u.who.cx, profile, &new).await {
        Ok(_) => see_other(&format!("/billing/profiles/{profile}?added=1")),
        Err(StoreError::Forbidden(m)) => details(&s, &u, &id, Banner::default(), vec![(String::new(), m)], Typed::default()).await,
        Err(e) => render_error(&s, &u, e).await,
    }
}

#[derive(Deserialize)]
pub struct ContactSubmit {
    csrf: String,
    contact_name: String,
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
}

impl CsrfProtected for ContactSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Gives the profile's billing account its primary contact (rule M4), for whoever may manage the
/// account as the store decides.
pub async fn primary_contact_submit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user: u, form: f }: CsrfForm<ContactSubmit>,
) -> Response {
    let Ok(profile) = BillingProfileId::parse(&id) else { return see_other("/account/billing-profile") };
    let phone = (!f.contact_phone.trim().is_empty()).then(|| f.contact_phone.clone());
    let input = ContactInput { name: Some(f.contact_name.clone()), email: Some(f.contact_email.clone()), phone };
    let typed = || Typed {
        contact_name: f.contact_name.clone(),
        contact_email: f.contact_email.clone(),
        contact_phone: f.contact_phone.clone(),
        ..Typed::default()
    };
    let contact = match input.parse() {
        Ok(c) => c,
        Err(errs) => {
            let errors = errs.0.into_iter().map(|e| (format!("contact_{}", e.field), sentence(&e.code, &e.message))).collect();
            return details(&s, &u, &id, Banner::default(), errors, typed()).await;
        }
    };
    let account = match s.store.get_billing_profile(&u.who.cx, profile).await {
        Ok(p) => p.billing_account_id,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let patch = BillingAccountPatch { primary_contact: Some(Some(contact)), ..BillingAccountPatch::default() };
    match s.store.update_billing_account(&u.who.cx, account, &patch).await {
        Ok(_) => see_other(&format!("/billing/profiles/{profile}?contact=1")),
        Err(StoreError::Forbidden(m)) => {
            details(&s, &u, &id, Banner::default(), vec![("contact".to_owned(), format!("Not saved: {m}."))], typed()).await
        }
        Err(e) => render_error(&s, &u, e).await,
    }
}

/// A field error in words for the form.
fn sentence(code: &str, message: &str) -> String {
    match code {
        "required" => "This is required.".to_owned(),
        "invalid_kind" => "Choose card or bank transfer.".to_owned(),
        _ => {
            let mut m = message.to_owned();
            if let Some(first) = m.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{m}.")
        }
    }
}
