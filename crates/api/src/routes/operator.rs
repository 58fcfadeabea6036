//! Operator API (rule A6): provision tenants, users and partner accounts; verify legal profiles.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use pb_domain::{DirectoryRole, DisplayName, EmailAddress, FieldErrors, LegalProfileInput, PartnerAccountState, PartnerRole, TenantId};
use pb_store::{NewUser, PartnerOverview, PutPartnerAccount, Tenant, User};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use pb_app::{AppState, Operator};

use crate::Problem;
use crate::extract::JsonBody;
use crate::idempotency::{Answer, Idem};
use crate::problem::{ApiError, ApiResult};
use crate::views::{PartnerAccountView, TenantView, UserView};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(create_tenant, list_tenants))
        .routes(routes!(create_user))
        .routes(routes!(put_partner_account, patch_partner_account))
        .routes(routes!(verify_legal_profile))
}

fn tenant_id(raw: &str) -> ApiResult<TenantId> {
    // A malformed id can name nothing: 404, like an unknown one.
    TenantId::parse(raw).map_err(|_| ApiError::NotFound("tenant".into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    name: Option<String>,
    domain: Option<String>,
}

fn parse_domain(raw: &str) -> Result<String, &'static str> {
    let d = raw.trim().to_ascii_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if d.len() > 253 || !d.contains('.') || !labels_ok {
        return Err("must be a domain name such as contoso.onmicrosoft.com");
    }
    Ok(d)
}

/// Provision a tenant.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "operator", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = TenantView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_tenant(
    State(s): State<AppState>,
    op: Operator,
    idem: Idem,
    JsonBody(b): JsonBody<CreateTenant>,
) -> ApiResult<Response> {
    let mut e = FieldErrors::new();
    let name = e.required("name", b.name.as_deref(), DisplayName::parse);
    let domain = match b.domain.as_deref().map(parse_domain) {
        Some(Ok(d)) => Some(d),
        Some(Err(msg)) => {
            e.push("domain", "invalid_domain", msg);
            None
        }
        None => {
            e.push("domain", "required", "is required");
            None
        }
    };
    let (name, domain) = e.finish(|| Some((name?, domain?)))?;
    let answer = Answer::new(StatusCode::CREATED, |t: &Tenant| TenantView::from(t));
    let t = s.store.create_tenant(&op.ctx.completing(answer.completion(&idem)), &name, &domain).await?;
    Ok(answer.respond(&t))
}

