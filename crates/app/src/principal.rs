//! Who is calling. One [`TenantUser`] type, made once per request from a bearer token (the API) or
//! from a session (the pages); both end in the stored user with their stored roles, the one source
//! of rule A1. Operators (rule A6) are a separate kind of caller.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pb_auth::{Claims, Verifier};
use pb_domain::{DirectoryRole, EmailAddress, TenantId, UserId, display_name_from_claim};
use pb_store::{Ctx, SeenUser, Store, StoreError, Tenant, User, UserCtx, WebSession};

use crate::problem::Problem;

/// A signed-in user of a tenant. The tenant is the one they signed in with (rule P3).
#[derive(Debug, Clone)]
pub struct TenantUser {
    pub tenant: Tenant,
    pub user: User,
    /// What every store call of this user takes: the tenant travels with the user.
    pub cx: UserCtx,
}

impl TenantUser {
    pub fn new(tenant: Tenant, user: User, request_id: Option<String>) -> Self {
        let cx = UserCtx::new(&user, request_id);
        TenantUser { tenant, user, cx }
    }

    /// Rule A1, from the stored roles.
    pub fn is_global_admin(&self) -> bool {
        self.cx.is_global_admin()
    }

    /// The user of a live web session, if the session's tenant and user still exist.
    pub async fn from_session(store: &Store, session: &WebSession, request_id: Option<String>) -> Result<Option<TenantUser>, StoreError> {
        Ok(store.session_user(session.tenant_id, session.user_id).await?.map(|(t, u)| TenantUser::new(t, u, request_id)))
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

/// Why a caller was not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but not the kind of caller this needs.
    #[error("{0}")]
    WrongCaller(String),
    #[error("cannot resolve the caller: {0}")]
    Store(#[from] StoreError),
    /// Over the per-principal request budget.
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
}

impl AuthFailure {
    pub fn to_problem(&self) -> Problem {
        match self {
            AuthFailure::Unauthenticated(m) => Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", m.clone()),
            AuthFailure::WrongCaller(m) => Problem::new(StatusCode::FORBIDDEN, "forbidden", m.clone()),
            AuthFailure::RateLimited { .. } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; slow down and retry later")
            }
            AuthFailure::Store(e) if e.is_unavailable() => crate::problem::unavailable(),
            AuthFailure::Store(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side; quote the request id when reporting it",
            ),
        }
    }
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        match &self {
            AuthFailure::Store(e) if e.is_unavailable() => tracing::warn!(error = %e, "cannot resolve the caller"),
            AuthFailure::Store(e) => tracing::error!(error = %e, "cannot resolve the caller"),
            AuthFailure::RateLimited { retry_after } => return crate::rate_limit::too_many_requests(*retry_after),
            _ => {}
        }
        self.to_problem().into_response()
    }
}

/// Verifies bearer tokens and resolves them to principals.
#[derive(Debug, Clone)]
pub struct Authenticator {
    verifier: Arc<Verifier>,
    /// The `tid` of the platform's own directory, the only one whose tokens may be operators (A6).
    operator_tenant: Option<String>,
    callers: Arc<crate::callers::Callers>,
}

impl Authenticator {
    pub fn new(verifier: Verifier, operator_tenant: Option<String>) -> Self {
        Authenticator { verifier: Arc::new(verifier), operator_tenant, callers: Arc::default() }
    }

    /// Resolves a token: operators by role in the operator directory; users by `tid` (a tenant this service does not know is
    /// refused) and `oid` (recorded on first sight, directory roles refreshed from `wids`).
    pub async fn resolve(&self, store: &Store, token: &str, request_id: Option<String>) -> Result<Principal, AuthFailure> {
        let claims =
            self.verifier.verify(token).await.map_err(|e| AuthFailure::Unauthenticated(format!("the bearer token was refused: {e}")))?;
        if claims.is_operator_of(self.operator_tenant.as_deref()) {
            return Ok(Principal::Operator(Operator { ctx: Ctx::operator(claims.sub.clone(), request_id) }));
        }
        let key = pb_auth::token_digest(token);
        let writes = store.db().writes();
        if let Some((tenant, user)) = self.callers.get(&key, writes) {
            return Ok(Principal::User(Box::new(TenantUser::new(tenant, user, request_id))));
        }
        let u = resolve_user(store, &claims, request_id).await?;
        self.callers.put(key, writes, &u.tenant, &u.user);
        Ok(Principal::User(Box::new(u)))
    }
}

impl Authenticator {
    /// The tenant user an already verified token (an OIDC ID token) names; operators do not sign in
    /// to the pages.
    pub async fn user_from_claims(&self, store: &Store, claims: &Claims, request_id: Option<String>) -> Result<TenantUser, AuthFailure> {
        if claims.is_operator_of(self.operator_tenant.as_deref()) {
            return Err(AuthFailure::WrongCaller("platform operators use the API, not the pages".into()));
        }
        resolve_user(store, claims, request_id).await
    }
}

async fn resolve_user(store: &Store, claims: &Claims, request_id: Option<String>) -> Result<TenantUser, AuthFailure> {
    let unauthenticated = |m: &str| AuthFailure::Unauthenticated(m.to_owned());
    let tid = claims.tid.as_deref().ok_or_else(|| unauthenticated("the token has no tid (tenant) claim"))?;
    let tenant_id = TenantId::parse(tid).map_err(|_| unauthenticated("the token's tid is not a tenant id"))?;
    let oid = claims.oid.as_deref().ok_or_else(|| unauthenticated("the token has no oid (user) claim"))?;
    let user_id = UserId::parse(oid).map_err(|_| unauthenticated("the token's oid is not a user id"))?;
    // The claims are signed but typed by whoever runs the directory: cleaned like any name.
    let username = claims.preferred_username.as_deref().unwrap_or_default();
    let email = EmailAddress::parse(username).map(String::from).unwrap_or_default();
    let display_name = claims
        .name
        .as_deref()
        .and_then(display_name_from_claim)
        .or_else(|| display_name_from_claim(username))
        .map_or_else(|| oid.to_owned(), String::from);
    let seen = SeenUser { id: user_id, email, display_name, directory_roles: DirectoryRole::from_wids(&claims.wids) };
    let (tenant, user) = match store.resolve_seen_user(tenant_id, &seen).await {
        Ok(found) => found,
        Err(StoreError::NotFound("tenant")) => {
            return Err(AuthFailure::Unauthenticated(format!(
                "tenant {tid} is not known to this service; an operator must provision it first"
            )));
        }
        Err(StoreError::NotFound(_)) => return Err(unauthenticated("the token's user belongs to another tenant")),
        Err(e) => return Err(e.into()),
    };
    Ok(TenantUser::new(tenant, user, request_id))
}
