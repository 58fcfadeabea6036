//! Sign-in with the configured OpenID Connect provider: `/signin/oidc` starts the authorization code
//! flow (PKCE, `state`, `nonce` kept in an HttpOnly cookie of this browser), `/signin/callback`
//! checks `state` against that cookie, redeems the code, verifies the ID token and its `nonce`, and
//! starts a session. The cookie is spent either way, so a callback is never taken twice.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_store::SignInMethod;
use serde::Deserialize;

use crate::render::{see_other, with_status};
use crate::session::{OIDC_COOKIE, cookie, cookie_name, same_token, set_cookie, start_session};
use crate::views::ErrorPage;

fn refused(detail: &str) -> Response {
    let page = ErrorPage { chrome: None, heading: "Sign-in failed".into(), detail: format!("{detail} Start again from the sign-in page.") };
    let mut r = with_status(page.into_response(), StatusCode::BAD_REQUEST);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn with_cookies(mut r: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

pub async fn oidc_start(State(s): State<AppState>) -> Response {
    let Some(oidc) = s.oidc.clone() else { return (StatusCode::NOT_FOUND, "sign-in is not configured").into_response() };
    let start = oidc.start();
    if start.state.is_empty() {
        return refused("No randomness was available.");
    }
    let value = format!("{}.{}.{}", start.state, start.nonce, start.verifier);
    with_cookies(see_other(&start.url), &[set_cookie(&s, OIDC_COOKIE, &value, 600)])
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn oidc_callback(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let Some(oidc) = s.oidc.clone() else { return (StatusCode::NOT_FOUND, "sign-in is not configured").into_response() };
    let spent = set_cookie(&s, OIDC_COOKIE, "", 0);
    let fail = |detail: &str| with_cookies(refused(detail), std::slice::from_ref(&spent));
    if let Some(e) = q.error {
        tracing::info!(error = %e.chars().take(64).collect::<String>(), "the identity provider ended the sign-in");
        return fail("The identity provider did not sign you in.");
    }
    let pending = cookie(&headers, cookie_name(&s, OIDC_COOKIE)).unwrap_or_default();
    let mut parts = pending.splitn(3, '.');
    let (Some(state), Some(nonce), Some(verifier)) = (parts.next(), parts.next(), parts.next()) else {
        return fail("This browser has no sign-in under way.");
    };
    if !q.state.as_deref().is_some_and(|got| same_token(got, state)) {
        return fail("The sign-in's state does not match this browser's.");
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() <= 2048) else { return fail("The identity provider sent no code.") };
    let claims = match oidc.finish(&code, verifier, nonce).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "OIDC sign-in refused");
            return fail("The identity provider's answer was not accepted.");
        }
    };
    let user = match s.auth.user_from_claims(&s.store, &claims, None).await {
        Ok(u) => u,
        Err(e) => {
            tracing::info!(error = %e, "OIDC sign-in of an unknown or refused user");
            return fail("Your organisation or account is not known to this service.");
        }
    };
    match start_session(&s, &headers, user.tenant.id, user.user.id, SignInMethod::Oidc).await {
        Ok(session) => with_cookies(see_other("/account/billing-profile"), &[spent.clone(), session]),
        Err(e) => {
            tracing::error!(error = %e, "cannot create session");
            fail("The session could not be started.")
        }
    }
}
