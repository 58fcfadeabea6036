//! One test (at least) per rule of `shared/spec/rules.md` that the link flow covers, through HTTP,
//! on SQLite and PostgreSQL. Each asserts the status, the problem `code` and the data left behind.

use serde_json::{Value, json};

use crate::api_tests;
use crate::support::{Resp, TestApp, TestTenant};

fn id(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}

fn len(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(usize::MAX)
}

async fn account(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.call("POST", "/api/v1/billing-accounts", token, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    id(&r)
}

async fn profile(app: &TestApp, token: &str, ba: &str, name: &str) -> String {
    let r = app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), token, Some(json!({"display_name": name}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    id(&r)
}

async fn fund(app: &TestApp, token: &str, bp: &str) {
    let r = app
        .call(
            "POST",
            &format!("/api/v1/billing-profiles/{bp}/payment-instruments"),
            token,
            Some(json!({"kind": "card", "token": "tok_test", "display_hint": "Visa 4242"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn etag(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/partner-account", token).await.header("etag").unwrap_or_default()
}

async fn put_link(app: &TestApp, token: &str, ba: &str, bp: &str, accept: bool, if_match: Option<&str>) -> Resp {
    let body =
        json!({"billing_account_id": ba, "billing_profile_id": bp, "accept_agreement": accept, "accept_secondary_acknowledgement": false});
    let headers: Vec<(&str, &str)> = if_match.map(|m| vec![("if-match", m)]).unwrap_or_default();
    app.request("PUT", "/api/v1/billing-link", Some(token), Some(body.to_string().into_bytes()), &headers).await
}

/// An account with one funded profile, linked; returns (account, profile).
async fn linked(app: &TestApp, t: &TestTenant) -> (String, String) {
    let ba = account(app, &t.ga, json!({"display_name": "Main", "primary_contact": {"name": "Pat", "email": "pat@example.com"}})).await;
    let bp = profile(app, &t.ga, &ba, "Main profile").await;
    fund(app, &t.ga, &bp).await;
    let r = put_link(app, &t.ga, &ba, &bp, true, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (ba, bp)
}

async fn history(app: &TestApp, token: &str) -> Vec<Value> {
    app.get("/api/v1/billing-link/history", token).await.body["items"].as_array().cloned().unwrap_or_default()
}

async fn account_count(app: &TestApp, t: &TestTenant) -> usize {
    len(&app.get("/api/v1/billing-accounts", &t.ga).await.body["items"])
}

async fn audit(app: &TestApp, t: &TestTenant, action: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit-log?limit=200&action={action}"), &t.ga).await.body["items"].as_array().cloned().unwrap_or_default()
}

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

async fn rule_a1_only_a_global_admin_links(app: TestApp) {
    let t = app.tenant("A1", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    for token in [&t.plain, &t.mcpp, &t.account_admin] {
        let r = put_link(&app, token, &ba, &bp, true, None).await;
        r.problem(403, "global_admin_required");
        assert_eq!(r.body["required_role"], "global_admin");
        let r = app
            .call(
                "POST",
                "/api/v1/billing-link/setup",
                token,
                Some(json!({"billing_account": {"new": {}}, "billing_profile": {"new": {"display_name": "X"}}, "accept_agreement": true})),
            )
            .await;
        r.problem(403, "global_admin_required");
        app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), token)
            .await
            .problem(403, "global_admin_required");
    }
    assert_eq!(account_count(&app, &t).await, 1, "the refused setups created nothing");
    assert!(history(&app, &t.ga).await.is_empty());
    assert!(audit(&app, &t, "agreement.accept").await.is_empty());
}

// rule P1 is rule A1 seen from the flow's prerequisites.
async fn rule_p1_link_prerequisite_is_the_global_admin_role(app: TestApp) {
    let t = app.tenant("P1", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    put_link(&app, &t.mcpp, &ba, &bp, true, None).await.problem(403, "global_admin_required");
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
}

async fn rule_a3_creator_owns_the_account_and_global_admins_see_all(app: TestApp) {
    let t = app.tenant("A3", "US", "active").await;
    let ba = account(&app, &t.account_admin, json!({"display_name": "Finance"})).await;
    let grants = audit(&app, &t, "role.grant").await;
    assert!(grants.iter().any(|g| g["target_id"] == ba.as_str() && g["after"]["role"] == "owner"), "{grants:?}");
    // By default nobody else sees it...
    assert_eq!(len(&app.get("/api/v1/billing-accounts", &t.plain).await.body["items"]), 0);
    app.get(&format!("/api/v1/billing-accounts/{ba}"), &t.plain).await.problem(403, "forbidden");
    app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.plain, Some(json!({"display_name": "Mine"})))
        .await
        .problem(403, "forbidden");
    // ...but the owner and the global admins do.
    assert_eq!(len(&app.get("/api/v1/billing-accounts", &t.account_admin).await.body["items"]), 1);
    assert_eq!(len(&app.get("/api/v1/billing-accounts", &t.ga).await.body["items"]), 1);
    let r =
        app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.account_admin, Some(json!({"display_name": "Finance EU"}))).await;
    assert_eq!(r.body["display_name"], "Finance EU");
    // A global admin acts as owner inside the link flow: creates a profile and accepts the agreement,
    // each audited as done by a global admin.
    let bp = profile(&app, &t.ga, &ba, "GA's profile").await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
    let created = audit(&app, &t, "billing_profile.create").await;
    assert_eq!(created[0]["after"]["by_global_admin"], true);
    assert_eq!(audit(&app, &t, "agreement.accept").await[0]["after"]["by_global_admin"], true);
    // Outside the link flow the global admin is not the owner.
    app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.ga, Some(json!({"display_name": "GA"})))
        .await
        .problem(403, "forbidden");
}

async fn rule_a4_profile_creator_becomes_its_owner(app: TestApp) {
    let t = app.tenant("A4", "US", "active").await;
    let ba = account(&app, &t.account_admin, json!({})).await;
    let bp = profile(&app, &t.account_admin, &ba, "Mine").await;
    let grants = audit(&app, &t, "role.grant").await;
    assert!(grants.iter().any(|g| g["target_kind"] == "billing_profile" && g["target_id"] == bp.as_str() && g["after"]["role"] == "owner"));
    assert_eq!(app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.account_admin).await.status, 200);
    app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.plain).await.problem(403, "forbidden");
}

async fn rule_p2_only_an_active_partner_account_links(app: TestApp) {
    for state in ["pending_verification", "rejected", "suspended", "closed"] {
        let t = app.tenant("P2", "US", "active").await;
        let ba = account(&app, &t.ga, json!({})).await;
        let bp = profile(&app, &t.ga, &ba, "P").await;
        let op = app.operator_token();
        let r = app.call("PATCH", &format!("/api/v1/tenants/{}/partner-account", t.id), &op, Some(json!({"state": state}))).await;
        assert_eq!(r.status, 200);
        let r = put_link(&app, &t.ga, &ba, &bp, true, None).await;
        r.problem(409, "partner_account_not_active");
        assert_eq!(r.body["state"], state);
        assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(&state.replace('_', " "))), "detail names the state: {}", r.body);
        app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), &t.ga)
            .await
            .problem(409, "partner_account_not_active");
        let r = app
            .call(
                "POST",
                "/api/v1/billing-link/setup",
                &t.ga,
                Some(json!({"billing_account": {"new": {}}, "billing_profile": {"new": {"display_name": "X"}}, "accept_agreement": true})),
            )
            .await;
        r.problem(409, "partner_account_not_active");
        assert_eq!(account_count(&app, &t).await, 1, "{state}: nothing created");
        assert!(history(&app, &t.ga).await.is_empty());
        assert_eq!(app.get("/api/v1/partner-account", &t.ga).await.body["billing_link"], Value::Null);
    }
}

