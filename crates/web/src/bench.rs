//! The W2 page baseline of the benchmarks (issue 11, `bench/run.py`): the billing profile page from
//! a bare handler that makes the same queries (the session, its user, the page's reads) and renders
//! the same bytes with the same template, without the shared layers, the extractor's checks (demo
//! sessions, per-principal budget) or the request's logging; the ratio to
//! `GET /account/billing-profile` is what those cost. Compiled only with the `bench-baseline`
//! feature, which no release build has.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pb_app::{AppState, TenantUser};

use crate::pages::billing_profile::render;
use crate::session::{SESSION_COOKIE, WebUser, cookie, cookie_name, hash_token};
use crate::views::Flyout;

/// `GET /bench/bare/billing-profile` (with the session cookie), to merge after the shared layers.
pub fn bare(state: AppState) -> Router {
    Router::new().route("/bench/bare/billing-profile", get(bare_billing_profile)).with_state(state)
}

async fn bare_billing_profile(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = cookie(&headers, cookie_name(&s, SESSION_COOKIE)) else { return StatusCode::UNAUTHORIZED.into_response() };
    let hash = hash_token(&token);
    let Ok(Some(session)) = s.store.web_session(&hash).await else { return StatusCode::UNAUTHORIZED.into_response() };
    let Ok(Some(who)) = TenantUser::from_session(&s.store, &session, None).await else { return StatusCode::UNAUTHORIZED.into_response() };
    let u = WebUser { who, csrf: session.csrf_token, session_hash: hash, here: Some("/account/billing-profile".into()) };
    render(&s, &u, Flyout::None, false).await
}
