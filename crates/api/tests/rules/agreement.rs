//! Agreement (M).

use serde_json::json;

use super::{account, audit, etag, fund, history, profile, put_link};
use crate::support::TestApp;

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
    let refused = match app.store.db().pool() {
        pb_store::Pool::Sqlite(p) => (
            sqlx::query("UPDATE agreement_acceptances SET agreement_version = 'x'").execute(p).await.is_err(),
            sqlx::query("DELETE FROM agreement_acceptances").execute(p).await.is_err(),
        ),
        pb_store::Pool::Postgres(p) => (
            sqlx::query("UPDATE agreement_acceptances SET agreement_version = 'x'").execute(p).await.is_err(),
            sqlx::query("DELETE FROM agreement_acceptances").execute(p).await.is_err(),
        ),
    };
    assert_eq!(refused, (true, true));
}

pb_store::both_backends!(with crate::support::app;
    rule_m1_agreement_is_accepted_once_per_account,
    rule_m2_italy_needs_a_separate_secondary_acknowledgement,
    rule_m3_acceptance_records_who_when_and_version_and_never_change,
);
