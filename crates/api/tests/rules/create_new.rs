//! Create a new billing account and profile (N).

use serde_json::{Value, json};

use super::{account, account_count, audit, fund, history, id, len, link_notices, linked, profile, put_link};
use crate::support::TestApp;

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
    // The answer shows the account as it now is: with the profile just made (issue 12 found `[]`).
    let profiles = &r.body["billing_account"]["billing_profiles"];
    assert_eq!(profiles.as_array().map(Vec::len), Some(1), "{profiles}");
    assert_eq!(profiles[0]["id"], r.body["billing_profile"]["id"]);
    // The link, the audit records and the notifications exist together.
    assert_eq!(account_count(&app, &t).await, 1);
    assert_eq!(history(&app, &t.ga).await.len(), 1);
    assert_eq!(audit(&app, &t, "billing_link.create").await.len(), 1);
    assert_eq!(audit(&app, &t, "agreement.accept").await.len(), 1);
    assert_eq!(audit(&app, &t, "agreement.secondary_acknowledge").await.len(), 1);
    assert_eq!(link_notices(&app, &t.ga).await, 1);
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
    let tid = pb_domain::TenantId::parse(&t.id).unwrap();
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

pb_store::both_backends!(with crate::support::app;
    rule_n3_new_account_is_prefilled_from_the_verified_legal_profile,
    rule_n4_missing_primary_contact_is_warned_everywhere,
    rule_n5_setup_creates_the_profile_under_the_new_account,
    rule_n6_a_new_profile_takes_a_name_only_and_shows_no_payment_instrument,
    rule_n7_review_shows_account_profile_agreement_and_effects,
    rule_n8_setup_commits_everything_or_nothing,
    rule_n1_an_active_unlinked_partner_account_prompts_its_global_admins,
    rule_n9_finish_reports_the_link_and_the_next_step,
);
