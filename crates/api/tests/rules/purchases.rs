//! Purchases (B1–B3) and the rules they lean on: who buys (A5), the primary contact (M4), sections
//! that hold charges (H3), and purchases staying where they were billed across a link change (C4).

use serde_json::{Value, json};

use super::{account, etag, fund, linked, profile, put_link};
use crate::support::{Resp, TestApp};

/// Puts an offer through the operator API; prices as (minor units, currency).
pub(crate) async fn offer(app: &TestApp, id: &str, kind: &str, one_per_partner: bool, prices: &[(i64, &str)]) {
    let prices: Vec<Value> = prices.iter().map(|(a, c)| json!({"amount_minor": a, "currency": c})).collect();
    let body =
        json!({"name": format!("Offer {id}"), "kind": kind, "term_months": 12, "one_per_partner": one_per_partner, "prices": prices});
    let r = app.call("PUT", &format!("/api/v1/offers/{id}"), &app.operator_token(), Some(body)).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
}

/// The demo-like catalog the tests buy from.
pub(crate) async fn catalog(app: &TestApp) {
    offer(app, "action-pack", "action_pack", true, &[(47_500, "USD"), (44_000, "EUR")]).await;
    offer(app, "security", "designation", false, &[(125_000, "USD"), (115_000, "EUR")]).await;
    offer(app, "euro-only", "benefits_package", false, &[(90_000, "EUR")]).await;
}

pub(crate) async fn buy(app: &TestApp, token: &str, body: Value) -> Resp {
    app.call("POST", "/api/v1/purchases", token, Some(body)).await
}

async fn purchase_count(app: &TestApp, token: &str) -> usize {
    app.get("/api/v1/purchases?limit=200", token).await.body["items"].as_array().map(Vec::len).unwrap_or(0)
}

async fn rule_a5_only_mcpp_admins_and_global_admins_buy(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("A5", "US", "active").await;
    linked(&app, &t).await;
    for token in [&t.plain, &t.account_admin] {
        buy(&app, token, json!({"offer_id": "security", "quantity": 1})).await.problem(403, "forbidden");
    }
    let op = app.operator_token();
    buy(&app, &op, json!({"offer_id": "security", "quantity": 1})).await.problem(403, "forbidden");
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await.status, 201);
    assert_eq!(buy(&app, &t.ga, json!({"offer_id": "security", "quantity": 2})).await.status, 201);
    assert_eq!(purchase_count(&app, &t.ga).await, 2);
}

async fn rule_b1_purchases_after_the_cutover_need_a_billing_link(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("B1", "US", "active").await;
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await;
    r.problem(409, "billing_link_required");
    assert_eq!(purchase_count(&app, &t.ga).await, 0, "a refusal changes nothing");
    let offers = app.get("/api/v1/offers", &t.mcpp).await;
    assert_eq!(offers.body["items"].as_array().map(Vec::len), Some(3));
    linked(&app, &t).await;
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await.status, 201);
}

/// Before the cutover a purchase needs no link: the legacy platform billed it, so it carries no
/// profile and never reaches an invoice here.
async fn rule_b1_before_the_cutover_a_purchase_without_a_link_is_billed_elsewhere(store: pb_store::Store) {
    let future = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
    let app = crate::support::app(store.with_purchase_cutover(future)).await;
    catalog(&app).await;
    let t = app.tenant("B1legacy", "US", "active").await;
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["billing_profile_id"], Value::Null);
    assert_eq!(r.body["amount"], json!({"amount_minor": 125_000, "currency": "USD"}));
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "invoice_section_id": "is_0192c4a8e0a07b3e8f7a6e2d5c4b3a21"}))
        .await;
    r.problem(422, "validation_failed");
}

