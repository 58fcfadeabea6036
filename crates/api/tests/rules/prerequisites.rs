//! Link prerequisites (P): a global admin, an active partner account, the tenant signed in with.

use serde_json::{Value, json};

use super::{account, account_count, history, linked, profile, put_link};
use crate::support::TestApp;

// rule P1 is rule A1 seen from the flow's prerequisites.
async fn rule_p1_link_prerequisite_is_the_global_admin_role(app: TestApp) {
    let t = app.tenant("P1", "US", "active").await;
    let ba = account(&app, &t.ga, json!({})).await;
    let bp = profile(&app, &t.ga, &ba, "P").await;
    put_link(&app, &t.mcpp, &ba, &bp, true, None).await.problem(403, "global_admin_required");
    assert_eq!(put_link(&app, &t.ga, &ba, &bp, true, None).await.status, 200);
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

pb_store::both_backends!(with crate::support::app;
    rule_p1_link_prerequisite_is_the_global_admin_role,
    rule_p2_only_an_active_partner_account_links,
    rule_p3_the_link_is_made_for_the_tenant_signed_in,
);
