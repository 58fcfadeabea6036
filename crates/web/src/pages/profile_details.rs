//! A billing profile's own page ("View details", rule E1): its account, sections and payment
//! instruments, and the form to add an instrument (a processor token and a hint; never a card number).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_domain::{BillingProfileId, PaymentInstrumentInput};
use pb_store::StoreError;
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::{account_summary, chrome, not_found, profile_summary, see_other, with_status};
use crate::session::WebUser;
use crate::views::{AccountSummary, ProfileDetailsPage};

#[derive(Deserialize)]
pub struct DetailsQuery {
    added: Option<String>,
}

pub async fn profile_details_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<DetailsQuery>,
) -> Response {
    details(&s, &u, &id, q.added.is_some(), Vec::new(), (String::new(), String::new())).await
}

/// The page; `typed` is what the form held when it is shown again with `errors`.
async fn details(s: &AppState, u: &WebUser, id: &str, added: bool, errors: Vec<(String, String)>, typed: (String, String)) -> Response {
    let c = chrome(s, u, "billing-profile", "Billing profile details").await;
    let Ok(id) = BillingProfileId::parse(id) else { return not_found(c, "billing profile") };
    let p = match s.store.get_billing_profile(&u.who.cx, id).await {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => return not_found(c, "billing profile"),
        Err(e) => return render_error(s, u, e).await,
    };
    // A reader of the profile alone may not read its account: show its id then.
    let account = match s.store.get_billing_account(&u.who.cx, p.billing_account_id).await {
        Ok(a) => account_summary(s, &a.account, &[], a.agreement_accepted),
        Err(_) => AccountSummary {
            id: p.billing_account_id.to_string(),
            name: p.billing_account_id.to_string(),
            company: String::new(),
            sold_to: String::new(),
            country: String::new(),
            contact: None,
            agreement_accepted: false,
            profiles: Vec::new(),
        },
    };
    let instruments = p.payment_instruments.iter().map(|i| format!("{} ({})", i.display_hint, i.kind.describe())).collect();
    let failed = !errors.is_empty();
    let r = ProfileDetailsPage {
        chrome: c,
        account,
        profile: profile_summary(s, &p),
        instruments,
        added,
        errors,
        token: typed.0,
        hint: typed.1,
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
            let typed = if card { (String::new(), String::new()) } else { (f.token, f.display_hint) };
            return details(&s, &u, &id, false, errors, typed).await;
        }
    };
    match s.store.add_payment_instrument(&u.who.cx, profile, &new).await {
        Ok(_) => see_other(&format!("/billing/profiles/{profile}?added=1")),
        Err(StoreError::Forbidden(m)) => details(&s, &u, &id, false, vec![(String::new(), m)], (String::new(), String::new())).await,
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
