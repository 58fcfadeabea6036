//! Idempotency keys: a repeat returns the first answer and does the work once.

use serde_json::json;

use super::account_count;
use crate::support::TestApp;

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

/// Found on the running binary: keys were scoped per tenant, so a plain user repeating an admin's
/// key and body was answered with the admin's response (another user's account and contact email).
async fn hardening_idempotency_keys_are_scoped_per_principal(app: TestApp) {
    let t = app.tenant("IdemScope", "US", "active").await;
    let body =
        json!({"display_name": "Admin's", "primary_contact": {"name": "Pat", "email": "pat.private@example.com"}}).to_string().into_bytes();
    let first = app.request("POST", "/api/v1/billing-accounts", Some(&t.ga), Some(body.clone()), &[("idempotency-key", "shared")]).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let other = app.request("POST", "/api/v1/billing-accounts", Some(&t.plain), Some(body), &[("idempotency-key", "shared")]).await;
    assert_eq!(other.header("idempotent-replayed"), None, "not the admin's answer");
    assert_ne!(other.body["id"], first.body["id"], "{}", other.body);
}

/// Found on the running binary: replays dropped the response headers, so a retried
/// `/billing-link/setup` came back without the partner account's `ETag`.
async fn hardening_idempotent_replays_keep_the_etag(app: TestApp) {
    let t = app.tenant("IdemEtag", "US", "active").await;
    let setup = json!({"billing_account": {"new": {}}, "billing_profile": {"new": {"display_name": "P"}}, "accept_agreement": true})
        .to_string()
        .into_bytes();
    let first = app.request("POST", "/api/v1/billing-link/setup", Some(&t.ga), Some(setup.clone()), &[("idempotency-key", "etag")]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let tag = first.header("etag");
    assert!(tag.is_some(), "the first answer has the ETag");
    let again = app.request("POST", "/api/v1/billing-link/setup", Some(&t.ga), Some(setup), &[("idempotency-key", "etag")]).await;
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.header("etag"), tag, "the replay has it too");
}

pb_store::both_backends!(with crate::support::app;
    hardening_idempotency_keys_are_scoped_per_principal,
    hardening_idempotent_replays_keep_the_etag,
    idempotency_key_replays_the_first_response,
    idempotency_key_racing_repeats_do_the_work_once,
);
