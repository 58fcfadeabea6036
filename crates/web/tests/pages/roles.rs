//! Rule A2 on the billing profile page: owners grant a role to a user of the tenant picked by name
//! and email, and revoke it; the last owner of the account stays; a reader sees the roles without
//! the forms. On SQLite and PostgreSQL.

use axum::http::{StatusCode, header};
use pb_domain::{DisplayName, PartnerAccountState};
use pb_store::testing::user_ctx;
use pb_store::{Flow, NewBillingAccount, Store, both_backends};

use super::{Page, Web, main_text, seed, value_after, web};

/// Sends a form of the page and follows nothing: the 303's target is returned.
async fn post(w: &Web, session: &str, path: &str, form: String) -> String {
    let r: Page = w.send("POST", path, Some(session), Some(form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn rule_a2_owners_grant_and_revoke_roles_on_the_profile_page(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let tenant = store.find_tenant("contoso.example").await.unwrap();
    let admin = user_ctx(&store, tenant.id, "admin@contoso.example").await;
    let new = NewBillingAccount { display_name: Some(DisplayName::parse("Roles").unwrap()), primary_contact: None };
    let account = store.create_billing_account(&admin, &new).await.unwrap();
    let profile = store.create_billing_profile(&admin, account.id, &DisplayName::parse("Team").unwrap(), Flow::Direct).await.unwrap();
    let diego = store.find_user(tenant.id, "user@contoso.example").await.unwrap();
    let w = web(store, None).await;
    let owner = w.sign_in("admin@contoso.example").await;
    let page = format!("/billing/profiles/{}", profile.id);
    let p = w.send("GET", &page, Some(&owner), None).await;
    assert!(p.html.contains("data-testid=\"grant-form\""), "owners get the form");
    assert!(p.html.contains("Diego Siciliani (user@contoso.example)"), "users are picked by name and email");
    let csrf = value_after(&p.html, "name=\"csrf\" value=\"");
    let to = post(&w, &owner, &format!("{page}/roles"), format!("csrf={csrf}&user_id={}&role=reader&scope=profile", diego.id)).await;
    assert!(to.ends_with("?roles=granted"), "{to}");
    let p = w.send("GET", &to, Some(&owner), None).await;
    let text = main_text(&p.html);
    assert!(
        text.contains("The role was granted.") && text.contains("Diego Siciliani (user@contoso.example) Reader This billing profile"),
        "{text}"
    );
    // An invoice manager is no role of an account: refused in words.
    let to =
        post(&w, &owner, &format!("{page}/roles"), format!("csrf={csrf}&user_id={}&role=invoice_manager&scope=account", diego.id)).await;
    assert!(to.ends_with("?roles=not_at_scope"), "{to}");
    // The reader sees the profile and its roles, without the forms.
    let reader = w.sign_in("user@contoso.example").await;
    let p = w.send("GET", &page, Some(&reader), None).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("data-testid=\"roles\"") && !p.html.contains("data-testid=\"grant-form\""));
    // The account's last owner is not revoked; Diego's reader role is.
    let p = w.send("GET", &page, Some(&owner), None).await;
    let rows: Vec<&str> = p.html.split("data-testid=\"role-row\"").skip(1).collect();
    let revoke_of = |needle: &str| rows.iter().find(|r| r.contains(needle)).map(|r| value_after(r, "action=\"")).unwrap_or_default();
    let account_owner = revoke_of("Billing account");
    let to = post(&w, &owner, &account_owner, format!("csrf={csrf}&back=/billing/profiles/{}", profile.id)).await;
    assert!(to.ends_with("?roles=last_owner"), "{to}");
    let to = post(&w, &owner, &revoke_of("Reader"), format!("csrf={csrf}&back=/billing/profiles/{}", profile.id)).await;
    assert!(to.ends_with("?roles=revoked"), "{to}");
    let p = w.send("GET", &page, Some(&reader), None).await;
    assert_eq!(p.status, StatusCode::OK, "the former reader is refused in words");
    assert!(!p.html.contains("data-testid=\"roles\""));
}

async fn rule_a2_owners_grant_roles_on_the_account_page(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let tenant = store.find_tenant("contoso.example").await.unwrap();
    let admin = user_ctx(&store, tenant.id, "admin@contoso.example").await;
    let new = NewBillingAccount { display_name: Some(DisplayName::parse("Shared").unwrap()), primary_contact: None };
    let account = store.create_billing_account(&admin, &new).await.unwrap();
    store.create_billing_profile(&admin, account.id, &DisplayName::parse("Team").unwrap(), Flow::Direct).await.unwrap();
    let diego = store.find_user(tenant.id, "user@contoso.example").await.unwrap();
    let w = web(store, None).await;
    let owner = w.sign_in("admin@contoso.example").await;
    let reader = w.sign_in("user@contoso.example").await;
    let page = format!("/billing/accounts/{}", account.id);
    let p = w.send("GET", &page, Some(&reader), None).await;
    assert!(!p.html.contains("data-testid=\"account-profiles\""), "nobody else sees the account (rule A3)");
    let p = w.send("GET", &page, Some(&owner), None).await;
    assert!(p.html.contains("data-testid=\"grant-form\"") && !p.html.contains("value=\"invoice_manager\""), "account roles only");
    let csrf = value_after(&p.html, "name=\"csrf\" value=\"");
    let to = post(&w, &owner, &format!("{page}/roles"), format!("csrf={csrf}&user_id={}&role=contributor&scope=account", diego.id)).await;
    assert!(to.ends_with("?roles=granted"), "{to}");
    let p = w.send("GET", &page, Some(&reader), None).await;
    assert_eq!(p.status, StatusCode::OK);
    let text = main_text(&p.html);
    assert!(text.contains("Team") && text.contains("Diego Siciliani (user@contoso.example) Contributor This billing account"), "{text}");
}

both_backends!(rule_a2_owners_grant_and_revoke_roles_on_the_profile_page, rule_a2_owners_grant_roles_on_the_account_page);