/// List tenants.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "operator", security(("bearer" = [])), responses((status = 200, body = crate::views::ListView<TenantView>)))]
pub async fn list_tenants(State(s): State<AppState>, _op: Operator) -> ApiResult<Json<crate::views::ListView<TenantView>>> {
    let items = s.store.list_tenants().await?.iter().map(TenantView::from).collect();
    Ok(Json(crate::views::ListView { items, next_cursor: None }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    directory_roles: Vec<String>,
    #[serde(default)]
    partner_roles: Vec<String>,
}

/// Provision a user in a tenant. The returned `id` is the user's `oid`.
#[utoipa::path(post, path = "/api/v1/tenants/{tid}/users", tag = "operator", security(("bearer" = [])), request_body = CreateUser,
    params(("tid" = String, Path)), responses((status = 201, body = UserView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(s): State<AppState>,
    op: Operator,
    idem: Idem,
    Path(tid): Path<String>,
    JsonBody(b): JsonBody<CreateUser>,
) -> ApiResult<Response> {
    let tid = tenant_id(&tid)?;
    let mut e = FieldErrors::new();
    let email = e.required("email", b.email.as_deref(), EmailAddress::parse);
    let display_name = e.required("display_name", b.display_name.as_deref(), DisplayName::parse);
    let mut directory_roles = Vec::new();
    for (i, r) in b.directory_roles.iter().enumerate() {
        match DirectoryRole::parse(r) {
            Some(r) => directory_roles.push(r),
            None => e.push(format!("directory_roles[{i}]"), "unknown_role", "known directory roles: global_admin"),
        }
    }
    let mut partner_roles = Vec::new();
    for (i, r) in b.partner_roles.iter().enumerate() {
        match PartnerRole::parse(r) {
            Some(r) => partner_roles.push(r),
            None => e.push(format!("partner_roles[{i}]"), "unknown_role", "known partner roles: mcpp_admin, account_admin"),
        }
    }
    let (email, display_name) = e.finish(|| Some((email?, display_name?)))?;
    let answer = Answer::new(StatusCode::CREATED, |u: &User| UserView::from(u));
    let new = NewUser { email, display_name, directory_roles, partner_roles };
    let u = s.store.create_user(&op.ctx.completing(answer.completion(&idem)), tid, &new).await?;
    Ok(answer.respond(&u))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPartnerAccountBody {
    partner_id: Option<String>,
    name: Option<String>,
    state: Option<String>,
    legal_profile: Option<LegalProfileInput>,
}

fn parse_state(e: &mut FieldErrors, raw: Option<&str>) -> Option<PartnerAccountState> {
    match raw {
        Some(v) => {
            let s = PartnerAccountState::parse(v);
            if s.is_none() {
                e.push("state", "invalid_state", "must be one of active, pending_verification, rejected, suspended, closed");
            }
            s
        }
        None => {
            e.push("state", "required", "is required");
            None
        }
    }
}

/// Create or replace the tenant's partner account with its verified legal profile.
#[utoipa::path(put, path = "/api/v1/tenants/{tid}/partner-account", tag = "operator", security(("bearer" = [])), request_body = PutPartnerAccountBody,
    params(("tid" = String, Path)), responses((status = 200, body = PartnerAccountView), (status = 201, body = PartnerAccountView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_partner_account(
    State(s): State<AppState>,
    op: Operator,
    Path(tid): Path<String>,
    JsonBody(b): JsonBody<PutPartnerAccountBody>,
) -> ApiResult<(StatusCode, Json<PartnerAccountView>)> {
    let tid = tenant_id(&tid)?;
    let mut e = FieldErrors::new();
    let partner_id = match b.partner_id.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => Some(p.to_owned()),
        Some(_) => {
            e.push("partner_id", "invalid_partner_id", "must be 1-64 letters, digits or dashes");
            None
        }
        None => {
            e.push("partner_id", "required", "is required");
            None
        }
    };
    let name = e.required("name", b.name.as_deref(), DisplayName::parse);
    let state = parse_state(&mut e, b.state.as_deref());
    let legal_profile = match &b.legal_profile {
        Some(lp) => e.nested("legal_profile", lp.parse()),
        None => {
            e.push("legal_profile", "required", "is required");
            None
        }
    };
    let put =
        e.finish(|| Some(PutPartnerAccount { partner_id: partner_id?, name: name?, state: state?, legal_profile: legal_profile? }))?;
    let (o, created) = s.store.put_partner_account(&op.ctx, tid, &put).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(PartnerAccountView::new(&o))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPartnerAccount {
    state: Option<String>,
}

/// Change the partner account's state.
#[utoipa::path(patch, path = "/api/v1/tenants/{tid}/partner-account", tag = "operator", security(("bearer" = [])), request_body = PatchPartnerAccount,
    params(("tid" = String, Path)), responses((status = 200, body = PartnerAccountView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_partner_account(
    State(s): State<AppState>,
    op: Operator,
    Path(tid): Path<String>,
    JsonBody(b): JsonBody<PatchPartnerAccount>,
) -> ApiResult<Json<PartnerAccountView>> {
    let tid = tenant_id(&tid)?;
    let mut e = FieldErrors::new();
    let state = parse_state(&mut e, b.state.as_deref());
    let state = e.finish(|| state)?;
    Ok(Json(PartnerAccountView::new(&s.store.set_partner_state(&op.ctx, tid, state).await?)))
}

/// Apply the pending legal profile change: from now on it is the verified profile (rule N3).
#[utoipa::path(post, path = "/api/v1/tenants/{tid}/partner-account/legal-profile/verify", tag = "operator", security(("bearer" = [])),
    params(("tid" = String, Path)), responses((status = 200, body = PartnerAccountView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn verify_legal_profile(State(s): State<AppState>, op: Operator, idem: Idem, Path(tid): Path<String>) -> ApiResult<Response> {
    let tid = tenant_id(&tid)?;
    let answer = Answer::new(StatusCode::OK, |o: &PartnerOverview| PartnerAccountView::new(o));
    let o = s.store.verify_legal_profile(&op.ctx.completing(answer.completion(&idem)), tid).await?;
    Ok(answer.respond(&o))
}