async fn rule_b2_a_purchase_goes_to_the_chosen_or_default_section_of_the_linked_profile(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("B2", "US", "active").await;
    let (ba, bp) = linked(&app, &t).await;
    let p = app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await;
    let default_section = p.body["invoice_sections"][0]["id"].clone();
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 3})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["billing_account_id"], ba.as_str());
    assert_eq!(r.body["billing_profile_id"], bp.as_str());
    assert_eq!(r.body["invoice_section_id"], default_section);
    assert_eq!(r.body["unit_price"], json!({"amount_minor": 125_000, "currency": "USD"}));
    assert_eq!(r.body["amount"], json!({"amount_minor": 375_000, "currency": "USD"}));
    assert_eq!(r.body["invoice_id"], Value::Null);
    let s = app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), &t.ga, Some(json!({"display_name": "Lab"}))).await;
    let lab = s.body["id"].as_str().unwrap().to_owned();
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "invoice_section_id": lab})).await;
    assert_eq!(r.body["invoice_section_id"], lab.as_str());
    // A section of another profile is refused; so is a quantity out of range.
    let other = app.tenant("B2other", "US", "active").await;
    let (_, other_bp) = linked(&app, &other).await;
    let other_section = app.get(&format!("/api/v1/billing-profiles/{other_bp}"), &other.ga).await.body["invoice_sections"][0]["id"].clone();
    buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "invoice_section_id": other_section}))
        .await
        .problem(422, "validation_failed");
    for q in [0, 1001] {
        buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": q})).await.problem(422, "validation_failed");
    }
    buy(&app, &t.mcpp, json!({"offer_id": "euro-only", "quantity": 1})).await.problem(422, "offer_not_sold_in_currency");
    buy(&app, &t.mcpp, json!({"offer_id": "no-such-offer", "quantity": 1})).await.problem(404, "not_found");
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/purchases/{id}"), &t.mcpp).await.body["id"], id);
    app.get(&format!("/api/v1/purchases/{id}"), &other.ga).await.problem(404, "not_found");
}

async fn rule_b3_a_purchase_needs_a_payment_instrument_and_may_bring_one(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("B3", "US", "active").await;
    let ba = account(&app, &t.ga, json!({"primary_contact": {"name": "Pat", "email": "pat@example.com"}})).await;
    let bp = profile(&app, &t.ga, &ba, "Unfunded").await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
    buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await.problem(409, "payment_instrument_required");
    let card = json!({"kind": "card", "token": "4242424242424242", "display_hint": "Visa"});
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "payment_instrument": card})).await;
    r.problem(422, "validation_failed");
    assert!(!r.body.to_string().contains("4242424242424242"), "the number is not echoed");
    let card = json!({"kind": "card", "token": "tok_mcpp", "display_hint": "Visa 1881"});
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "payment_instrument": card})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let p = app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await;
    assert_eq!(p.body["payment_instrument_summary"], "Visa 1881", "added in the purchase's own transaction");
    assert_eq!(r.body["payment_instrument_id"], p.body["payment_instruments"][0]["id"]);
    let r =
        buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "payment_instrument_id": r.body["payment_instrument_id"]})).await;
    assert_eq!(r.status, 201);
}

async fn rule_m4_a_purchase_needs_the_accounts_primary_contact(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("M4", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    fund(&app, &t.ga, &bp).await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
    let r = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await;
    r.problem(409, "primary_contact_required");
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(&ba)), "the detail says where to add it: {}", r.body);
    let fix = json!({"primary_contact": {"name": "Pat", "email": "pat@example.com"}});
    assert_eq!(app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.ga, Some(fix)).await.status, 200);
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await.status, 201);
}

async fn one_per_partner_offers_are_owned_once_within_their_term(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("Owned", "US", "active").await;
    linked(&app, &t).await;
    buy(&app, &t.mcpp, json!({"offer_id": "action-pack", "quantity": 2})).await.problem(422, "validation_failed");
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "action-pack", "quantity": 1})).await.status, 201);
    buy(&app, &t.ga, json!({"offer_id": "action-pack", "quantity": 1})).await.problem(409, "already_owned");
}

async fn rule_h3_a_section_holding_purchases_is_never_deleted(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("H3", "US", "active").await;
    let (_, bp) = linked(&app, &t).await;
    let s = app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), &t.ga, Some(json!({"display_name": "Lab"}))).await;
    let lab = s.body["id"].as_str().unwrap().to_owned();
    assert_eq!(buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1, "invoice_section_id": lab})).await.status, 201);
    app.call("DELETE", &format!("/api/v1/invoice-sections/{lab}"), &t.ga, None).await.problem(409, "invoice_section_not_empty");
    assert_eq!(app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await.body["invoice_sections"].as_array().map(Vec::len), Some(2));
}

