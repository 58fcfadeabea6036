//! Who is calling: a bearer token verified by [`pb_auth::Verifier`], resolved against the store.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use pb_auth::{AuthError, Claims, Verifier};
use pb_domain::{GLOBAL_ADMIN_TEMPLATE_ID, PartnerRole, TenantId, UserId};
use pb_store::{Actor, Ctx, SeenUser, StoreError, Tenant, User};

use crate::AppState;
use crate::problem::ApiError;

/// A signed-in user of a tenant. The tenant is the token's `tid` (rule P3).
#[derive(Debug, Clone)]
pub struct TenantUser {
    pub tenant: Tenant,
    pub user: User,
    /// From the token's `wids` (rule A1).
    pub global_admin: bool,
    pub ctx: Ctx,
}

impl TenantUser {
    pub fn has_partner_role(&self, role: PartnerRole) -> bool {
        self.user.partner_roles.contains(&role)
    }

    /// Rule A1/P1: only a global admin may link or change the link.
    pub fn require_global_admin(&self) -> Result<(), ApiError> {
        if self.global_admin { Ok(()) } else { Err(ApiError::GlobalAdminRequired) }
    }
}

/// A platform operator (rule A6).
#[derive(Debug, Clone)]
pub struct Operator {
    pub ctx: Ctx,
}

/// Either kind of caller.
#[derive(Debug, Clone)]
pub enum Principal {
    Operator(Operator),
    User(Box<TenantUser>),
}

/// Verifies tokens and resolves them to principals.
#[derive(Debug, Clone)]
pub struct Authenticator {
    verifier: Arc<Verifier>,
}

impl Authenticator {
    pub fn new(verifier: Verifier) -> Self {
        Authenticator { verifier: Arc::new(verifier) }
    }

    /// Resolves verified claims: operators by role; users by `tid` (a tenant this service does not
    /// know is refused) and `oid` (recorded on first sight).
    pub async fn resolve(&self, state: &AppState, token: &str, request_id: Option<String>) -> Result<Principal, ApiError> {
        let claims = self.verifier.verify(token).await.map_err(|e| ApiError::Unauthenticated(auth_message(&e)))?;
        if claims.is_operator() {
            let ctx = Ctx { actor: Actor::Operator { subject: claims.sub.clone() }, request_id };
            return Ok(Principal::Operator(Operator { ctx }));
        }
        resolve_user(state, &claims, request_id).await.map(|u| Principal::User(Box::new(u)))
    }
}

fn auth_message(e: &AuthError) -> String {
    format!("the bearer token was refused: {e}")
}

async fn resolve_user(state: &AppState, claims: &Claims, request_id: Option<String>) -> Result<TenantUser, ApiError> {
    let tid = claims.tid.as_deref().ok_or_else(|| ApiError::Unauthenticated("the token has no tid (tenant) claim".into()))?;
    let tenant_id = TenantId::parse(tid).map_err(|_| ApiError::Unauthenticated("the token's tid is not a tenant id".into()))?;
    let tenant = match state.store.get_tenant(tenant_id).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::Unauthenticated(format!(
                "tenant {tid} is not known to this service; an operator must provision it first"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let oid = claims.oid.as_deref().ok_or_else(|| ApiError::Unauthenticated("the token has no oid (user) claim".into()))?;
    let user_id = UserId::parse(oid).map_err(|_| ApiError::Unauthenticated("the token's oid is not a user id".into()))?;
    let seen = SeenUser {
        id: user_id,
        email: claims.preferred_username.clone().unwrap_or_default(),
        display_name: claims.name.clone().or_else(|| claims.preferred_username.clone()).unwrap_or_else(|| oid.to_owned()),
    };
    let user = match state.store.record_user_seen(tenant.id, &seen).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthenticated("the token's user belongs to another tenant".into())),
        Err(e) => return Err(e.into()),
    };
    let global_admin = claims.wids.iter().any(|w| w.eq_ignore_ascii_case(GLOBAL_ADMIN_TEMPLATE_ID));
    let ctx = Ctx { actor: Actor::User { user_id, global_admin }, request_id };
    Ok(TenantUser { tenant, user, global_admin, ctx })
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthenticated("this needs a bearer token in the Authorization header".into()))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthenticated("the Authorization header is malformed".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| ApiError::Unauthenticated("the Authorization header is malformed".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthenticated("the Authorization header must be 'Bearer <token>'".into()));
    }
    Ok(token.trim())
}

fn request_id(parts: &Parts) -> Option<String> {
    parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let token = bearer(parts)?;
        let p = state.auth.resolve(state, token, request_id(parts)).await?;
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

impl FromRequestParts<AppState> for TenantUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::User(u) => Ok(*u),
            Principal::Operator(_) => Err(ApiError::Forbidden("platform operators cannot act as a tenant's user".into())),
        }
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Operator(o) => Ok(o),
            Principal::User(_) => Err(ApiError::Forbidden("this needs the Platform.Operator role".into())),
        }
    }
}