async fn rule_p3_the_link_is_made_for_the_tenant_signed_in(app: TestApp) {
    let a = app.tenant("P3a", "US", "active").await;
    let b = app.tenant("P3b", "US", "active").await;
    let (ba, _) = linked(&app, &a).await;
    assert_eq!(app.get("/api/v1/me", &a.ga).await.body["tenant"]["id"], a.id.as_str());
    assert_eq!(app.get("/api/v1/partner-account", &a.ga).await.body["billing_link"]["billing_account_id"], ba.as_str());
    assert_eq!(app.get("/api/v1/partner-account", &b.ga).await.body["billing_link"], Value::Null, "the other tenant is untouched");
}

async fn rule_n3_new_account_is_prefilled_from_the_verified_legal_profile(app: TestApp) {
    let t = app.tenant("N3", "US", "active").await;
    let r = app
        .call(
            "POST",
            "/api/v1/billing-accounts",
            &t.ga,
            Some(json!({"display_name": "X", "sold_to": {"address_line1": "1 Via", "country": "IT"}})),
        )
        .await;
    r.problem(422, "field_not_editable");
    assert_eq!(r.body["errors"][0]["field"], "sold_to");
    app.call("POST", "/api/v1/billing-accounts", &t.ga, Some(json!({"company_name": "Other"}))).await.problem(422, "field_not_editable");
    let ba = account(&app, &t.ga, json!({})).await;
    app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.ga, Some(json!({"sold_to": {"country": "IT"}})))
        .await
        .problem(422, "field_not_editable");
    assert_eq!(account_count(&app, &t).await, 1, "the refused create wrote nothing");
    let r = app.get(&format!("/api/v1/billing-accounts/{ba}"), &t.ga).await;
    assert_eq!(r.body["sold_to"]["country"], "US");
    assert_eq!(r.body["company_name"], "N3 Ltd");
    assert_eq!(r.body["display_name"], "X".replace('X', "N3 Ltd"), "display name defaults to the company name");
    // A pending change is not used; once verified, it is.
    let r = app
        .call(
            "PUT",
            "/api/v1/partner-account/legal-profile",
            &t.ga,
            Some(json!({"sold_to": {"address_line1": "Via Roma 1", "country": "IT"}})),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = app.call("POST", "/api/v1/billing-accounts", &t.ga, Some(json!({}))).await;
    assert_eq!(r.body["sold_to"]["country"], "US");
    let op = app.operator_token();
    app.call("POST", &format!("/api/v1/tenants/{}/partner-account/legal-profile/verify", t.id), &op, None).await;
    let r = app.call("POST", "/api/v1/billing-accounts", &t.ga, Some(json!({}))).await;
    assert_eq!(r.body["sold_to"]["country"], "IT");
    assert_eq!(
        app.get(&format!("/api/v1/billing-accounts/{ba}"), &t.ga).await.body["sold_to"]["country"],
        "US",
        "existing accounts keep theirs"
    );
}

