//! Demo sign-in (`serve --demo`): the page lists the tenants' users and signs in with one click; and
//! sign-out. Without demo mode there is no sign-in page.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_domain::PartnerRole;
use pb_store::SignInMethod;
use serde::Deserialize;

use crate::extract::{CsrfForm, CsrfProtected, forbidden_csrf};
use crate::render::{see_other, store_failure_page, with_status};
use crate::session::{SESSION_COOKIE, SIGNIN_CSRF_COOKIE, cookie, cookie_name, random_token, same_token, set_cookie, start_session};
use crate::views::{ErrorPage, SigninPage, SigninTenant, SigninUser};

pub async fn home() -> Response {
    see_other("/account/billing-profile")
}

fn role_words(u: &pb_store::User) -> String {
    let mut roles: Vec<&str> = Vec::new();
    if u.is_global_admin() {
        roles.push("Global admin");
    }
    if u.roles.has_partner_role(PartnerRole::McppAdmin) {
        roles.push("MCPP admin");
    }
    if u.roles.has_partner_role(PartnerRole::AccountAdmin) {
        roles.push("Account admin");
    }
    if roles.is_empty() { "No admin role".into() } else { roles.join(", ") }
}

pub async fn signin_page(State(s): State<AppState>) -> Response {
    if !s.config.dev_sign_in && s.oidc.is_some() {
        return see_other("/signin/oidc");
    }
    if !s.config.dev_sign_in {
        let page = ErrorPage {
            chrome: None,
            heading: "Sign-in is not configured".into(),
            detail: "This server runs without demo sign-in. Use the API with a bearer token from your identity provider.".into(),
        };
        return with_status(page.into_response(), StatusCode::NOT_FOUND);
    }
    let mut tenants = Vec::new();
    for t in s.store.list_tenants().await.unwrap_or_default() {
        let state =
            s.store.get_partner_account(t.id).await.map(|p| p.state.describe().to_owned()).unwrap_or_else(|_| "no partner account".into());
        let users = s
            .store
            .list_users(t.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|u| SigninUser { id: u.id.to_string(), roles: role_words(&u), name: u.display_name, email: u.email })
            .collect();
        tenants.push(SigninTenant { id: t.id.to_string(), name: t.name, domain: t.domain, state, users });
    }
    let csrf = random_token();
    let mut r = SigninPage { csrf: csrf.clone(), tenants }.into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&s, SIGNIN_CSRF_COOKIE, &csrf, 3600)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct SigninForm {
    tenant_id: String,
    user_id: String,
    csrf: String,
}

/// Signs in as a listed user; the CSRF token lives in a cookie of its own, as there is no session yet.
pub async fn signin_submit(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<SigninForm>) -> Response {
    if !s.config.dev_sign_in {
        return (StatusCode::NOT_FOUND, "sign-in is not configured").into_response();
    }
    if !cookie(&headers, cookie_name(&s, SIGNIN_CSRF_COOKIE)).is_some_and(|c| same_token(&c, &f.csrf)) {
        return forbidden_csrf();
    }
    let Ok(tenant) = s.store.find_tenant(&f.tenant_id).await else { return see_other("/signin") };
    let Ok(user) = s.store.find_user(tenant.id, &f.user_id).await else { return see_other("/signin") };
    let session = match start_session(&s, &headers, tenant.id, user.id, SignInMethod::Demo).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot create session");
            return store_failure_page(None, &e, "Something went wrong", "Please try again.");
        }
    };
    let mut r = see_other("/account/billing-profile");
    for c in [session, set_cookie(&s, SIGNIN_CSRF_COOKIE, "", 0)] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

#[derive(Deserialize)]
pub struct SignoutForm {
    csrf: String,
}

impl CsrfProtected for SignoutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn signout_submit(State(s): State<AppState>, CsrfForm { user: u, .. }: CsrfForm<SignoutForm>) -> Response {
    if let Err(e) = s.store.delete_web_session(&u.session_hash).await {
        tracing::warn!(error = %e, "cannot delete the session; it expires by itself");
    }
    let mut r = see_other("/signin");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&s, SESSION_COOKIE, "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
