//! The buy form's POST (rules A5, B1–B3, M4, C4): the form is parsed by the domain's own parsers,
//! the store makes or refuses the purchase, and each refusal becomes a sentence on the membership
//! page. A card number typed as a token is never echoed back.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pb_app::AppState;
use pb_domain::commerce::MAX_QUANTITY;
use pb_domain::{InvoiceSectionId, OfferId, PaymentInstrumentId, PaymentInstrumentInput};
use pb_store::{NewPurchase, PaymentChoice, StoreError};
use serde::Deserialize;

use super::billing_profile::render_error;
use super::membership::{Attempt, Target, membership};
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::see_other;
use crate::session::WebUser;

#[derive(Deserialize)]
pub struct PurchaseSubmit {
    csrf: String,
    offer_id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    invoice_section_id: String,
    /// A payment instrument id, `default` (the profile's first) or `new` (the fields below).
    #[serde(default)]
    payment: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    display_hint: String,
}

impl CsrfProtected for PurchaseSubmit {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

const CHECK_FIELDS: &str = "The purchase was not made: check the fields of the offer below.";
const CARD_NUMBER: &str = "That looks like a card number. Enter the token your payment processor gave you, never the card number.";

/// A field's problem in words for the form; `field` is the store's or the domain's name for it.
fn field_sentence(field: &str, code: &str, message: &str) -> String {
    match (field, code) {
        ("quantity", "one_per_partner") => "This offer is sold one per partner: the quantity must be 1.".into(),
        ("quantity", _) => format!("Enter a quantity from 1 to {MAX_QUANTITY}."),
        ("invoice_section_id", "no_billing_profile") => {
            "Nothing is linked, so the purchase cannot go to an invoice section or be paid by an instrument here.".into()
        }
        ("invoice_section_id", _) => "Choose an invoice section of the linked billing profile.".into(),
        ("payment_instrument_id", _) => "Choose a payment instrument of the linked billing profile.".into(),
        (_, "card_number_refused") => CARD_NUMBER.into(),
        (_, "required") => "This is required.".into(),
        (_, "invalid_kind") => "Choose card or bank transfer.".into(),
        _ => {
            let mut m = message.to_owned();
            if let Some(first) = m.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{m}.")
        }
    }
}

/// The form's field for a store or domain field name.
fn form_field(field: &str) -> String {
    match field.rsplit('.').next().unwrap_or(field) {
        "invoice_section_id" => "section".into(),
        "payment_instrument_id" => "payment".into(),
        other => other.to_owned(),
    }
}

/// Form fields and what is wrong with each.
type FieldSentences = Vec<(String, String)>;

/// Rules A5, B1, B3, M4, P2 and the catalog's refusals, each in a sentence that says what to do.
fn refusal(e: &StoreError, offer: &str, t: Option<&Target>) -> Option<(StatusCode, String, FieldSentences)> {
    let nothing = "Nothing was bought.";
    Some(match e {
        StoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            format!("Membership purchases need the MCPP admin or Global administrator role, which your account does not have. {nothing}"),
            Vec::new(),
        ),
        StoreError::NotFound("offer") => (StatusCode::NOT_FOUND, format!("This offer is not sold any more. {nothing}"), Vec::new()),
        StoreError::PartnerAccountNotActive(state) => (
            StatusCode::CONFLICT,
            format!("The partner account is {}; purchases need an active account. {nothing}", state.describe()),
            Vec::new(),
        ),
        StoreError::Conflict { code, message } => {
            let (sentence, fields) = match *code {
                "billing_link_required" => (
                    "No billing account and profile are linked yet: a Global administrator links them on the Billing profile page first."
                        .to_owned(),
                    Vec::new(),
                ),
                "primary_contact_required" => (
                    "The linked billing account has no primary contact. Its owner or a contributor adds one on the billing profile's \
                     details page; then buy again."
                        .to_owned(),
                    Vec::new(),
                ),
                "payment_instrument_required" => (
                    "The linked billing profile has no payment instrument. Choose “A new payment instrument” and enter the token your \
                     payment processor gave you."
                        .to_owned(),
                    vec![("payment".to_owned(), "Choose “A new payment instrument” and fill in its fields.".to_owned())],
                ),
                "already_owned" => (
                    format!("{offer} is sold one per partner, and your partner account already owns one that is still in its term."),
                    Vec::new(),
                ),
                _ => (message.clone(), Vec::new()),
            };
            (StatusCode::CONFLICT, format!("{sentence} {nothing}"), fields)
        }
        StoreError::Unprocessable { code: "offer_not_sold_in_currency", .. } => {
            let currency = t.and_then(Target::currency).map(|c| c.to_string()).unwrap_or_else(|| "the linked profile's currency".into());
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{offer} is not sold in {currency}, the currency of the linked billing profile. Choose another offer. {nothing}"),
                Vec::new(),
            )
        }
        StoreError::Fields(errs) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            CHECK_FIELDS.to_owned(),
            errs.0.iter().map(|e| (form_field(&e.field), field_sentence(&e.field, &e.code, &e.message))).collect(),
        ),
        _ => return None,
    })
}