async fn rule_n4_missing_primary_contact_is_warned_everywhere(app: TestApp) {
    let t = app.tenant("N4", "US", "active").await;
    let r = app.call("POST", "/api/v1/billing-accounts", &t.ga, Some(json!({}))).await;
    assert_eq!(r.body["warnings"], json!(["primary_contact_missing"]));
    let ba = id(&r);
    let bp = profile(&app, &t.ga, &ba, "P").await;
    assert_eq!(app.get(&format!("/api/v1/billing-accounts/{ba}"), &t.ga).await.body["warnings"], json!(["primary_contact_missing"]));
    assert_eq!(app.get("/api/v1/billing-accounts", &t.ga).await.body["items"][0]["warnings"], json!(["primary_contact_missing"]));
    let review = app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), &t.ga).await;
    assert!(review.body["warnings"].as_array().is_some_and(|w| w.contains(&json!("primary_contact_missing"))));
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/billing-accounts/{ba}"),
            &t.ga,
            Some(json!({"primary_contact": {"name": "Pat", "email": "pat@example.com"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["warnings"], json!([]));
    let r = app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.ga, Some(json!({"primary_contact": null}))).await;
    assert_eq!(r.body["warnings"], json!(["primary_contact_missing"]), "null clears it");
    // Linked without a primary contact: the partner account is not ready for purchases, and says why.
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
    let pa = app.get("/api/v1/partner-account", &t.ga).await;
    assert_eq!(pa.body["purchase_ready"], false);
    assert!(pa.body["warnings"].as_array().is_some_and(|w| w.contains(&json!("billing_account_primary_contact_missing"))), "{}", pa.body);
}

async fn rule_n5_setup_creates_the_profile_under_the_new_account(app: TestApp) {
    let t = app.tenant("N5", "US", "active").await;
    let r = app
        .call(
            "POST",
            "/api/v1/billing-link/setup",
            &t.ga,
            Some(json!({"billing_account": {"new": {"display_name": "New BA"}}, "billing_profile": {"new": {"display_name": "New BP"}}, "accept_agreement": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["billing_profile"]["billing_account_id"], r.body["billing_account"]["id"]);
    assert_eq!(r.body["billing_account_id"], r.body["billing_account"]["id"]);
}

async fn rule_n6_a_new_profile_takes_a_name_only_and_shows_no_payment_instrument(app: TestApp) {
    let t = app.tenant("N6", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let path = format!("/api/v1/billing-accounts/{ba}/billing-profiles");
    app.call("POST", &path, &t.ga, Some(json!({"display_name": "P", "payment_instrument": {"kind": "card"}})))
        .await
        .problem(400, "invalid_request");
    app.call("POST", &path, &t.ga, Some(json!({}))).await.problem(422, "validation_failed");
    assert_eq!(len(&app.get(&path, &t.ga).await.body["items"]), 0);
    let r = app.call("POST", &path, &t.ga, Some(json!({"display_name": "P"}))).await;
    assert_eq!(r.body["payment_instruments"], json!([]));
    assert_eq!(r.body["payment_instrument_summary"], "None");
    let bp = id(&r);
    // Instruments come later, as a processor token; never a card number.
    let pi = format!("/api/v1/billing-profiles/{bp}/payment-instruments");
    let r = app.call("POST", &pi, &t.ga, Some(json!({"kind": "card", "token": "4242 4242 4242 4242", "display_hint": "Visa"}))).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "card_number_refused");
    assert!(!r.body.to_string().contains("4242 4242"), "the number is not echoed");
    fund(&app, &t.ga, &bp).await;
    let p = app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.ga).await;
    assert_eq!(p.body["payment_instrument_summary"], "Visa 4242");
    assert!(!p.body.to_string().contains("tok_test"), "the processor token is never shown");
}

async fn rule_n7_review_shows_account_profile_agreement_and_effects(app: TestApp) {
    let t = app.tenant("N7", "US", "active").await;
    let ba = account(&app, &t.ga, json!({"primary_contact": {"name": "Pat", "email": "pat@example.com"}})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let r = app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), &t.ga).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["billing_account"]["id"], ba.as_str());
    assert_eq!(r.body["billing_profile"]["id"], bp.as_str());
    assert_eq!(r.body["agreement"], json!({"required": true, "already_accepted": false, "version": "MCA-2024-01"}));
    assert_eq!(r.body["secondary_acknowledgement_required"], false);
    assert_eq!(r.body["current_link"], Value::Null);
    assert_eq!(r.body["effects"]["changes_link"], true);
    assert_eq!(r.body["effects"]["later_purchases_billed_to"]["billing_profile_id"], bp.as_str());
    assert_eq!(r.body["warnings"], json!(["payment_instrument_missing"]));
    insta::assert_json_snapshot!("review_first_link", r.body, {
        ".billing_account.id" => "[id]", ".billing_account.created_by" => "[id]", ".billing_account.created_at" => "[time]", ".billing_account.updated_at" => "[time]",
        ".billing_profile.id" => "[id]", ".billing_profile.billing_account_id" => "[id]", ".billing_profile.created_by" => "[id]", ".billing_profile.created_at" => "[time]",
        ".billing_profile.details_url" => "[url]", ".billing_profile.invoice_sections[].id" => "[id]", ".billing_profile.invoice_sections[].billing_profile_id" => "[id]",
        ".billing_profile.invoice_sections[].created_at" => "[time]", ".effects.later_purchases_billed_to.billing_account_id" => "[id]", ".effects.later_purchases_billed_to.billing_profile_id" => "[id]",
    });
    app.get("/api/v1/billing-link/review?billing_account_id=nope", &t.ga).await.problem(422, "validation_failed");
}

async fn rule_n8_setup_commits_everything_or_nothing(app: TestApp) {
    let t = app.tenant("N8", "IT", "active").await;
    let setup = |accept: bool, secondary: bool| {
        json!({"billing_account": {"new": {"display_name": "BA"}}, "billing_profile": {"new": {"display_name": "BP"}},
               "accept_agreement": accept, "accept_secondary_acknowledgement": secondary})
    };
    let r = app.call("POST", "/api/v1/billing-link/setup", &t.ga, Some(setup(false, false))).await;
    r.problem(422, "agreement_not_accepted");
    let r = app.call("POST", "/api/v1/billing-link/setup", &t.ga, Some(setup(true, false))).await;
    r.problem(422, "secondary_acknowledgement_required");
    assert_eq!(account_count(&app, &t).await, 0, "nothing half made stays");
    assert!(audit(&app, &t, "billing_account.create").await.is_empty());
    assert!(audit(&app, &t, "agreement.accept").await.is_empty());
    assert!(history(&app, &t.ga).await.is_empty());
    assert_eq!(link_notices(&app, &t.ga).await, 0);
    let r = app.call("POST", "/api/v1/billing-link/setup", &t.ga, Some(setup(true, true))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("etag").is_some());
    // The link, the audit records and the notifications exist together.
    assert_eq!(account_count(&app, &t).await, 1);
    assert_eq!(history(&app, &t.ga).await.len(), 1);
    assert_eq!(audit(&app, &t, "billing_link.create").await.len(), 1);
    assert_eq!(audit(&app, &t, "agreement.accept").await.len(), 1);
    assert_eq!(audit(&app, &t, "agreement.secondary_acknowledge").await.len(), 1);
    assert_eq!(link_notices(&app, &t.ga).await, 1);
}

async fn link_notices(app: &TestApp, token: &str) -> usize {
    let n = app.get("/api/v1/notifications", token).await;
    n.body["items"].as_array().map(|v| v.iter().filter(|x| x["kind"] == "billing_link").count()).unwrap_or(0)
}

async fn rule_n1_an_active_unlinked_partner_account_prompts_its_global_admins(app: TestApp) {
    // Active from the start: the global admin is prompted, in the product and by email; others are not.
    let t = app.tenant("N1", "US", "active").await;
    let n = app.get("/api/v1/notifications", &t.ga).await;
    let prompt = n.body["items"].as_array().and_then(|v| v.iter().find(|x| x["kind"] == "link_prompt").cloned()).unwrap_or_default();
    assert_eq!(prompt["action_url"], "/account/billing-profile", "the action opens the billing profile page");
    assert!(prompt["title"].as_str().is_some_and(|t| t.contains("Link a billing account")));
    for token in [&t.mcpp, &t.plain] {
        assert_eq!(len(&app.get("/api/v1/notifications", token).await.body["items"]), 0);
    }
    let tid = pb_domain::TenantId::parse(&t.id).unwrap_or_else(|e| panic!("{e}"));
    let emails = app.store.pending_emails(tid).await.unwrap_or_default();
    assert_eq!(emails.iter().filter(|e| e.subject.contains("Link a billing account")).count(), 1, "rule T1: one email, queued");
    // Pending first: no prompt until it becomes active; once linked, no prompt again.
    let u = app.tenant("N1b", "US", "pending_verification").await;
    assert_eq!(len(&app.get("/api/v1/notifications", &u.ga).await.body["items"]), 0);
    let op = app.operator_token();
    app.call("PATCH", &format!("/api/v1/tenants/{}/partner-account", u.id), &op, Some(json!({"state": "active"}))).await;
    assert_eq!(len(&app.get("/api/v1/notifications", &u.ga).await.body["items"]), 1);
    linked(&app, &u).await;
    for state in ["suspended", "active"] {
        app.call("PATCH", &format!("/api/v1/tenants/{}/partner-account", u.id), &op, Some(json!({"state": state}))).await;
    }
    let kinds: Vec<Value> = app.get("/api/v1/notifications", &u.ga).await.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(kinds.iter().filter(|x| x["kind"] == "link_prompt").count(), 1, "a linked account is not prompted again");
}

async fn rule_n9_finish_reports_the_link_and_the_next_step(app: TestApp) {
    let t = app.tenant("N9", "US", "active").await;
    let ba = account(&app, &t.ga, json!({"primary_contact": {"name": "Pat", "email": "pat@example.com"}})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let r = put_link(&app, &t.ga, &ba, &bp, true, None).await;
    assert_eq!(r.body["changed"], true);
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("linked") && m.contains("MCPP admin")));
    assert_eq!(app.get("/api/v1/partner-account", &t.mcpp).await.body["purchase_ready"], true);
    // Rule T2: the MCPP admin is told too.
    let n = app.get("/api/v1/notifications", &t.mcpp).await;
    assert_eq!(n.body["items"][0]["kind"], "billing_link");
    let nid = n.body["items"][0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.call("POST", &format!("/api/v1/notifications/{nid}/read"), &t.mcpp, None).await.status, 204);
    app.call("POST", &format!("/api/v1/notifications/{nid}/read"), &t.ga, None).await.problem(404, "not_found");
}

