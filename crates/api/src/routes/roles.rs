//! Billing role assignments (rule A2; api.md "Billing roles").

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use pb_app::{AppState, TenantUser};
use pb_domain::{BillingAccountId, BillingProfileId, BillingRole, BillingScopeKind, InvoiceSectionId, RoleAssignmentId, UserId};
use pb_store::{BillingScope, RoleAssignment};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::billing::path_id;
use crate::Problem;
use crate::extract::JsonBody;
use crate::idempotency::{Answer, Idem};
use crate::problem::{ApiError, ApiResult};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_account_roles, grant_account_role))
        .routes(routes!(list_profile_roles, grant_profile_role))
        .routes(routes!(list_section_roles, grant_section_role))
        .routes(routes!(revoke_role))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeView {
    pub kind: BillingScopeKind,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleAssignmentView {
    pub id: String,
    pub user_id: String,
    pub role: BillingRole,
    pub scope: ScopeView,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

impl From<&RoleAssignment> for RoleAssignmentView {
    fn from(a: &RoleAssignment) -> Self {
        RoleAssignmentView {
            id: a.id.to_string(),
            user_id: a.user_id.to_string(),
            role: a.role,
            scope: ScopeView { kind: a.scope_kind, id: a.scope_id.clone() },
            created_at: a.created_at,
            created_by: a.created_by.clone(),
        }
    }
}

/// The assignments on a scope and those inherited from above it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleAssignmentList {
    pub items: Vec<RoleAssignmentView>,
}

/// `POST …/role-assignments`: a user of the tenant and a role that exists at the scope.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoleAssignment {
    pub user_id: String,
    /// `owner`, `contributor`, `reader`; `invoice_manager` on profiles; `subscription_creator` on sections.
    pub role: String,
}

async fn list(s: &AppState, who: &TenantUser, scope: BillingScope) -> ApiResult<Json<RoleAssignmentList>> {
    let items = s.store.list_role_assignments(&who.cx, scope).await?;
    Ok(Json(RoleAssignmentList { items: items.iter().map(RoleAssignmentView::from).collect() }))
}

async fn grant(s: &AppState, who: TenantUser, idem: &Idem, scope: BillingScope, b: NewRoleAssignment) -> ApiResult<Response> {
    let role = BillingRole::parse(b.role.trim()).ok_or_else(|| {
        ApiError::validation("role", "unknown_role", "must be one of owner, contributor, reader, invoice_manager, subscription_creator")
    })?;
    let user =
        UserId::parse(&b.user_id).map_err(|_| ApiError::validation("user_id", "unknown_user", "no user of this tenant has this id"))?;
    let answer = Answer::new(StatusCode::CREATED, |a: &RoleAssignment| RoleAssignmentView::from(a));
    let a = s.store.grant_role_assignment(&who.cx.completing(answer.completion(idem)), scope, user, role).await?;
    Ok(answer.respond(&a))
}

fn account(id: &str) -> ApiResult<BillingScope> {
    path_id(id, "billing account", BillingAccountId::parse).map(BillingScope::Account)
}

fn profile(id: &str) -> ApiResult<BillingScope> {
    path_id(id, "billing profile", BillingProfileId::parse).map(BillingScope::Profile)
}

fn section(id: &str) -> ApiResult<BillingScope> {
    path_id(id, "invoice section", InvoiceSectionId::parse).map(BillingScope::Section)
}

/// Role assignments on a billing account.
#[utoipa::path(get, path = "/api/v1/billing-accounts/{id}/role-assignments", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RoleAssignmentList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_account_roles(State(s): State<AppState>, who: TenantUser, Path(id): Path<String>) -> ApiResult<Json<RoleAssignmentList>> {
    list(&s, &who, account(&id)?).await
}

/// Grant a role on a billing account (owners).
#[utoipa::path(post, path = "/api/v1/billing-accounts/{id}/role-assignments", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewRoleAssignment,
    responses((status = 201, body = RoleAssignmentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_account_role(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NewRoleAssignment>,
) -> ApiResult<Response> {
    grant(&s, who, &idem, account(&id)?, b).await
}

/// Role assignments on a billing profile and its account.
#[utoipa::path(get, path = "/api/v1/billing-profiles/{id}/role-assignments", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RoleAssignmentList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_profile_roles(State(s): State<AppState>, who: TenantUser, Path(id): Path<String>) -> ApiResult<Json<RoleAssignmentList>> {
    list(&s, &who, profile(&id)?).await
}

/// Grant a role on a billing profile (owners of it or its account).
#[utoipa::path(post, path = "/api/v1/billing-profiles/{id}/role-assignments", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewRoleAssignment,
    responses((status = 201, body = RoleAssignmentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_profile_role(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NewRoleAssignment>,
) -> ApiResult<Response> {
    grant(&s, who, &idem, profile(&id)?, b).await
}

/// Role assignments on an invoice section, its profile and its account.
#[utoipa::path(get, path = "/api/v1/invoice-sections/{id}/role-assignments", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RoleAssignmentList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_section_roles(State(s): State<AppState>, who: TenantUser, Path(id): Path<String>) -> ApiResult<Json<RoleAssignmentList>> {
    list(&s, &who, section(&id)?).await
}

/// Grant a role on an invoice section (owners of it, its profile or its account).
#[utoipa::path(post, path = "/api/v1/invoice-sections/{id}/role-assignments", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewRoleAssignment,
    responses((status = 201, body = RoleAssignmentView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_section_role(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NewRoleAssignment>,
) -> ApiResult<Response> {
    grant(&s, who, &idem, section(&id)?, b).await
}

/// Revoke a role assignment (owners of its scope or above); the last owner of a billing account
/// stays (409 `last_owner`).
#[utoipa::path(delete, path = "/api/v1/role-assignments/{id}", tag = "roles", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn revoke_role(State(s): State<AppState>, who: TenantUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = path_id(&id, "role assignment", RoleAssignmentId::parse)?;
    s.store.revoke_role_assignment(&who.cx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