/// Reads the form into a purchase with the domain's parsers; the errors are keyed by form field.
fn parse(f: &PurchaseSubmit, offer: &OfferId) -> Result<NewPurchase, FieldSentences> {
    let mut errors = Vec::new();
    let quantity = match f.quantity.trim().parse::<i64>() {
        Ok(q) => q,
        Err(_) => {
            errors.push(("quantity".to_owned(), field_sentence("quantity", "not_a_number", "")));
            0
        }
    };
    let section = match f.invoice_section_id.trim() {
        "" => None,
        raw => {
            InvoiceSectionId::parse(raw).map_err(|_| errors.push(("section".to_owned(), field_sentence("invoice_section_id", "", "")))).ok()
        }
    };
    let payment = match f.payment.trim() {
        "" | "default" => Some(PaymentChoice::Default),
        "new" => {
            let input = PaymentInstrumentInput {
                kind: Some(f.kind.clone()),
                token: Some(f.token.clone()),
                display_hint: Some(f.display_hint.clone()),
            };
            match input.parse() {
                Ok(new) => Some(PaymentChoice::New(new)),
                Err(errs) => {
                    errors.extend(errs.0.iter().map(|e| (form_field(&e.field), field_sentence(&e.field, &e.code, &e.message))));
                    None
                }
            }
        }
        raw => PaymentInstrumentId::parse(raw)
            .map(PaymentChoice::Existing)
            .map_err(|_| errors.push(("payment".to_owned(), field_sentence("payment_instrument_id", "", ""))))
            .ok(),
    };
    match payment {
        Some(payment) if errors.is_empty() => Ok(NewPurchase { offer_id: offer.clone(), quantity, invoice_section_id: section, payment }),
        _ => Err(errors),
    }
}

/// The refused form, to show again; a token that looked like a card number is dropped.
fn attempt(f: &PurchaseSubmit, status: StatusCode, refused: String, errors: FieldSentences) -> Attempt {
    let card = errors.iter().any(|(_, m)| m == CARD_NUMBER);
    Attempt {
        offer_id: f.offer_id.clone(),
        quantity: f.quantity.clone(),
        section: f.invoice_section_id.clone(),
        payment: f.payment.clone(),
        kind: f.kind.clone(),
        token: if card { String::new() } else { f.token.clone() },
        hint: if card { String::new() } else { f.display_hint.clone() },
        errors,
        refused,
        status: Some(status),
    }
}

async fn offer_name(s: &AppState, id: &OfferId) -> String {
    s.store
        .list_offers(false)
        .await
        .ok()
        .and_then(|o| o.into_iter().find(|o| o.id == *id))
        .map(|o| o.name)
        .unwrap_or_else(|| id.to_string())
}

/// `POST /membership/purchases` → 303 to `/membership?bought=<id>`, or the page again with the reason.
pub async fn purchase_submit(State(s): State<AppState>, CsrfForm { user: u, form: f }: CsrfForm<PurchaseSubmit, WebUser>) -> Response {
    let Ok(offer) = OfferId::parse(f.offer_id.trim()) else {
        let a = attempt(&f, StatusCode::NOT_FOUND, "This offer is not sold any more. Nothing was bought.".into(), Vec::new());
        return membership(&s, &u, None, Some(a)).await;
    };
    let new = match parse(&f, &offer) {
        Ok(new) => new,
        Err(errors) => {
            let a = attempt(&f, StatusCode::UNPROCESSABLE_ENTITY, CHECK_FIELDS.into(), errors);
            return membership(&s, &u, None, Some(a)).await;
        }
    };
    match s.store.create_purchase(&u.who.cx, &new).await {
        Ok(p) => see_other(&format!("/membership?bought={}", p.id)),
        Err(e) => {
            let target = Target::read(&s, &u).await.ok();
            match refusal(&e, &offer_name(&s, &offer).await, target.as_ref()) {
                Some((status, refused, errors)) => membership(&s, &u, None, Some(attempt(&f, status, refused, errors))).await,
                None => render_error(&s, &u, e).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_fields_map_to_the_form_and_to_words() {
        assert_eq!(form_field("invoice_section_id"), "section");
        assert_eq!(form_field("payment_instrument.token"), "token");
        assert_eq!(field_sentence("quantity", "out_of_range", "must be between 1 and 1000"), "Enter a quantity from 1 to 1000.");
        assert!(field_sentence("token", "card_number_refused", "looks like a card number").contains("never the card number"));
    }
}