async fn rule_e1_list_shows_each_accounts_profiles_with_view_details(app: TestApp) {
    let t = app.tenant("E1", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let list = app.get("/api/v1/billing-accounts", &t.ga).await;
    let p = &list.body["items"][0]["billing_profiles"][0];
    assert_eq!(p["id"], bp.as_str());
    assert_eq!(p["details_url"], format!("/billing/profiles/{bp}"));
    // With PB_DETAILS_URL_TEMPLATE the link points there.
    let cfg =
        pb_api::ApiConfig { details_url_template: Some("https://portal.example.com/#blade/profiles/{id}".into()), ..Default::default() };
    let app2 = TestApp::with_config(app.store.clone(), cfg).await;
    let t2 = app2.tenant("E1b", "US", "active").await;
    let ba2 = account(&app2, &t2.ga, json!({})).await;
    let bp2 = profile(&app2, &t2.ga, &ba2, "P").await;
    let r = app2.get(&format!("/api/v1/billing-profiles/{bp2}"), &t2.ga).await;
    assert_eq!(r.body["details_url"], format!("https://portal.example.com/#blade/profiles/{bp2}"));
}

async fn rule_e2_the_profile_must_belong_to_the_selected_account(app: TestApp) {
    let t = app.tenant("E2", "US", "active").await;
    let ba1 = account(&app, &t.ga, json!({})).await;
    let ba2 = account(&app, &t.ga, json!({})).await;
    let bp2 = profile(&app, &t.ga, &ba2, "P2").await;
    let r = put_link(&app, &t.ga, &ba1, &bp2, true, None).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "profile_not_in_account");
    app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba1}&billing_profile_id={bp2}"), &t.ga)
        .await
        .problem(422, "validation_failed");
    assert!(history(&app, &t.ga).await.is_empty());
    assert!(audit(&app, &t, "agreement.accept").await.is_empty());
}

