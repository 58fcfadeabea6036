//! The signed-in user, their partner account and its legal profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pb_app::{AppState, TenantUser};
use pb_domain::LegalProfileInput;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Problem;
use crate::etag::with_etag;
use crate::extract::JsonBody;
use crate::problem::ApiResult;
use crate::views::{PartnerAccountView, TenantView, UserView};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(get_me)).routes(routes!(get_partner_account)).routes(routes!(put_legal_profile))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    tenant: TenantView,
    user: UserView,
    /// From the token's `wids`, as stored when the user was seen (rule A1).
    global_admin: bool,
    partner_roles: Vec<String>,
}

/// Who am I: the tenant signed in with (rule P3), the user and their roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "tenant", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn get_me(who: TenantUser) -> Json<Me> {
    let user = UserView::from(&who.user);
    Json(Me { tenant: TenantView::from(&who.tenant), partner_roles: user.partner_roles.clone(), user, global_admin: who.is_global_admin() })
}

/// The tenant's partner account: state, verified legal profile, any pending change, the billing link.
/// `ETag` is the link version, for `If-Match` on `PUT /billing-link`.
#[utoipa::path(get, path = "/api/v1/partner-account", tag = "tenant", security(("bearer" = [])),
    responses((status = 200, body = PartnerAccountView), (status = 404, body = Problem)))]
pub async fn get_partner_account(State(s): State<AppState>, who: TenantUser) -> ApiResult<Response> {
    let o = s.store.partner_overview(who.cx.tenant()).await?;
    Ok(with_etag(Json(PartnerAccountView::new(&o)), o.partner.link_version))
}

/// Submit a legal profile change (global admin or account admin). It stays pending until an operator
/// verifies it; until then every billing account keeps using the verified profile (rule N3).
#[utoipa::path(put, path = "/api/v1/partner-account/legal-profile", tag = "tenant", security(("bearer" = [])), request_body = LegalProfileInput,
    responses((status = 202, body = PartnerAccountView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_legal_profile(
    State(s): State<AppState>,
    who: TenantUser,
    JsonBody(b): JsonBody<LegalProfileInput>,
) -> ApiResult<(StatusCode, Json<PartnerAccountView>)> {
    let o = s.store.submit_legal_profile_change(&who.cx, &b).await?;
    Ok((StatusCode::ACCEPTED, Json(PartnerAccountView::new(&o))))
}
