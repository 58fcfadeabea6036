//! Sessions of the pages: an HttpOnly, SameSite=Lax cookie (Secure over https) naming a row of
//! `web_sessions`, and a CSRF token per session checked on every form.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pb_app::{AppState, TenantUser};
use sha2::{Digest, Sha256};

use crate::views::ErrorPage;

pub const SESSION_COOKIE: &str = "pb_session";
pub const SIGNIN_CSRF_COOKIE: &str = "pb_signin_csrf";
pub const SESSION_TTL: time::Duration = time::Duration::hours(8);

/// A random URL-safe token of 32 bytes; empty when the OS has no randomness to give, which no
/// cookie or form can then match.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    if getrandom::fill(&mut b).is_err() {
        return String::new();
    }
    URL_SAFE_NO_PAD.encode(b)
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// A `Set-Cookie` value with the attributes every cookie here carries.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && !a.is_empty() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signed-in user of a page, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub who: TenantUser,
    pub csrf: String,
    pub session_hash: String,
    /// The local path and query this request shows, when it is a GET (which a link can repeat):
    /// where forms of the chrome, such as the bell's "Mark all read", send the user back to.
    pub here: Option<String>,
}

impl WebUser {
    pub fn check_csrf(&self, submitted: &str) -> bool {
        same_token(&self.csrf, submitted)
    }
}

impl AsRef<WebUser> for WebUser {
    fn as_ref(&self) -> &WebUser {
        self
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_signin = || Redirect::to("/signin").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_signin)?;
        let hash = hash_token(&token);
        let failed = |e: pb_store::StoreError| {
            tracing::error!(error = %e, "session lookup failed");
            ErrorPage::respond(None, axum::http::StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again in a moment.")
        };
        let session = state.store.web_session(&hash).await.map_err(failed)?.ok_or_else(to_signin)?;
        let who =
            TenantUser::from_session(&state.store, &session, pb_app::request_id(parts)).await.map_err(failed)?.ok_or_else(to_signin)?;
        let here = (parts.method == Method::GET || parts.method == Method::HEAD)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .flatten();
        Ok(WebUser { who, csrf: session.csrf_token, session_hash: hash, here })
    }
}
