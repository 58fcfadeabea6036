//! Sessions of the pages: an HttpOnly, SameSite=Lax cookie (Secure over https) naming a row of
//! `web_sessions`, and a CSRF token per session checked on every form.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pb_app::{AppState, TenantUser};
use pb_store::SignInMethod;
use sha2::{Digest, Sha256};

use crate::views::ErrorPage;

/// Cookie names: with `Secure`, the `__Host-` prefix too, so that no sibling host or plain-http
/// page can plant or overwrite them.
pub fn cookie_name(state: &AppState, base: &'static str) -> &'static str {
    match (state.config.secure_cookies(), base) {
        (true, "pb_session") => "__Host-pb_session",
        (true, "pb_signin_csrf") => "__Host-pb_signin_csrf",
        (true, "pb_oidc") => "__Host-pb_oidc",
        _ => base,
    }
}

pub const SESSION_COOKIE: &str = "pb_session";
pub const SIGNIN_CSRF_COOKIE: &str = "pb_signin_csrf";
/// A sign-in under way with the OIDC provider: its state, nonce and PKCE verifier.
pub const OIDC_COOKIE: &str = "pb_oidc";
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

/// A `Set-Cookie` value with the attributes every cookie here carries; `base` is the cookie's name
/// before [`cookie_name`] prefixes it.
pub fn set_cookie(state: &AppState, base: &'static str, value: &str, max_age: i64) -> String {
    let name = cookie_name(state, base);
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Refuses a form POST that a browser sent from another origin (besides the CSRF token, which
/// stops forgeries the browser does not label). Requests without `Origin` come from clients that
/// are not browsers or from same-origin navigations of old browsers; a `Sec-Fetch-Site` of
/// `cross-site` is refused either way.
pub async fn same_origin_forms(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD || req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    let h = req.headers();
    let text = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let host = text(header::HOST);
    let cross_site = h.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    let foreign = match text(header::ORIGIN) {
        Some(origin) => !state.config.same_origin(&origin, host.as_deref()),
        None => cross_site,
    };
    if foreign {
        return crate::extract::forbidden_origin();
    }
    next.run(req).await
}

/// Starts a session for a user who just signed in, ending the one this browser held (each sign-in
/// gets a new id); returns the session cookie to set.
pub async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    tenant: pb_domain::TenantId,
    user: pb_domain::UserId,
    method: SignInMethod,
) -> Result<String, pb_store::StoreError> {
    let token = random_token();
    if token.is_empty() {
        return Err(pb_store::StoreError::Corrupt("no randomness available for a session".into()));
    }
    let (hash, csrf) = (hash_token(&token), random_token());
    let previous = cookie(headers, cookie_name(state, SESSION_COOKIE)).map(|t| hash_token(&t));
    let new =
        pb_store::NewWebSession { token_hash: &hash, tenant, user, csrf: &csrf, ttl: SESSION_TTL, method, replaces: previous.as_deref() };
    state.store.create_web_session(&new).await?;
    Ok(set_cookie(state, SESSION_COOKIE, &token, SESSION_TTL.whole_seconds()))
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
        let token = cookie(&parts.headers, cookie_name(state, SESSION_COOKIE)).ok_or_else(to_signin)?;
        let hash = hash_token(&token);
        let failed = |e: pb_store::StoreError| {
            tracing::error!(error = %e, "session lookup failed");
            crate::render::store_failure_page(None, &e, "Something went wrong", "Please try again in a moment.")
        };
        let session = state.store.web_session(&hash).await.map_err(failed)?.ok_or_else(to_signin)?;
        // A session of the demo sign-in page is worth nothing once the server runs without --demo.
        if session.method == SignInMethod::Demo && !state.config.dev_sign_in {
            return Err(to_signin());
        }
        let who =
            TenantUser::from_session(&state.store, &session, pb_app::request_id(parts)).await.map_err(failed)?.ok_or_else(to_signin)?;
        if let Err(retry_after) = pb_app::charge_user(state, &who) {
            let mut r = ErrorPage::respond(
                None,
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "You are sending requests faster than this service allows. Wait a moment and try again.",
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Err(r);
        }
        let here = (parts.method == Method::GET || parts.method == Method::HEAD)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .flatten();
        Ok(WebUser { who, csrf: session.csrf_token, session_hash: hash, here })
    }
}
