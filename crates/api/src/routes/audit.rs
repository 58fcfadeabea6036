//! The tenant's audit trail (rule U1): read-only here, as everywhere.

use axum::Json;
use axum::extract::State;
use pb_store::AuditQuery;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use pb_app::{AppState, TenantUser};

use crate::Problem;
use crate::extract::QueryParams;
use crate::problem::ApiResult;
use crate::views::{AuditRecordView, ListView};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    action: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::cursor")]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::page_limit")]
    limit: Option<u32>,
}

/// Audit records of the tenant, newest first. Global admins only.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "tenant", security(("bearer" = [])), params(AuditParams),
    responses((status = 200, body = ListView<AuditRecordView>), (status = 403, body = Problem)))]
pub async fn list_audit(
    State(s): State<AppState>,
    who: TenantUser,
    QueryParams(q): QueryParams<AuditParams>,
) -> ApiResult<Json<ListView<AuditRecordView>>> {
    let page = s.store.list_audit(&who.cx, &AuditQuery { action: q.action, cursor: q.cursor, limit: q.limit }).await?;
    Ok(Json(ListView { items: page.items.iter().map(AuditRecordView::from).collect(), next_cursor: page.next_cursor }))
}
