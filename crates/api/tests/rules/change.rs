//! Change the link (C).

use serde_json::{Value, json};

use super::{account, account_count, audit, etag, fund, history, len, linked, profile, put_link};
use crate::support::TestApp;

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

pb_store::both_backends!(with crate::support::app;
    rule_c1_change_billing_account,
    rule_c2_change_billing_profile_keeps_the_account,
    rule_c3_an_unfunded_profile_must_be_reused,
    rule_c3_racing_profile_creates_leave_one_unfunded_profile,
    rule_c4_history_lists_every_link_with_its_span_and_author,
    rule_c5_selecting_the_link_in_force_is_a_noop,
    rule_c6_stale_or_missing_if_match_is_refused,
    rule_c6_fifty_concurrent_changes_exactly_one_wins,
);
