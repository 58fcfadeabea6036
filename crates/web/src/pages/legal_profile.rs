//! The legal profile page (rule N3): the verified profile, any pending change, and the form to
//! submit one (global admins and account admins, as the store decides).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_domain::{AddressInput, ContactInput, LegalProfileInput};
use pb_store::StoreError;
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::{chrome, contact_line, not_found, one_line, see_other, when, with_status};
use crate::session::WebUser;
use crate::views::{LegalForm, LegalProfilePage};

#[derive(Deserialize)]
pub struct LegalQuery {
    submitted: Option<String>,
}

fn legal_form(lp: &pb_domain::LegalProfile) -> LegalForm {
    let a = &lp.sold_to;
    let contact = lp.primary_contact.as_ref();
    LegalForm {
        company_name: lp.company_name.clone(),
        address_line1: a.address_line1.clone(),
        address_line2: a.address_line2.clone().unwrap_or_default(),
        city: a.city.clone().unwrap_or_default(),
        region: a.region.clone().unwrap_or_default(),
        postal_code: a.postal_code.clone().unwrap_or_default(),
        country: a.country.to_string(),
        contact_name: contact.map(|c| c.name.clone()).unwrap_or_default(),
        contact_email: contact.map(|c| c.email.to_string()).unwrap_or_default(),
        contact_phone: contact.and_then(|c| c.phone.as_ref()).map(|p| p.as_str().to_owned()).unwrap_or_default(),
    }
}

fn pending_words(change: &pb_domain::LegalProfileChange) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &change.company_name {
        parts.push(format!("Company name: {n}"));
    }
    if let Some(a) = &change.sold_to {
        parts.push(format!("Sold-to address: {}", one_line(a)));
    }
    if let Some(c) = &change.primary_contact {
        parts.push(format!("Primary contact: {} <{}>", c.name, c.email));
    }
    parts.join("; ")
}

async fn legal_page(s: &AppState, u: &WebUser, submitted: bool, form: Option<LegalForm>, errors: Vec<(String, String)>) -> Response {
    let c = chrome(s, u, "legal-profile", "Legal profile").await;
    let p = match s.store.get_partner_account(u.who.cx.tenant()).await {
        Ok(p) => p,
        Err(_) => return not_found(c, "partner account"),
    };
    let failed = !errors.is_empty();
    let r = LegalProfilePage {
        chrome: c,
        verified_company: p.legal_profile.company_name.clone(),
        verified_sold_to: one_line(&p.legal_profile.sold_to),
        verified_contact: contact_line(&p.legal_profile.primary_contact).unwrap_or_else(|| "None".into()),
        pending: p.pending_legal_profile.as_ref().map(|x| pending_words(&x.change)),
        pending_since: p.pending_legal_profile.as_ref().map(|x| when(x.submitted_at)).unwrap_or_default(),
        submitted,
        can_edit: s.store.may_edit_legal_profile(&u.who.cx),
        form: form.unwrap_or_else(|| legal_form(&p.legal_profile)),
        errors,
    }
    .into_response();
    if failed { with_status(r, StatusCode::UNPROCESSABLE_ENTITY) } else { r }
}

pub async fn legal_profile_page(State(s): State<AppState>, u: WebUser, Query(q): Query<LegalQuery>) -> Response {
    legal_page(&s, &u, q.submitted.is_some(), None, Vec::new()).await
}

#[derive(Deserialize)]
pub struct LegalSubmit {
    csrf: String,
    company_name: String,
    address_line1: String,
    address_line2: String,
    city: String,
    region: String,
    postal_code: String,
    country: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
}

impl CsrfProtected for LegalSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Only what differs from the verified profile becomes the pending change.
fn change_input(form: &LegalForm, current: &LegalForm) -> LegalProfileInput {
    let opt = |v: &str| (!v.trim().is_empty()).then(|| v.to_owned());
    let address_changed = (&form.address_line1, &form.address_line2, &form.city, &form.region, &form.postal_code, &form.country)
        != (&current.address_line1, &current.address_line2, &current.city, &current.region, &current.postal_code, &current.country);
    let contact_changed = (&form.contact_name, &form.contact_email, &form.contact_phone)
        != (&current.contact_name, &current.contact_email, &current.contact_phone);
    LegalProfileInput {
        company_name: (form.company_name != current.company_name).then(|| form.company_name.clone()),
        sold_to: address_changed.then(|| AddressInput {
            address_line1: Some(form.address_line1.clone()),
            address_line2: opt(&form.address_line2),
            city: opt(&form.city),
            region: opt(&form.region),
            postal_code: opt(&form.postal_code),
            country: Some(form.country.clone()),
            ..Default::default()
        }),
        primary_contact: contact_changed.then(|| ContactInput {
            name: Some(form.contact_name.clone()),
            email: Some(form.contact_email.clone()),
            phone: opt(&form.contact_phone),
        }),
    }
}

pub async fn legal_profile_submit(State(s): State<AppState>, CsrfForm { user: u, form: f }: CsrfForm<LegalSubmit>) -> Response {
    let form = LegalForm {
        company_name: f.company_name,
        address_line1: f.address_line1,
        address_line2: f.address_line2,
        city: f.city,
        region: f.region,
        postal_code: f.postal_code,
        country: f.country,
        contact_name: f.contact_name,
        contact_email: f.contact_email,
        contact_phone: f.contact_phone,
    };
    let Ok(p) = s.store.get_partner_account(u.who.cx.tenant()).await else { return see_other("/account/legal-profile") };
    let input = change_input(&form, &legal_form(&p.legal_profile));
    match s.store.submit_legal_profile_change(&u.who.cx, &input).await {
        Ok(_) => see_other("/account/legal-profile?submitted=1"),
        Err(StoreError::Forbidden(m)) => legal_page(&s, &u, false, Some(form), vec![(String::new(), format!("Not submitted: {m}."))]).await,
        Err(StoreError::Fields(errs)) => {
            let errors = errs
                .0
                .into_iter()
                .map(|e| {
                    let field = e.field.replace("sold_to.", "").replace("primary_contact.", "contact_");
                    let message = if e.code == "empty_change" { "Nothing changed: edit a field first.".to_owned() } else { e.message };
                    (field, message)
                })
                .collect();
            legal_page(&s, &u, false, Some(form), errors).await
        }
        Err(e) => render_error(&s, &u, e).await,
    }
}