async fn rule_e3_link_an_existing_account_and_profile(app: TestApp) {
    let t = app.tenant("E3", "US", "active").await;
    let ba = account(&app, &t.account_admin, json!({})).await;
    let bp = profile(&app, &t.account_admin, &ba, "Existing").await;
    let r = put_link(&app, &t.ga, &ba, &bp, true, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    let pa = app.get("/api/v1/partner-account", &t.ga).await;
    assert_eq!(pa.body["billing_link"]["billing_profile_id"], bp.as_str());
    assert_eq!(pa.header("etag").as_deref(), Some("\"1\""));
}

async fn rule_c1_change_billing_account(app: TestApp) {
    let t = app.tenant("C1", "US", "active").await;
    let (ba1, bp1) = linked(&app, &t).await;
    let r = app
        .call(
            "POST",
            "/api/v1/billing-link/setup",
            &t.ga,
            Some(json!({"billing_account": {"new": {"display_name": "Second"}}, "billing_profile": {"new": {"display_name": "Second P"}}, "accept_agreement": true})),
        )
        .await;
    r.problem(428, "precondition_required");
    assert_eq!(account_count(&app, &t).await, 1);
    let tag = etag(&app, &t.ga).await;
    let r = app
        .request(
            "POST",
            "/api/v1/billing-link/setup",
            Some(&t.ga),
            Some(json!({"billing_account": {"new": {"display_name": "Second"}}, "billing_profile": {"new": {"display_name": "Second P"}}, "accept_agreement": true}).to_string().into_bytes()),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.body["billing_account_id"], ba1.as_str());
    assert_eq!(r.body["previous_link"]["billing_profile_id"], bp1.as_str());
    let h = history(&app, &t.ga).await;
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["unlinked_at"], h[1]["linked_at"], "the old span ends where the new one begins");
}

async fn rule_c2_change_billing_profile_keeps_the_account(app: TestApp) {
    let t = app.tenant("C2", "US", "active").await;
    let (ba, _) = linked(&app, &t).await;
    let bp2 = profile(&app, &t.ga, &ba, "Second").await;
    let tag = etag(&app, &t.ga).await;
    // The agreement was accepted for this account already: no checkbox needed (rule M1).
    let r = put_link(&app, &t.ga, &ba, &bp2, false, Some(&tag)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["billing_account_id"], ba.as_str());
    assert_eq!(r.body["billing_profile_id"], bp2.as_str());
    assert_eq!(audit(&app, &t, "billing_link.change").await.len(), 1);
}

async fn rule_c3_an_unfunded_profile_must_be_reused(app: TestApp) {
    let t = app.tenant("C3", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "Unfunded").await;
    let r =
        app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga, Some(json!({"display_name": "Another"}))).await;
    r.problem(409, "unfunded_profile_exists");
    assert_eq!(r.body["reuse_billing_profile_id"], bp.as_str());
    insta::assert_json_snapshot!("problem_unfunded_profile_exists", r.body, {".reuse_billing_profile_id" => "[id]", ".detail" => "[detail naming the profile]"});
    let r = app
        .call(
            "POST",
            "/api/v1/billing-link/setup",
            &t.ga,
            Some(json!({"billing_account": {"id": ba}, "billing_profile": {"new": {"display_name": "Another"}}, "accept_agreement": true})),
        )
        .await;
    r.problem(409, "unfunded_profile_exists");
    assert_eq!(len(&app.get(&format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga).await.body["items"]), 1);
    assert!(history(&app, &t.ga).await.is_empty(), "the refused setup linked nothing");
    fund(&app, &t.ga, &bp).await;
    assert_eq!(
        app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga, Some(json!({"display_name": "Another"})))
            .await
            .status,
        201
    );
}

