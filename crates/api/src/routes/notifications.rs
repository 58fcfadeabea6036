//! In-product notifications of the signed-in user (the bell).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use pb_app::{AppState, TenantUser};

use crate::Problem;
use crate::extract::QueryParams;
use crate::idempotency::{Answer, Idem};
use crate::problem::ApiResult;

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_notifications)).routes(routes!(read_notification)).routes(routes!(read_all_notifications))
}

/// A page of the caller's notifications, and how many of all of them are unread (the bell).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
    pub unread: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub action_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default, deserialize_with = "crate::extract::cursor")]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::page_limit")]
    limit: Option<u32>,
}

/// The caller's notifications, newest first. Reading them marks nothing read.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(Params),
    responses((status = 200, body = NotificationList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_notifications(
    State(s): State<AppState>,
    who: TenantUser,
    QueryParams(q): QueryParams<Params>,
) -> ApiResult<Json<NotificationList>> {
    let page = s.store.list_notifications(&who.cx, q.cursor.as_deref(), q.limit).await?;
    let unread = s.store.unread_notifications(&who.cx).await?;
    let items = page
        .items
        .into_iter()
        .map(|n| NotificationView {
            id: n.id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            action_url: n.action_url,
            created_at: n.created_at,
            read_at: n.read_at,
        })
        .collect();
    Ok(Json(NotificationList { items, next_cursor: page.next_cursor, unread }))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn read_notification(State(s): State<AppState>, who: TenantUser, idem: Idem, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = Answer::new(StatusCode::NO_CONTENT, |_: &()| ());
    s.store.mark_notification_read(&who.cx.completing(answer.completion(&idem)), &id).await?;
    Ok(answer.respond(&()))
}

/// Marks all of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn read_all_notifications(State(s): State<AppState>, who: TenantUser, idem: Idem) -> ApiResult<Response> {
    let answer = Answer::new(StatusCode::NO_CONTENT, |_: &u64| ());
    let n = s.store.mark_all_notifications_read(&who.cx.completing(answer.completion(&idem))).await?;
    Ok(answer.respond(&n))
}
