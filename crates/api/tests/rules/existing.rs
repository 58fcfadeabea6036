//! Link an existing billing account and profile (E).

use serde_json::json;

use super::{account, audit, history, profile, put_link};
use crate::support::TestApp;

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
        pb_app::AppConfig { details_url_template: Some("https://portal.example.com/#blade/profiles/{id}".into()), ..Default::default() };
    let app2 = TestApp::with_config(app.store.clone(), cfg, crate::support::faces).await;
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

pb_store::both_backends!(with crate::support::app;
    rule_e1_list_shows_each_accounts_profiles_with_view_details,
    rule_e2_the_profile_must_belong_to_the_selected_account,
    rule_e3_link_an_existing_account_and_profile,
);