async fn rule_c3_racing_profile_creates_leave_one_unfunded_profile(app: TestApp) {
    let t = app.tenant("C3race", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let app = std::sync::Arc::new(app);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (app, token, ba) = (app.clone(), t.ga.clone(), ba.clone());
        set.spawn(async move {
            app.call(
                "POST",
                &format!("/api/v1/billing-accounts/{ba}/billing-profiles"),
                &token,
                Some(json!({"display_name": format!("P{i}")})),
            )
            .await
            .status
            .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap_or(0));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [vec![201], vec![409; 9]].concat());
    assert_eq!(len(&app.get(&format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga).await.body["items"]), 1);
}

async fn rule_c4_history_lists_every_link_with_its_span_and_author(app: TestApp) {
    let t = app.tenant("C4", "US", "active").await;
    let (ba, bp1) = linked(&app, &t).await;
    let bp2 = profile(&app, &t.ga, &ba, "Two").await;
    let tag = etag(&app, &t.ga).await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp2, false, Some(&tag)).await.status, 200);
    let h = history(&app, &t.ga).await;
    let me = app.get("/api/v1/me", &t.ga).await.body["user"]["id"].clone();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["billing_profile_id"], bp1.as_str());
    assert_eq!(h[1]["billing_profile_id"], bp2.as_str());
    assert!(h.iter().all(|l| l["linked_by"] == me));
    assert_eq!(h[1]["unlinked_at"], Value::Null);
    // ?at= answers which link was in force.
    let first_at = h[0]["linked_at"].as_str().unwrap_or_default().to_owned();
    let second_at = h[1]["linked_at"].as_str().unwrap_or_default().to_owned();
    let at = |ts: &str| format!("/api/v1/billing-link/history?at={}", ts.replace('+', "%2B"));
    assert_eq!(app.get(&at(&first_at), &t.ga).await.body["items"][0]["billing_profile_id"], bp1.as_str());
    assert_eq!(app.get(&at(&second_at), &t.ga).await.body["items"][0]["billing_profile_id"], bp2.as_str());
    assert_eq!(len(&app.get(&at("2000-01-01T00:00:00Z"), &t.ga).await.body["items"]), 0);
    app.get(&at("yesterday"), &t.ga).await.problem(422, "validation_failed");
}

async fn rule_c5_selecting_the_link_in_force_is_a_noop(app: TestApp) {
    let t = app.tenant("C5", "US", "active").await;
    let (ba, bp) = linked(&app, &t).await;
    let tag = etag(&app, &t.ga).await;
    let r = put_link(&app, &t.ga, &ba, &bp, false, Some(&tag)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["changed"], false);
    assert_eq!(r.header("etag"), Some(tag.clone()), "the version does not move");
    assert_eq!(history(&app, &t.ga).await.len(), 1, "no new history row");
    let review = app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), &t.ga).await;
    assert_eq!(review.body["effects"]["changes_link"], false);
}

async fn rule_c6_stale_or_missing_if_match_is_refused(app: TestApp) {
    let t = app.tenant("C6", "US", "active").await;
    let (ba, _) = linked(&app, &t).await;
    let bp2 = profile(&app, &t.ga, &ba, "Two").await;
    put_link(&app, &t.ga, &ba, &bp2, false, None).await.problem(428, "precondition_required");
    put_link(&app, &t.ga, &ba, &bp2, false, Some("\"0\"")).await.problem(412, "precondition_failed");
    put_link(&app, &t.ga, &ba, &bp2, false, Some("garbage")).await.problem(412, "precondition_failed");
    assert_eq!(history(&app, &t.ga).await.len(), 1);
    assert_eq!(put_link(&app, &t.ga, &ba, &bp2, false, Some("W/\"1\"")).await.status, 200);
}

