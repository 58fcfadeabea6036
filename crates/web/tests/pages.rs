//! The pages in-process (the browser suite in tests/e2e drives them in Chromium): sign-in, the
//! session cookie, CSRF, what the billing profile page says, and (in `pages/`) commerce and the
//! notifications with the bell, on SQLite and PostgreSQL.
// The test bodies are plain `async fn`s that `both_backends!` wraps in `#[tokio::test]`s, which
// clippy's `allow-unwrap-in-tests` cannot see through.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

#[path = "pages/commerce.rs"]
mod commerce;
#[path = "pages/hardening.rs"]
mod hardening;
#[path = "pages/notifications.rs"]
mod notifications;
#[path = "pages/oidc.rs"]
mod oidc;
#[path = "pages/roles.rs"]
mod roles;

use axum::http::{StatusCode, header};
use pb_app::testing::{Resp, TestApp};
use pb_app::{AppConfig, AppState};
use pb_domain::{AddressInput, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, PartnerAccountState};
use pb_store::testing::user_ctx;
use pb_store::{Ctx, NewUser, PutPartnerAccount, Store, both_backends};

/// The pages' face alone: they stand on the shared floor, not on the API.
fn faces(state: &AppState) -> axum::Router<AppState> {
    pb_web::router(state)
}

struct Web {
    app: TestApp,
    store: Store,
}

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    html: String,
}

async fn web(store: Store, public_url: Option<&str>) -> Web {
    let config = AppConfig { dev_sign_in: true, public_url: public_url.map(str::to_owned), ..Default::default() };
    Web { app: TestApp::with_config(store.clone(), config, faces).await, store }
}

impl Web {
    async fn send(&self, method: &str, path: &str, cookie: Option<&str>, form: Option<String>) -> Page {
        let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
        let r: Resp = self.app.send(method, path, &headers, form.map(|f| ("application/x-www-form-urlencoded", f.into_bytes()))).await;
        Page { status: r.status, html: r.text(), headers: r.headers }
    }

