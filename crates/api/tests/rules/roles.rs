//! Rule A2: billing roles at three scopes, granted and revoked through the API, each one applying to
//! everything below its scope, and lists that show only what the caller may read.

use serde_json::{Value, json};

use super::{account, fund, id, len, profile};
use crate::support::{Resp, TestApp};

async fn user_id(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/me", token).await.body["user"]["id"].as_str().unwrap_or_default().to_owned()
}

async fn grant(app: &TestApp, token: &str, scope: &str, user: &str, role: &str) -> Resp {
    app.call("POST", &format!("/api/v1/{scope}/role-assignments"), token, Some(json!({"user_id": user, "role": role}))).await
}

fn roles_of(list: &Value, user: &str) -> Vec<(String, String)> {
    list["items"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|a| a["user_id"] == user)
                .map(|a| (a["scope"]["kind"].as_str().unwrap_or("").to_owned(), a["role"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn rule_a2_owners_grant_roles_that_exist_at_the_scope(app: TestApp) {
    let t = app.tenant("A2Grant", "US", "active").await;
    let other = app.tenant("A2Other", "US", "active").await;
    let (owner, plain) = (&t.account_admin, &t.plain);
    let plain_id = user_id(&app, plain).await;
    let ba = account(&app, owner, json!({"display_name": "Roles"})).await;
    let bp = profile(&app, owner, &ba, "P").await;
    let section = app.get(&format!("/api/v1/billing-profiles/{bp}"), owner).await.body["invoice_sections"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Roles that do not exist at a scope are 422, like a user of another tenant.
    grant(&app, owner, &format!("billing-accounts/{ba}"), &plain_id, "invoice_manager").await.problem(422, "validation_failed");
    grant(&app, owner, &format!("billing-profiles/{bp}"), &plain_id, "subscription_creator").await.problem(422, "validation_failed");
    grant(&app, owner, &format!("billing-accounts/{ba}"), &plain_id, "emperor").await.problem(422, "validation_failed");
    let stranger = user_id(&app, &other.plain).await;
    grant(&app, owner, &format!("billing-accounts/{ba}"), &stranger, "reader").await.problem(422, "validation_failed");
    // Only owners grant: the plain user cannot grant themselves anything.
    grant(&app, plain, &format!("billing-accounts/{ba}"), &plain_id, "owner").await.problem(403, "forbidden");
    // An owner grants at each scope; a second identical grant is a conflict.
    let r = grant(&app, owner, &format!("invoice-sections/{section}"), &plain_id, "subscription_creator").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["scope"], json!({"kind": "invoice_section", "id": section}));
    grant(&app, owner, &format!("invoice-sections/{section}"), &plain_id, "subscription_creator")
        .await
        .problem(409, "role_already_assigned");
    assert_eq!(grant(&app, owner, &format!("billing-profiles/{bp}"), &plain_id, "invoice_manager").await.status, 201);
    // The section's list shows what is inherited from above, each with its own scope.
    let list = app.get(&format!("/api/v1/invoice-sections/{section}/role-assignments"), owner).await;
    let owner_id = user_id(&app, owner).await;
    assert_eq!(
        roles_of(&list.body, &owner_id),
        vec![("billing_account".into(), "owner".into()), ("billing_profile".into(), "owner".into())]
    );
    assert_eq!(
        roles_of(&list.body, &plain_id),
        vec![("billing_profile".into(), "invoice_manager".into()), ("invoice_section".into(), "subscription_creator".into())]
    );
    // Another tenant sees none of it (rule H4).
    app.get(&format!("/api/v1/billing-accounts/{ba}/role-assignments"), &other.ga).await.problem(404, "not_found");
    let grants = super::audit(&app, &t, "role.grant").await;
    assert!(grants.iter().any(|g| g["after"]["role"] == "subscription_creator"), "{grants:?}");
}

async fn rule_a2_the_last_owner_of_a_billing_account_cannot_be_removed(app: TestApp) {
    let t = app.tenant("A2Last", "US", "active").await;
    let owner = &t.account_admin;
    let ba = account(&app, owner, json!({})).await;
    let list = app.get(&format!("/api/v1/billing-accounts/{ba}/role-assignments"), owner).await;
    let mine = list.body["items"][0]["id"].as_str().unwrap_or_default().to_owned();
    app.call("DELETE", &format!("/api/v1/role-assignments/{mine}"), owner, None).await.problem(409, "last_owner");
    let plain_id = user_id(&app, &t.plain).await;
    let second = grant(&app, owner, &format!("billing-accounts/{ba}"), &plain_id, "owner").await;
    assert_eq!(second.status, 201);
    // With a second owner the first may go; then the second is the last.
    assert_eq!(app.call("DELETE", &format!("/api/v1/role-assignments/{mine}"), owner, None).await.status, 204);
    app.get(&format!("/api/v1/billing-accounts/{ba}"), owner).await.problem(403, "forbidden");
    app.call("DELETE", &format!("/api/v1/role-assignments/{}", id(&second)), &t.plain, None).await.problem(409, "last_owner");
    assert_eq!(super::audit(&app, &t, "role.revoke").await.len(), 1);
}

async fn rule_a2_a_reader_of_one_profile_does_not_see_its_siblings(app: TestApp) {
    let t = app.tenant("A2Sib", "US", "active").await;
    let owner = &t.account_admin;
    let ba = account(&app, owner, json!({"display_name": "Shared"})).await;
    let first = profile(&app, owner, &ba, "First").await;
    fund(&app, owner, &first).await;
    let second = profile(&app, owner, &ba, "Second").await;
    let plain_id = user_id(&app, &t.plain).await;
    assert_eq!(grant(&app, owner, &format!("billing-profiles/{first}"), &plain_id, "reader").await.status, 201);
    let accounts = app.get("/api/v1/billing-accounts", &t.plain).await;
    assert_eq!(len(&accounts.body["items"]), 1);
    let profiles = &accounts.body["items"][0]["billing_profiles"];
    assert_eq!(len(profiles), 1, "{profiles}");
    assert_eq!(profiles[0]["id"], first.as_str());
    let listed = app.get(&format!("/api/v1/billing-accounts/{ba}/billing-profiles"), &t.plain).await;
    assert_eq!(listed.body["items"].as_array().map(|v| v.iter().map(|p| p["id"].clone()).collect::<Vec<_>>()), Some(vec![json!(first)]));
    assert_eq!(app.get(&format!("/api/v1/billing-profiles/{first}"), &t.plain).await.status, 200);
    app.get(&format!("/api/v1/billing-profiles/{second}"), &t.plain).await.problem(403, "forbidden");
    // Reading is all a reader does.
    app.call("POST", &format!("/api/v1/billing-profiles/{first}/invoice-sections"), &t.plain, Some(json!({"display_name": "X"})))
        .await
        .problem(403, "forbidden");
    app.call("PATCH", &format!("/api/v1/billing-accounts/{ba}"), &t.plain, Some(json!({"display_name": "Mine"})))
        .await
        .problem(403, "forbidden");
}

async fn rule_a2_a_role_applies_to_everything_below_its_scope(app: TestApp) {
    let t = app.tenant("A2Below", "US", "active").await;
    let owner = &t.account_admin;
    let ba = account(&app, owner, json!({})).await;
    let bp = profile(&app, owner, &ba, "P").await;
    let plain_id = user_id(&app, &t.plain).await;
    let mcpp_id = user_id(&app, &t.mcpp).await;
    // A contributor on the account manages its profiles' sections, but grants nothing.
    assert_eq!(grant(&app, owner, &format!("billing-accounts/{ba}"), &plain_id, "contributor").await.status, 201);
    let r =
        app.call("POST", &format!("/api/v1/billing-profiles/{bp}/invoice-sections"), &t.plain, Some(json!({"display_name": "EU"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let section = id(&r);
    grant(&app, &t.plain, &format!("billing-profiles/{bp}"), &mcpp_id, "reader").await.problem(403, "forbidden");
    // The owner of a section renames it but does not remove it (that is managing the profile).
    assert_eq!(grant(&app, owner, &format!("invoice-sections/{section}"), &mcpp_id, "owner").await.status, 201);
    let r = app.call("PATCH", &format!("/api/v1/invoice-sections/{section}"), &t.mcpp, Some(json!({"display_name": "EU 2"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.call("DELETE", &format!("/api/v1/invoice-sections/{section}"), &t.mcpp, None).await.problem(403, "forbidden");
    // ...and sees its profile with only that section.
    let p = app.get(&format!("/api/v1/billing-profiles/{bp}"), &t.mcpp).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(len(&p.body["invoice_sections"]), 1);
    assert_eq!(p.body["invoice_sections"][0]["id"], section.as_str());
    assert_eq!(app.call("DELETE", &format!("/api/v1/invoice-sections/{section}"), &t.plain, None).await.status, 204);
}

pb_store::both_backends!(with crate::support::app;
    rule_a2_owners_grant_roles_that_exist_at_the_scope,
    rule_a2_the_last_owner_of_a_billing_account_cannot_be_removed,
    rule_a2_a_reader_of_one_profile_does_not_see_its_siblings,
    rule_a2_a_role_applies_to_everything_below_its_scope,
);