async fn rule_c6_fifty_concurrent_changes_exactly_one_wins(app: TestApp) {
    let t = app.tenant("C6race", "US", "active").await;
    let (ba, _) = linked(&app, &t).await;
    // 50 distinct targets: profiles of one account, each funded so the next may be created.
    let mut targets = Vec::new();
    for i in 0..50 {
        let bp = profile(&app, &t.ga, &ba, &format!("T{i}")).await;
        fund(&app, &t.ga, &bp).await;
        targets.push(bp);
    }
    let tag = etag(&app, &t.ga).await;
    let app = std::sync::Arc::new(app);
    let mut set = tokio::task::JoinSet::new();
    for bp in targets {
        let (app, token, ba, tag) = (app.clone(), t.ga.clone(), ba.clone(), tag.clone());
        set.spawn(async move {
            let r = put_link(&app, &token, &ba, &bp, false, Some(&tag)).await;
            (r.status.as_u16(), r.code().map(str::to_owned))
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap_or((0, None)) {
            (200, _) => ok += 1,
            (412, Some(c)) if c == "precondition_failed" => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one change wins");
    let h = history(&app, &t.ga).await;
    assert_eq!(h.len(), 2, "history grew by exactly one");
    assert_eq!(h.iter().filter(|l| l["unlinked_at"].is_null()).count(), 1);
    assert_eq!(etag(&app, &t.ga).await, "\"2\"");
}

async fn rule_m1_agreement_is_accepted_once_per_account(app: TestApp) {
    let t = app.tenant("M1", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let r = put_link(&app, &t.ga, &ba, &bp, false, None).await;
    r.problem(422, "agreement_not_accepted");
    assert_eq!(r.body["errors"][0]["field"], "accept_agreement");
    assert!(history(&app, &t.ga).await.is_empty());
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
    fund(&app, &t.ga, &bp).await;
    let bp2 = profile(&app, &t.ga, &ba, "P2").await;
    let review = app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp2}"), &t.ga).await;
    assert_eq!(review.body["agreement"]["already_accepted"], true, "the checkbox shows ticked and disabled");
    assert_eq!(review.body["agreement"]["required"], false);
    let tag = etag(&app, &t.ga).await;
    assert_eq!(put_link(&app, &t.ga, &ba, &bp2, false, Some(&tag)).await.status, 200);
    assert_eq!(audit(&app, &t, "agreement.accept").await.len(), 1, "recorded once per account");
    assert_eq!(app.get(&format!("/api/v1/billing-accounts/{ba}"), &t.ga).await.body["agreement_accepted"], true);
}

async fn rule_m2_italy_needs_a_separate_secondary_acknowledgement(app: TestApp) {
    let t = app.tenant("M2", "IT", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let review = app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), &t.ga).await;
    assert_eq!(review.body["secondary_acknowledgement_required"], true);
    assert_eq!(review.body["billing_profile"]["currency"], "EUR");
    let r = put_link(&app, &t.ga, &ba, &bp, true, None).await;
    r.problem(422, "secondary_acknowledgement_required");
    assert!(audit(&app, &t, "agreement.accept").await.is_empty(), "no half acceptance");
    let body =
        json!({"billing_account_id": ba, "billing_profile_id": bp, "accept_agreement": true, "accept_secondary_acknowledgement": true});
    let r = app.call("PUT", "/api/v1/billing-link", &t.ga, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(audit(&app, &t, "agreement.secondary_acknowledge").await.len(), 1, "its own record");
    let review = app.get(&format!("/api/v1/billing-link/review?billing_account_id={ba}&billing_profile_id={bp}"), &t.ga).await;
    assert_eq!(review.body["secondary_acknowledgement_required"], false);
}

async fn rule_m3_acceptance_records_who_when_and_version_and_never_change(app: TestApp) {
    let t = app.tenant("M3", "IT", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let body =
        json!({"billing_account_id": ba, "billing_profile_id": bp, "accept_agreement": true, "accept_secondary_acknowledgement": true});
    let r =
        app.request("PUT", "/api/v1/billing-link", Some(&t.ga), Some(body.to_string().into_bytes()), &[("x-request-id", "req-m3")]).await;
    assert_eq!(r.status, 200);
    let me = app.get("/api/v1/me", &t.ga).await.body["user"]["id"].clone();
    let a = &audit(&app, &t, "agreement.accept").await[0];
    assert_eq!(a["actor_id"], me);
    assert_eq!(a["after"]["agreement_version"], "MCA-2024-01");
    assert_eq!(a["request_id"], "req-m3");
    assert_eq!(audit(&app, &t, "agreement.secondary_acknowledge").await[0]["after"]["kind"], "mca_secondary");
    // The database itself refuses to edit or delete them.
    let refused = match app.store.db() {
        pb_store::Db::Sqlite(p) => (
            sqlx::query("UPDATE agreement_acceptances SET agreement_version = 'x'").execute(p).await.is_err(),
            sqlx::query("DELETE FROM agreement_acceptances").execute(p).await.is_err(),
        ),
        pb_store::Db::Postgres(p) => (
            sqlx::query("UPDATE agreement_acceptances SET agreement_version = 'x'").execute(p).await.is_err(),
            sqlx::query("DELETE FROM agreement_acceptances").execute(p).await.is_err(),
        ),
    };
    assert_eq!(refused, (true, true));
}

async fn rule_u1_link_changes_are_audited_with_before_and_after(app: TestApp) {
    let t = app.tenant("U1", "US", "active").await;
    let (ba, bp1) = linked(&app, &t).await;
    let bp2 = profile(&app, &t.ga, &ba, "Two").await;
    let tag = etag(&app, &t.ga).await;
    let body = json!({"billing_account_id": ba, "billing_profile_id": bp2});
    let r = app
        .request(
            "PUT",
            "/api/v1/billing-link",
            Some(&t.ga),
            Some(body.to_string().into_bytes()),
            &[("if-match", &tag), ("x-request-id", "req-u1")],
        )
        .await;
    assert_eq!(r.status, 200);
    let rec = &audit(&app, &t, "billing_link.change").await[0];
    assert_eq!(rec["before"]["billing_profile_id"], bp1.as_str());
    assert_eq!(rec["after"]["billing_profile_id"], bp2.as_str());
    assert_eq!(rec["request_id"], "req-u1");
    assert_eq!(rec["actor_kind"], "user");
    assert!(rec["at"].as_str().is_some());
}

async fn rule_a6_operators_cannot_link_for_a_tenant(app: TestApp) {
    let t = app.tenant("A6", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    let op = app.operator_token();
    put_link(&app, &op, &ba, &bp, true, None).await.problem(403, "forbidden");
    app.call(
        "POST",
        "/api/v1/billing-link/setup",
        &op,
        Some(json!({"billing_account": {"id": ba}, "billing_profile": {"id": bp}, "accept_agreement": true})),
    )
    .await
    .problem(403, "forbidden");
    assert!(history(&app, &t.ga).await.is_empty());
}

async fn idempotency_key_replays_the_first_response(app: TestApp) {
    let t = app.tenant("Idem", "US", "active").await;
    let body = json!({"display_name": "Once"}).to_string().into_bytes();
    let first = app.request("POST", "/api/v1/billing-accounts", Some(&t.ga), Some(body.clone()), &[("idempotency-key", "k-1")]).await;
    assert_eq!(first.status, 201);
    let again = app.request("POST", "/api/v1/billing-accounts", Some(&t.ga), Some(body), &[("idempotency-key", "k-1")]).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the first response, byte for byte");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(account_count(&app, &t).await, 1, "done once");
    let other = json!({"display_name": "Twice"}).to_string().into_bytes();
    let r = app.request("POST", "/api/v1/billing-accounts", Some(&t.ga), Some(other.clone()), &[("idempotency-key", "k-1")]).await;
    r.problem(422, "idempotency_key_reused");
    assert_eq!(account_count(&app, &t).await, 1);
    // Keys are per tenant: another tenant's same key is a new request.
    let u = app.tenant("Idem2", "US", "active").await;
    let r = app.request("POST", "/api/v1/billing-accounts", Some(&u.ga), Some(other), &[("idempotency-key", "k-1")]).await;
    assert_eq!(r.status, 201);
    // Refusals replay too, and still change nothing.
    let setup = json!({"billing_account": {"new": {}}, "billing_profile": {"new": {"display_name": "P"}}, "accept_agreement": false})
        .to_string()
        .into_bytes();
    for _ in 0..2 {
        let r = app.request("POST", "/api/v1/billing-link/setup", Some(&t.ga), Some(setup.clone()), &[("idempotency-key", "k-2")]).await;
        r.problem(422, "agreement_not_accepted");
    }
    assert_eq!(account_count(&app, &t).await, 1);
}

async fn idempotency_key_racing_repeats_do_the_work_once(app: TestApp) {
    let t = app.tenant("IdemRace", "US", "active").await;
    let app = std::sync::Arc::new(app);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (app, token) = (app.clone(), t.ga.clone());
        set.spawn(async move {
            let body = json!({"display_name": "Once"}).to_string().into_bytes();
            app.request("POST", "/api/v1/billing-accounts", Some(&token), Some(body), &[("idempotency-key", "race")]).await.status.as_u16()
        });
    }
    while let Some(s) = set.join_next().await {
        let s = s.unwrap_or(0);
        assert!(s == 201 || s == 409, "a repeat either replays or is told the first is still running: {s}");
    }
    assert_eq!(account_count(&app, &t).await, 1);
}

api_tests!(
    rule_n1_an_active_unlinked_partner_account_prompts_its_global_admins,
    rule_h1_a_profile_belongs_to_exactly_one_account,
    rule_h2_profile_gets_a_default_section_and_keeps_at_least_one,
    rule_h4_another_tenants_billing_ids_are_not_found,
    rule_a1_only_a_global_admin_links,
    rule_p1_link_prerequisite_is_the_global_admin_role,
    rule_a3_creator_owns_the_account_and_global_admins_see_all,
    rule_a4_profile_creator_becomes_its_owner,
    rule_p2_only_an_active_partner_account_links,
    rule_p3_the_link_is_made_for_the_tenant_signed_in,
    rule_n3_new_account_is_prefilled_from_the_verified_legal_profile,
    rule_n4_missing_primary_contact_is_warned_everywhere,
    rule_n5_setup_creates_the_profile_under_the_new_account,
    rule_n6_a_new_profile_takes_a_name_only_and_shows_no_payment_instrument,
    rule_n7_review_shows_account_profile_agreement_and_effects,
    rule_n8_setup_commits_everything_or_nothing,
    rule_n9_finish_reports_the_link_and_the_next_step,
    rule_e1_list_shows_each_accounts_profiles_with_view_details,
    rule_e2_the_profile_must_belong_to_the_selected_account,
    rule_e3_link_an_existing_account_and_profile,
    rule_c1_change_billing_account,
    rule_c2_change_billing_profile_keeps_the_account,
    rule_c3_an_unfunded_profile_must_be_reused,
    rule_c3_racing_profile_creates_leave_one_unfunded_profile,
    rule_c4_history_lists_every_link_with_its_span_and_author,
    rule_c5_selecting_the_link_in_force_is_a_noop,
    rule_c6_stale_or_missing_if_match_is_refused,
    rule_c6_fifty_concurrent_changes_exactly_one_wins,
    rule_m1_agreement_is_accepted_once_per_account,
    rule_m2_italy_needs_a_separate_secondary_acknowledgement,
    rule_m3_acceptance_records_who_when_and_version_and_never_change,
    rule_u1_link_changes_are_audited_with_before_and_after,
    rule_a6_operators_cannot_link_for_a_tenant,
    idempotency_key_replays_the_first_response,
    idempotency_key_racing_repeats_do_the_work_once,
);
