//! Sessions of the pages: an HttpOnly, SameSite=Lax cookie (Secure over https) naming a row of
//! `web_sessions`, and a CSRF token per session checked on every form.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pb_api::{AppState, TenantUser};
use pb_store::{Actor, Ctx};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "pb_session";
pub const SIGNIN_CSRF_COOKIE: &str = "pb_signin_csrf";
pub const SESSION_TTL: time::Duration = time::Duration::hours(8);

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    // A failure of the OS randomness source leaves zeros; the token would then not match anything
    // useful, so refuse by returning a value no cookie can hold.
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
    let secure = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}", if secure { "; Secure" } else { "" })
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
}

impl WebUser {
    pub fn check_csrf(&self, submitted: &str) -> bool {
        same_token(&self.csrf, submitted)
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_signin = || Redirect::to("/signin").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_signin)?;
        let hash = hash_token(&token);
        let session = match state.store.web_session(&hash).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_signin()),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return Err(crate::pages::error_page(state, None, "Something went wrong", "Please try again in a moment."));
            }
        };
        let (tenant, user) =
            match (state.store.get_tenant(session.tenant_id).await, state.store.get_user(session.tenant_id, session.user_id).await) {
                (Ok(t), Ok(u)) => (t, u),
                _ => return Err(to_signin()),
            };
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let global_admin = user.is_global_admin();
        let ctx = Ctx { actor: Actor::User { user_id: user.id, global_admin }, request_id };
        Ok(WebUser { who: TenantUser { tenant, user, global_admin, ctx }, csrf: session.csrf_token, session_hash: hash })
    }
}
