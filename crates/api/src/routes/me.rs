//! The signed-in user, their partner account and its legal profile.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pb_domain::{LegalProfileInput, PartnerRole, TenantId};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::TenantUser;
use crate::extract::JsonBody;
use crate::problem::{ApiError, ApiResult};
use crate::views::{LinkState, LinkView, PartnerAccountView, TenantView, UserView};
use crate::{AppState, Problem};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(get_me)).routes(routes!(get_partner_account)).routes(routes!(put_legal_profile))
}

/// The link in force for the tenant's partner account, if any.
pub(crate) async fn link_view(s: &AppState, tenant: TenantId) -> ApiResult<Option<LinkState>> {
    let (link, _) = s.store.current_link(tenant).await?;
    let Some(link) = link else { return Ok(None) };
    let account_has_primary_contact = s.store.linked_account_has_primary_contact(tenant).await?.unwrap_or(false);
    Ok(Some(LinkState { link: LinkView::from(&link), account_has_primary_contact }))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    tenant: TenantView,
    user: UserView,
    /// From the token's `wids` (rule A1).
    global_admin: bool,
    partner_roles: Vec<String>,
}

/// Who am I: the tenant signed in with (rule P3), the user and their roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "tenant", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn get_me(who: TenantUser) -> Json<Me> {
    let mut user = UserView::from(&who.user);
    if who.global_admin && !user.directory_roles.iter().any(|r| r == "global_admin") {
        user.directory_roles.push("global_admin".into());
    }
    Json(Me { tenant: TenantView::from(&who.tenant), partner_roles: user.partner_roles.clone(), user, global_admin: who.global_admin })
}

fn with_etag(body: impl IntoResponse, etag: &str) -> Response {
    let mut resp = body.into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The tenant's partner account: state, verified legal profile, any pending change, the billing link.
/// `ETag` is the link version, for `If-Match` on `PUT /billing-link`.
#[utoipa::path(get, path = "/api/v1/partner-account", tag = "tenant", security(("bearer" = [])),
    responses((status = 200, body = PartnerAccountView), (status = 404, body = Problem)))]
pub async fn get_partner_account(State(s): State<AppState>, who: TenantUser) -> ApiResult<Response> {
    let p = s.store.get_partner_account(who.tenant.id).await?;
    let link = link_view(&s, who.tenant.id).await?;
    Ok(with_etag(Json(PartnerAccountView::new(&p, link)), &PartnerAccountView::etag(&p)))
}

/// Submit a legal profile change. It stays pending until an operator verifies it; until then every
/// billing account keeps using the verified profile (rule N3).
#[utoipa::path(put, path = "/api/v1/partner-account/legal-profile", tag = "tenant", security(("bearer" = [])), request_body = LegalProfileInput,
    responses((status = 202, body = PartnerAccountView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_legal_profile(
    State(s): State<AppState>,
    who: TenantUser,
    _headers: HeaderMap,
    JsonBody(b): JsonBody<LegalProfileInput>,
) -> ApiResult<(StatusCode, Json<PartnerAccountView>)> {
    if !who.global_admin && !who.has_partner_role(PartnerRole::AccountAdmin) {
        return Err(ApiError::Forbidden("changing the legal profile needs the global admin or account admin role".into()));
    }
    let change = b.parse_change()?;
    let p = s.store.submit_legal_profile_change(&who.ctx, who.tenant.id, &change).await?;
    let link = link_view(&s, who.tenant.id).await?;
    Ok((StatusCode::ACCEPTED, Json(PartnerAccountView::new(&p, link))))
}
