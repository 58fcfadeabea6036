//! One test (at least) per rule of `shared/spec/rules.md`, through HTTP, on SQLite and PostgreSQL,
//! one module per heading of that file. Each asserts the status, the problem `code` and the data left
//! behind. The helpers below are the steps the flows share.

mod access;
mod agreement;
mod audit;
mod change;
mod create_new;
mod existing;
mod hierarchy;
mod idempotency;
mod invoices;
mod notifications;
mod prerequisites;
mod purchases;
mod roles;

use serde_json::{Value, json};

use crate::support::{Resp, TestApp, TestTenant};

pub(crate) fn id(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}
pub(crate) fn len(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(usize::MAX)
}
pub(crate) async fn account(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.call("POST", "/api/v1/billing-accounts", token, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    id(&r)
}
pub(crate) async fn profile(app: &TestApp, token: &str, ba: &str, name: &str) -> String {
    let r = app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), token, Some(json!({"display_name": name}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    id(&r)
}
pub(crate) async fn fund(app: &TestApp, token: &str, bp: &str) {
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
pub(crate) async fn etag(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/partner-account", token).await.header("etag").unwrap_or_default()
}
pub(crate) async fn put_link(app: &TestApp, token: &str, ba: &str, bp: &str, accept: bool, if_match: Option<&str>) -> Resp {
    let body =
        json!({"billing_account_id": ba, "billing_profile_id": bp, "accept_agreement": accept, "accept_secondary_acknowledgement": false});
    let headers: Vec<(&str, &str)> = if_match.map(|m| vec![("if-match", m)]).unwrap_or_default();
    app.request("PUT", "/api/v1/billing-link", Some(token), Some(body.to_string().into_bytes()), &headers).await
}
/// An account with one funded profile, linked; returns (account, profile).
pub(crate) async fn linked(app: &TestApp, t: &TestTenant) -> (String, String) {
    let ba = account(app, &t.ga, json!({"display_name": "Main", "primary_contact": {"name": "Pat", "email": "pat@example.com"}})).await;
    let bp = profile(app, &t.ga, &ba, "Main profile").await;
    fund(app, &t.ga, &bp).await;
    let r = put_link(app, &t.ga, &ba, &bp, true, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (ba, bp)
}
pub(crate) async fn history(app: &TestApp, token: &str) -> Vec<Value> {
    app.get("/api/v1/billing-link/history", token).await.body["items"].as_array().cloned().unwrap_or_default()
}
pub(crate) async fn account_count(app: &TestApp, t: &TestTenant) -> usize {
    len(&app.get("/api/v1/billing-accounts", &t.ga).await.body["items"])
}
pub(crate) async fn audit(app: &TestApp, t: &TestTenant, action: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit-log?limit=200&action={action}"), &t.ga).await.body["items"].as_array().cloned().unwrap_or_default()
}
pub(crate) async fn link_notices(app: &TestApp, token: &str) -> usize {
    let n = app.get("/api/v1/notifications", token).await;
    n.body["items"].as_array().map(|v| v.iter().filter(|x| x["kind"] == "billing_link").count()).unwrap_or(0)
}
