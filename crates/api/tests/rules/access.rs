//! Access (A): who may link, who owns what, and what operators cannot do.

use serde_json::json;

use super::{account, account_count, audit, history, len, linked, profile, put_link};
use crate::support::TestApp;

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
    // Outside the link flow a global admin is not the owner: no profile of their own under it, no rename.
    app.call("POST", &format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.ga, Some(json!({"display_name": "GA's"})))
        .await
        .problem(403, "forbidden");
    app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.ga, Some(json!({"display_name": "GA"})))
        .await
        .problem(403, "forbidden");
    assert!(audit(&app, &t, "billing_profile.create").await.is_empty());
    // Inside the link flow they act as owner: create a profile and accept the agreement, each audited
    // as done by a global admin acting as owner.
    let setup =
        json!({"billing_account": {"id": ba}, "billing_profile": {"new": {"display_name": "GA's profile"}}, "accept_agreement": true});
    let r = app.call("POST", "/api/v1/billing-link/setup", &t.ga, Some(setup)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let created = audit(&app, &t, "billing_profile.create").await;
    assert_eq!(created[0]["acted_as"], "global_admin_as_owner", "{created:?}");
    assert_eq!(created[0]["actor_id"], app.get("/api/v1/me", &t.ga).await.body["user"]["id"]);
    assert_eq!(audit(&app, &t, "agreement.accept").await[0]["acted_as"], "global_admin_as_owner");
    // Acts on their own accounts are by role, not as a global admin.
    let own = account(&app, &t.ga, json!({})).await;
    profile(&app, &t.ga, &own, "Own").await;
    assert_eq!(audit(&app, &t, "billing_profile.create").await[0]["acted_as"], serde_json::Value::Null);
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

/// Rule A1 has one source: the stored roles, refreshed from the token's `wids` whenever a user is
/// seen. A global admin the operator never provisioned is therefore told of link changes (rule T2),
/// and stops being told once their token no longer says global admin.
async fn rule_a1_a_global_admin_known_only_from_a_token_is_notified_of_link_changes(app: TestApp) {
    let t = app.tenant("A1tok", "US", "active").await;
    let oid = uuid::Uuid::now_v7().to_string();
    let mut claims = app.user_claims(&t.id, &format!("ga@{}", t.domain)).await;
    claims.sub = oid.clone();
    claims.oid = Some(oid.clone());
    claims.preferred_username = Some(format!("newcomer@{}", t.domain));
    let ga_token = app.dev.sign(&claims).unwrap();
    let me = app.get("/api/v1/me", &ga_token).await;
    assert_eq!(me.body["global_admin"], true, "{}", me.body);
    assert_eq!(me.body["user"]["directory_roles"], json!(["global_admin"]));
    let notices = |token: String| {
        let app = &app;
        async move {
            let n = app.get("/api/v1/notifications", &token).await;
            n.body["items"].as_array().map(|v| v.iter().filter(|x| x["kind"] == "billing_link").count()).unwrap_or(0)
        }
    };
    // Another global admin links: the newcomer hears of it, in the product and by email.
    let (ba, _) = linked(&app, &t).await;
    assert_eq!(notices(ga_token.clone()).await, 1);
    let emails = app.store.pending_emails(t.tenant_id()).await.unwrap();
    assert_eq!(emails.iter().filter(|e| e.to_address == format!("newcomer@{}", t.domain)).count(), 1);
    // Their token no longer says global admin: the stored role goes, and so do the notices.
    claims.wids = vec![];
    let demoted = app.dev.sign(&claims).unwrap();
    assert_eq!(app.get("/api/v1/me", &demoted).await.body["global_admin"], false);
    let bp2 = profile(&app, &t.ga, &ba, "Two").await;
    let tag = app.get("/api/v1/partner-account", &t.ga).await.header("etag").unwrap();
    assert_eq!(put_link(&app, &t.ga, &ba, &bp2, false, Some(&tag)).await.status, 200);
    assert_eq!(notices(demoted).await, 1, "no notice of the second change");
    assert_eq!(notices(t.ga.clone()).await, 2);
}

/// The caller of a token is read once and reused for a second, but never across a write of this
/// process: the next request after any commit reads the stored user and roles again.
async fn rule_a1_a_recent_callers_lookup_is_reused_only_until_a_write(app: TestApp) {
    let t = app.tenant("A1c", "US", "active").await;
    // Two calls in a row, a few times: on a machine so loaded that a pair spans the second, the
    // next pair still shows the reuse.
    let mut reused = false;
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/me", &t.ga).await.status, 200);
        let before = app.store.db().statements();
        let r = app.get("/api/v1/me", &t.ga).await;
        assert_eq!((r.status.as_u16(), r.body["global_admin"].clone()), (200, json!(true)));
        reused |= app.store.db().statements() == before;
    }
    assert!(reused, "the same token again within the second: no statement");
    account(&app, &t.plain, json!({})).await;
    let before = app.store.db().statements();
    assert_eq!(app.get("/api/v1/me", &t.ga).await.status, 200);
    assert_eq!(app.store.db().statements() - before, 1, "after a write the caller is read again, in one statement");
}

pb_store::both_backends!(with crate::support::app;
    rule_a1_a_recent_callers_lookup_is_reused_only_until_a_write,
    rule_a1_a_global_admin_known_only_from_a_token_is_notified_of_link_changes,
    rule_a1_only_a_global_admin_links,
    rule_a3_creator_owns_the_account_and_global_admins_see_all,
    rule_a4_profile_creator_becomes_its_owner,
    rule_a6_operators_cannot_link_for_a_tenant,
);
