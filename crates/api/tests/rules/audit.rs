//! Audit (U).

use serde_json::json;

use super::{audit, etag, linked, profile};
use crate::support::TestApp;

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

pb_store::both_backends!(with crate::support::app;
    rule_u1_link_changes_are_audited_with_before_and_after,
);