    /// Signs in through the sign-in page as the user with this email; returns the session cookie.
    async fn sign_in(&self, email: &str) -> String {
        let page = self.send("GET", "/signin", None, None).await;
        let set = cookies(&page);
        let csrf_cookie = set.iter().find(|c| c.contains("pb_signin_csrf=")).cloned().unwrap_or_default();
        let csrf = value_after(&page.html, "name=\"csrf\" value=\"");
        let button = page.html.find(&format!("data-email=\"{email}\"")).unwrap_or_else(|| panic!("{email} not listed"));
        let form_start = page.html[..button].rfind("<form").unwrap_or(0);
        let form = &page.html[form_start..button];
        let tenant = value_after(form, "name=\"tenant_id\" value=\"");
        let user = value_after(form, "name=\"user_id\" value=\"");
        let cookie = csrf_cookie.split(';').next().unwrap_or_default().to_owned();
        let r = self.send("POST", "/signin", Some(&cookie), Some(format!("csrf={csrf}&tenant_id={tenant}&user_id={user}"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
        let session = cookies(&r).into_iter().find(|c| c.contains("pb_session=") && !c.contains("Max-Age=0")).unwrap_or_default();
        session.split(';').next().unwrap_or_default().to_owned()
    }
}

fn cookies(p: &Page) -> Vec<String> {
    p.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
}

fn value_after(html: &str, marker: &str) -> String {
    html.split(marker).nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned()
}

/// The visible text of `<main>`, whitespace collapsed, for snapshots.
fn main_text(html: &str) -> String {
    let main = html.split("<main").nth(1).and_then(|m| m.split_once('>')).and_then(|(_, m)| m.split("</main>").next()).unwrap_or_default();
    let mut out = String::new();
    let mut in_tag = false;
    for c in main.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn seed(store: &Store, state: PartnerAccountState) {
    let ctx = Ctx::system();
    let t = store.create_tenant(&ctx, &DisplayName::parse("Contoso").unwrap(), "contoso.example").await.unwrap();
    for (email, ga) in [("admin@contoso.example", true), ("user@contoso.example", false)] {
        let new = NewUser {
            email: EmailAddress::parse(email).unwrap(),
            display_name: DisplayName::parse(if ga { "Adele Vance" } else { "Diego Siciliani" }).unwrap(),
            directory_roles: if ga { vec![DirectoryRole::GlobalAdmin] } else { vec![] },
            partner_roles: vec![],
        };
        store.create_user(&ctx, t.id, &new).await.unwrap();
    }
    let lp = LegalProfileInput {
        company_name: Some("Contoso Ltd".into()),
        sold_to: Some(AddressInput { address_line1: Some("1 Microsoft Way".into()), country: Some("US".into()), ..Default::default() }),
        primary_contact: None,
    }
    .parse()
    .unwrap();
    let put = PutPartnerAccount { partner_id: "1".into(), name: DisplayName::parse("Contoso").unwrap(), state, legal_profile: lp };
    store.put_partner_account(&ctx, t.id, &put).await.unwrap();
}

async fn rule_n2_unlinked_page_says_so_and_offers_start(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web(store, None).await;
    let session = w.sign_in("admin@contoso.example").await;
    let p = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("data-testid=\"unlinked-banner\""));
    assert!(p.html.contains("id=\"start\""));
    insta::assert_snapshot!("unlinked_page", main_text(&p.html));
}

async fn rule_a1_page_explains_the_missing_role(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web(store, None).await;
    let session = w.sign_in("user@contoso.example").await;
    let p = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert!(!p.html.contains("id=\"start\""));
    assert!(main_text(&p.html).contains("Only a Global administrator can link a billing account"));
    let p = w.send("GET", "/account/billing-profile/select-account", Some(&session), None).await;
    assert!(p.html.contains("data-step=\"refused\""));
}

async fn rule_p2_page_explains_the_partner_account_state(store: Store) {
    seed(&store, PartnerAccountState::PendingVerification).await;
    let w = web(store, None).await;
    let session = w.sign_in("admin@contoso.example").await;
    let p = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    let text = main_text(&p.html);
    assert!(text.contains("Your partner account is pending verification"), "{text}");
    assert!(!p.html.contains("id=\"start\""));
}

async fn forms_need_the_session_csrf_token(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web(store, None).await;
    let session = w.sign_in("admin@contoso.example").await;
    let r = w
        .send(
            "POST",
            "/account/billing-profile/new-account",
            Some(&session),
            Some("csrf=forged&display_name=X&contact_name=&contact_email=&contact_phone=".into()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let tenant = w.store.find_tenant("contoso.example").await.unwrap();
    let admin = user_ctx(&w.store, tenant.id, "admin@contoso.example").await;
    assert!(w.store.list_billing_accounts(&admin, None, None).await.unwrap().items.is_empty(), "nothing was created");
    // Without a session the pages send you to sign in.
    let r = w.send("GET", "/account/billing-profile", None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()), Some("/signin"));
}

async fn session_cookie_is_httponly_lax_and_secure_over_https(store: Store) {
    seed(&store, PartnerAccountState::Active).await;
    let w = web(store.clone(), None).await;
    let page = w.send("GET", "/signin", None, None).await;
    let csp = page.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "pages carry a CSP: {csp}");
    assert_eq!(page.headers.get(header::X_CONTENT_TYPE_OPTIONS).and_then(|v| v.to_str().ok()), Some("nosniff"));
    let c = cookies(&page).join("\n");
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"), "{c}");
    let w = web(store, Some("https://billing.example.com")).await;
    let page = w.send("GET", "/signin", None, None).await;
    assert!(cookies(&page).iter().all(|c| c.contains("; Secure")), "Secure over https");
}

both_backends!(
    rule_n2_unlinked_page_says_so_and_offers_start,
    rule_a1_page_explains_the_missing_role,
    rule_p2_page_explains_the_partner_account_state,
    forms_need_the_session_csrf_token,
    session_cookie_is_httponly_lax_and_secure_over_https,
);