async fn rule_c4_later_purchases_go_to_the_new_profile_and_earlier_ones_stay(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("C4buy", "US", "active").await;
    let (ba, bp1) = linked(&app, &t).await;
    let before = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await;
    let bp2 = profile(&app, &t.ga, &ba, "Two").await;
    fund(&app, &t.ga, &bp2).await;
    let tag = etag(&app, &t.ga).await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp2, false, Some(&tag)).await.status, 200);
    let after = buy(&app, &t.mcpp, json!({"offer_id": "security", "quantity": 1})).await;
    assert_eq!(before.body["billing_profile_id"], bp1.as_str());
    assert_eq!(after.body["billing_profile_id"], bp2.as_str());
    let id = before.body["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/purchases/{id}"), &t.ga).await.body["billing_profile_id"], bp1.as_str(), "never moved");
    let on = |bp: &str| format!("/api/v1/purchases?billing_profile_id={bp}");
    assert_eq!(app.get(&on(&bp1), &t.ga).await.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get(&on(&bp2), &t.ga).await.body["items"].as_array().map(Vec::len), Some(1));
}

/// A purchase retried with its idempotency key is made once: the retry gets the first answer.
async fn a_purchase_retried_with_its_key_is_made_once(app: TestApp) {
    catalog(&app).await;
    let t = app.tenant("Idem", "US", "active").await;
    linked(&app, &t).await;
    let body = json!({"offer_id": "security", "quantity": 1}).to_string().into_bytes();
    let key = [("idempotency-key", "buy-1")];
    let first = app.request("POST", "/api/v1/purchases", Some(&t.mcpp), Some(body.clone()), &key).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = app.request("POST", "/api/v1/purchases", Some(&t.mcpp), Some(body), &key).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the original answer");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(purchase_count(&app, &t.ga).await, 1, "one purchase, charged once");
}

async fn operators_manage_the_catalog_and_users_see_active_offers(app: TestApp) {
    let op = app.operator_token();
    let body = json!({"name": "Old pack", "kind": "benefits_package", "term_months": 12, "active": false, "prices": [{"amount_minor": 100, "currency": "USD"}]});
    assert_eq!(app.call("PUT", "/api/v1/offers/old-pack", &op, Some(body.clone())).await.status, 201);
    assert_eq!(app.call("PUT", "/api/v1/offers/old-pack", &op, Some(body)).await.status, 200, "replaced");
    let t = app.tenant("Catalog", "US", "active").await;
    app.call("PUT", "/api/v1/offers/x", &t.ga, Some(json!({}))).await.problem(403, "forbidden");
    assert_eq!(app.get("/api/v1/offers", &t.ga).await.body["items"], json!([]), "inactive offers are not shown to users");
    assert_eq!(app.get("/api/v1/offers", &op).await.body["items"].as_array().map(Vec::len), Some(1));
    let bad = json!({"name": "", "kind": "gift", "term_months": 0, "prices": [{"amount_minor": -1, "currency": "XXX"}]});
    let r = app.call("PUT", "/api/v1/offers/Bad_Id", &op, Some(bad.clone())).await;
    r.problem(422, "validation_failed");
    let r = app.call("PUT", "/api/v1/offers/bad", &op, Some(bad)).await;
    r.problem(422, "validation_failed");
    let fields: Vec<&str> = r.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, vec!["name", "kind", "term_months", "prices[0].currency"]);
    let dup = json!({"name": "Dup", "kind": "designation", "term_months": 12, "prices": [{"amount_minor": 1, "currency": "USD"}, {"amount_minor": 2, "currency": "USD"}]});
    app.call("PUT", "/api/v1/offers/dup", &op, Some(dup)).await.problem(422, "validation_failed");
}

pb_store::both_backends!(with crate::support::app;
    rule_a5_only_mcpp_admins_and_global_admins_buy,
    rule_b1_purchases_after_the_cutover_need_a_billing_link,
    rule_b2_a_purchase_goes_to_the_chosen_or_default_section_of_the_linked_profile,
    rule_b3_a_purchase_needs_a_payment_instrument_and_may_bring_one,
    rule_m4_a_purchase_needs_the_accounts_primary_contact,
    one_per_partner_offers_are_owned_once_within_their_term,
    rule_h3_a_section_holding_purchases_is_never_deleted,
    rule_c4_later_purchases_go_to_the_new_profile_and_earlier_ones_stay,
    a_purchase_retried_with_its_key_is_made_once,
    operators_manage_the_catalog_and_users_see_active_offers,
);

mod legacy {
    pb_store::both_backends!(with pb_store::testing::ready; rule_b1_before_the_cutover_a_purchase_without_a_link_is_billed_elsewhere);
    use super::rule_b1_before_the_cutover_a_purchase_without_a_link_is_billed_elsewhere;
}
