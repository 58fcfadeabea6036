//! Findings of the review of the running binary (issue 10) that concern the pages: cookies, the
//! origin of forms, session ids and demo sessions. On SQLite and PostgreSQL.

use axum::http::{StatusCode, header};
use pb_app::AppConfig;
use pb_app::testing::TestApp;
use pb_domain::PartnerAccountState;
use pb_store::{Store, both_backends};

use super::{Page, Web, cookies, faces, seed, value_after};

async fn web_with(store: Store, config: AppConfig) -> Web {
    Web { app: TestApp::with_config(store.clone(), config, faces).await, store }
}

fn demo() -> AppConfig {
    AppConfig { dev_sign_in: true, ..Default::default() }
}

/// The sign-out form of a signed-in page, sent with the given extra headers.
async fn sign_out(w: &Web, session: &str, extra: &[(&str, &str)]) -> Page {
    let page = w.send("GET", "/account/billing-profile", Some(session), None).await;
    let csrf = value_after(&page.html, "name=\"csrf\" value=\"");
    let mut headers = vec![("cookie", session)];
    headers.extend_from_slice(extra);
    let body = format!("csrf={csrf}");
    let r = w.app.send("POST", "/signout", &headers, Some(("application/x-www-form-urlencoded", body.into_bytes()))).await;
    Page { status: r.status, html: r.text(), headers: r.headers }
}

/// Found on the running binary: cookies had no `__Host-` prefix and no `Secure` unless a https
/// public URL was configured, even when the server listened on a public address.
async fn hardening_cookies_are_host_prefixed_and_secure_by_default(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web_with(store, AppConfig { listen_loopback: false, ..demo() }).await;
    let page = w.send("GET", "/signin", None, None).await;
    let set = cookies(&page);
    assert!(set.iter().all(|c| c.starts_with("__Host-") && c.contains("; Secure") && c.contains("Path=/")), "{set:?}");
    let session = w.sign_in("admin@contoso.example").await;
    assert!(session.starts_with("__Host-pb_session="), "{session}");
    assert_eq!(w.send("GET", "/account/billing-profile", Some(&session), None).await.status, StatusCode::OK);
    // The unprefixed name is not read when cookies are secure.
    let bare = session.replacen("__Host-", "", 1);
    assert_eq!(w.send("GET", "/account/billing-profile", Some(&bare), None).await.status, StatusCode::SEE_OTHER);
}

/// Found on the running binary: a form posted from another site's page was accepted whenever it
/// carried a valid CSRF token; the `Origin` was not looked at.
async fn hardening_forms_from_another_origin_are_refused(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web_with(store, demo()).await;
    let session = w.sign_in("admin@contoso.example").await;
    let host = [("host", "127.0.0.1:8080")];
    for bad in [&[("origin", "https://evil.example")][..], &[("origin", "null")][..], &[("sec-fetch-site", "cross-site")][..]] {
        let extra: Vec<(&str, &str)> = host.iter().chain(bad.iter()).copied().collect();
        let r = sign_out(&w, &session, &extra).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad:?}");
        assert_eq!(w.send("GET", "/account/billing-profile", Some(&session), None).await.status, StatusCode::OK, "still signed in");
    }
    let r = sign_out(&w, &session, &[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(w.send("GET", "/account/billing-profile", Some(&session), None).await.status, StatusCode::SEE_OTHER, "signed out");
}

/// Found on the running binary: signing in again from a browser that held a session left the old
/// session alive beside the new one (a planted session id would outlive the sign-in).
async fn hardening_each_sign_in_gets_a_new_session_id(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web_with(store, demo()).await;
    let first = w.sign_in("user@contoso.example").await;
    // Sign in again from the same browser: it sends the old cookie along.
    let page = w.send("GET", "/signin", None, None).await;
    let csrf_cookie = cookies(&page).into_iter().find(|c| c.contains("pb_signin_csrf=")).unwrap_or_default();
    let csrf = value_after(&page.html, "name=\"csrf\" value=\"");
    let button = page.html.find("data-email=\"admin@contoso.example\"").unwrap_or(0);
    let form = &page.html[page.html[..button].rfind("<form").unwrap_or(0)..button];
    let (tenant, user) = (value_after(form, "name=\"tenant_id\" value=\""), value_after(form, "name=\"user_id\" value=\""));
    let both = format!("{}; {first}", csrf_cookie.split(';').next().unwrap_or_default());
    let r = w.send("POST", "/signin", Some(&both), Some(format!("csrf={csrf}&tenant_id={tenant}&user_id={user}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let second = cookies(&r).into_iter().find(|c| c.contains("pb_session=")).unwrap_or_default();
    let second = second.split(';').next().unwrap_or_default().to_owned();
    assert_ne!(second, first);
    assert_eq!(w.send("GET", "/account/billing-profile", Some(&first), None).await.status, StatusCode::SEE_OTHER, "old id ended");
    assert_eq!(w.send("GET", "/account/billing-profile", Some(&second), None).await.status, StatusCode::OK);
}

/// Found on the running binary: a session made by the demo sign-in page kept working after the
/// server was restarted without `--demo`.
async fn hardening_demo_sessions_are_refused_without_demo(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let demo_server = web_with(store.clone(), demo()).await;
    let session = demo_server.sign_in("admin@contoso.example").await;
    assert_eq!(demo_server.send("GET", "/account/billing-profile", Some(&session), None).await.status, StatusCode::OK);
    let plain = web_with(store, AppConfig::default()).await;
    let r = plain.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()), Some("/signin"));
    assert_eq!(plain.send("GET", "/signin", None, None).await.status, StatusCode::NOT_FOUND, "no demo sign-in page");
}

/// Issue 12 (failover): while the database cannot serve (here its pool is closed, as when no host
/// takes writes), a page is a 503 saying to try again shortly, with `Retry-After`, not a 500.
async fn failover_a_page_without_its_database_is_503_with_retry_after(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web_with(store.clone(), demo()).await;
    let session = w.sign_in("admin@contoso.example").await;
    store.close().await;
    let page = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{}", page.html);
    assert_eq!(page.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("2"));
    assert!(page.html.contains("try again in a few seconds"), "{}", page.html);
}

both_backends!(
    failover_a_page_without_its_database_is_503_with_retry_after,
    hardening_cookies_are_host_prefixed_and_secure_by_default,
    hardening_forms_from_another_origin_are_refused,
    hardening_each_sign_in_gets_a_new_session_id,
    hardening_demo_sessions_are_refused_without_demo,
);
