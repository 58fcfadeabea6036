//! Rules T1–T4 through HTTP: who hears of what, reading without side effects, marking read, and
//! the outbox operators see and retry.

use pb_domain::RetryPolicy;
use serde_json::Value;

use super::{len, linked};
use crate::support::TestApp;

async fn unread(app: &TestApp, token: &str) -> i64 {
    app.get("/api/v1/notifications", token).await.body["unread"].as_i64().unwrap_or(-1)
}

async fn rule_t1_reading_notifications_changes_nothing(app: TestApp) {
    let t = app.tenant("T1", "US", "active").await;
    let first = app.get("/api/v1/notifications", &t.ga).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["unread"], 1, "the link prompt");
    let again = app.get("/api/v1/notifications", &t.ga).await;
    assert_eq!(again.body, first.body, "reading twice reads the same: nothing was marked read");
    assert_eq!(again.body["items"][0]["read_at"], Value::Null);
    for token in [&t.mcpp, &t.plain] {
        assert_eq!(unread(&app, token).await, 0, "the prompt is for global admins only");
    }
}

async fn rule_t2_marking_read_one_and_all(app: TestApp) {
    let t = app.tenant("T2", "US", "active").await;
    linked(&app, &t).await;
    assert_eq!(unread(&app, &t.ga).await, 2, "the prompt and the link made");
    assert_eq!(unread(&app, &t.mcpp).await, 1, "rule T2: the MCPP admin hears of the link");
    let items = app.get("/api/v1/notifications", &t.ga).await.body["items"].clone();
    let id = items[0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.call("POST", &format!("/api/v1/notifications/{id}/read"), &t.ga, None).await.status, 204);
    assert_eq!(unread(&app, &t.ga).await, 1);
    let after = app.get("/api/v1/notifications", &t.ga).await;
    assert!(after.body["items"][0]["read_at"].is_string(), "{}", after.body);
    assert_eq!(app.call("POST", "/api/v1/notifications/read-all", &t.ga, None).await.status, 204);
    assert_eq!(unread(&app, &t.ga).await, 0);
    assert_eq!(len(&app.get("/api/v1/notifications", &t.ga).await.body["items"]), 2, "read ones stay listed");
    assert_eq!(unread(&app, &t.mcpp).await, 1, "marking all is the caller's own notifications only");
    assert_eq!(app.call("POST", "/api/v1/notifications/read-all", &t.ga, None).await.status, 204, "again: nothing to do");
    app.request("POST", "/api/v1/notifications/read-all", None, None, &[]).await.problem(401, "unauthenticated");
}

async fn rule_t4_operators_see_and_retry_the_outbox(app: TestApp) {
    let t = app.tenant("T4", "US", "active").await;
    let op = app.operator_token();
    let r = app.get("/api/v1/outbox?state=pending", &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mine: Vec<Value> =
        r.body["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|e| e["tenant_id"] == t.id.as_str()).collect();
    assert_eq!(mine.len(), 1, "the link prompt's email: {}", r.body);
    assert_eq!(mine[0]["to"], format!("ga@{}", t.domain));
    assert_eq!(mine[0]["state"], "pending");
    assert_eq!(mine[0]["attempts"], 0);
    let id = mine[0]["id"].as_str().unwrap_or_default().to_owned();
    app.get("/api/v1/outbox", &t.ga).await.problem(403, "forbidden");
    app.get("/api/v1/outbox?state=lost", &op).await.problem(400, "invalid_request");

    // Not dead yet: a retry leaves it as it is.
    let r = app.call("POST", &format!("/api/v1/outbox/{id}/retry"), &op, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "pending");
    // Given up on after one failure.
    let claimed = app.store.claim_outbox("test", time::Duration::seconds(60), 200).await.unwrap_or_default();
    assert!(claimed.iter().any(|m| m.id == id));
    let once = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    for m in &claimed {
        app.store.mark_outbox_failed(&m.id, "550 mailbox unavailable", &once, 0.5).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let dead = app.get("/api/v1/outbox?state=dead", &op).await;
    let e = dead.body["items"].as_array().and_then(|v| v.iter().find(|e| e["id"] == id.as_str()).cloned()).unwrap_or_default();
    assert_eq!((e["attempts"].as_i64(), e["last_error"].as_str()), (Some(1), Some("550 mailbox unavailable")), "{}", dead.body);
    let r = app.call("POST", &format!("/api/v1/outbox/{id}/retry"), &op, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["state"].as_str(), r.body["attempts"].as_i64()), (Some("pending"), Some(0)));
    app.call("POST", &format!("/api/v1/outbox/{id}/retry"), &t.ga, None).await.problem(403, "forbidden");
    app.call("POST", "/api/v1/outbox/em_unknown/retry", &op, None).await.problem(404, "not_found");
    // Once the server accepted it, it is never sent again.
    assert!(app.store.mark_outbox_sent(&id).await.unwrap_or(false));
    app.call("POST", &format!("/api/v1/outbox/{id}/retry"), &op, None).await.problem(409, "email_already_sent");
    let audit = app.get("/api/v1/audit-log?action=email.retry", &t.ga).await;
    assert_eq!(len(&audit.body["items"]), 1, "the one real retry is in the tenant's audit trail: {}", audit.body);
}

pb_store::both_backends!(with crate::support::app;
    rule_t1_reading_notifications_changes_nothing,
    rule_t2_marking_read_one_and_all,
    rule_t4_operators_see_and_retry_the_outbox,
);
