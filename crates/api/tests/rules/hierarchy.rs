//! Hierarchy (H): billing accounts hold profiles, profiles hold invoice sections, all of one tenant.

use serde_json::json;

use super::{account, account_count, id, len, linked, profile, put_link};
use crate::support::TestApp;

async fn rule_h1_a_profile_belongs_to_exactly_one_account(app: TestApp) {
    let t = app.tenant("H1", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let r = app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await;
    assert_eq!(r.body["billing_account_id"], ba.as_str());
    let list = app.get(&format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga).await;
    assert_eq!(list.body["items"][0]["id"], bp.as_str());
    let r = app.get(&format!("/api/v1/billing-accounts/{ba}"), &t.ga).await;
    assert_eq!(len(&r.body["billing_profiles"]), 1);
    app.call(
        "POST",
        "/api/v1/billing-accounts/ba_0192c4a8e0a07b3e8f7a6e2d5c4b3a21/billing-profiles",
        &t.ga,
        Some(json!({"display_name": "X"})),
    )
    .await
    .problem(404, "not_found");
}

async fn rule_h2_profile_gets_a_default_section_and_keeps_at_least_one(app: TestApp) {
    let t = app.tenant("H2", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let r = app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga, Some(json!({"display_name": "Ops"}))).await;
    assert_eq!(len(&r.body["invoice_sections"]), 1);
    assert_eq!(r.body["invoice_sections"][0]["is_default"], true);
    let bp = id(&r);
    let default = r.body["invoice_sections"][0]["id"].as_str().unwrap_or_default().to_owned();
    let r = app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), &t.ga, Some(json!({"display_name": "Dev"}))).await;
    assert_eq!(r.status, 201);
    let dev = id(&r);
    let r = app.call("PATCH", &format!("/api/v1/invoice-sections/{dev}"), &t.ga, Some(json!({"display_name": "Development"}))).await;
    assert_eq!(r.body["display_name"], "Development");
    let r = app.call("DELETE", &format!("/api/v1/invoice-sections/{default}"), &t.ga, None).await;
    assert_eq!(r.status, 204);
    let p = app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await;
    assert_eq!(len(&p.body["invoice_sections"]), 1);
    assert_eq!(p.body["invoice_sections"][0]["is_default"], true, "the remaining section becomes the default");
    app.call("DELETE", &format!("/api/v1/invoice-sections/{dev}"), &t.ga, None).await.problem(409, "last_invoice_section");
    assert_eq!(len(&app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await.body["invoice_sections"]), 1);
    app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), &t.plain, Some(json!({"display_name": "X"})))
        .await
        .problem(403, "forbidden");
}

async fn rule_h4_another_tenants_billing_ids_are_not_found(app: TestApp) {
    let a = app.tenant("H4a", "US", "active").await;
    let b = app.tenant("H4b", "US", "active").await;
    let (ba, bp) = linked(&app, &a).await;
    let sec = app.get(&format!("/api/v1/billing-profiles/{bp}"), &a.ga).await.body["invoice_sections"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for (m, p, body) in [
        ("GET", format!("/api/v1/billing-accounts/{ba}"), None),
        ("PATCH", format!("/api/v1/billing-accounts/{ba}"), Some(json!({"display_name": "Mine"}))),
        ("GET", format!("/api/v1/billing-accounts/{ba}/billing-profiles"), None),
        ("POST", format!("/api/v1/billing-accounts/{ba}/billing-profiles"), Some(json!({"display_name": "Mine"}))),
        ("GET", format!("/api/v1/billing-profiles/{bp}"), None),
        ("POST", format!("/api/v1/billing-profiles/{bp}/invoice-sections"), Some(json!({"display_name": "Mine"}))),
        (
            "POST",
            format!("/api/v1/billing-profiles/{bp}/payment-instruments"),
            Some(json!({"kind": "card", "token": "t", "display_hint": "h"})),
        ),
        ("PATCH", format!("/api/v1/invoice-sections/{sec}"), Some(json!({"display_name": "Mine"}))),
        ("DELETE", format!("/api/v1/invoice-sections/{sec}"), None),
        ("GET", format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), None),
    ] {
        app.call(m, &p, &b.ga, body).await.problem(404, "not_found");
    }
    put_link(&app, &b.ga, &ba, &bp, true, None).await.problem(404, "not_found");
    assert_eq!(account_count(&app, &b).await, 0);
    assert_eq!(app.get(&format!("/api/v1/billing-accounts/{ba}"), &a.ga).await.body["display_name"], "Main", "nothing changed");
}

pb_store::both_backends!(with crate::support::app;
    rule_h1_a_profile_belongs_to_exactly_one_account,
    rule_h2_profile_gets_a_default_section_and_keeps_at_least_one,
    rule_h4_another_tenants_billing_ids_are_not_found,
);
