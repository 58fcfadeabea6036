//! The bearer token's principal as axum extractors, resolved once per request.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::AppState;
use crate::principal::{AuthFailure, Operator, Principal, TenantUser};

fn bearer(parts: &Parts) -> Result<&str, AuthFailure> {
    let malformed = || AuthFailure::Unauthenticated("the Authorization header is malformed".into());
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AuthFailure::Unauthenticated("this needs a bearer token in the Authorization header".into()))?;
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthFailure::Unauthenticated("the Authorization header must be 'Bearer <token>'".into()));
    }
    Ok(token.trim())
}

/// The request id the request-id layer set (also returned as `x-request-id`).
pub fn request_id(parts: &Parts) -> Option<String> {
    parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The bearer token's principal, resolved once per request (the idempotency layer may have done it).
impl FromRequestParts<AppState> for Principal {
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let token = bearer(parts)?;
        let p = state.auth.resolve(&state.store, token, request_id(parts)).await?;
        charge_principal(state, &p)?;
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

/// The per-principal budget: a user or operator spreading requests over many addresses (or behind
/// one shared proxy with others) is still held to it.
pub fn charge_principal(state: &AppState, p: &Principal) -> Result<(), AuthFailure> {
    let charged = match p {
        Principal::User(u) => charge_user(state, u),
        Principal::Operator(o) => charge(state, &format!("operator:{}", o.ctx.actor.id())),
    };
    charged.map_err(|retry_after| AuthFailure::RateLimited { retry_after })
}

/// [`charge_principal`] for a user of the pages; `Err(seconds to wait)` when over budget.
pub fn charge_user(state: &AppState, u: &TenantUser) -> Result<(), u64> {
    charge(state, &format!("{}:{}", u.tenant.id, u.user.id))
}

fn charge(state: &AppState, who: &str) -> Result<(), u64> {
    state.rate_limiter.charge(crate::rate_limit::limit_key("principal", who.as_bytes()), state.config.rate_limit_per_principal_per_minute)
}

impl FromRequestParts<AppState> for TenantUser {
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::User(u) => Ok(*u),
            Principal::Operator(_) => Err(AuthFailure::WrongCaller("platform operators cannot act as a tenant's user".into())),
        }
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = AuthFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Operator(o) => Ok(o),
            Principal::User(_) => Err(AuthFailure::WrongCaller("this needs the Platform.Operator role".into())),
        }
    }
}
