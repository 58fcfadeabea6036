//! The email outbox for operators (rule T4): what is waiting, what went, what was given up on, and
//! a way to try a given-up email again.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use pb_domain::OutboxState;
use pb_store::OutboxEntry;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use pb_app::{AppState, Operator};

use crate::Problem;
use crate::extract::QueryParams;
use crate::idempotency::{Answer, Idem};
use crate::problem::ApiResult;
use crate::views::ListView;

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(list_outbox)).routes(routes!(retry_email))
}

/// An email of the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxEmailView {
    pub id: String,
    pub tenant_id: String,
    pub to: String,
    pub subject: String,
    pub state: OutboxState,
    /// Attempts made so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When a pending email is (next) due.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&OutboxEntry> for OutboxEmailView {
    fn from(e: &OutboxEntry) -> Self {
        OutboxEmailView {
            id: e.id.clone(),
            tenant_id: e.tenant_id.to_string(),
            to: e.to.clone(),
            subject: e.subject.clone(),
            state: e.state,
            attempts: e.attempts,
            last_error: e.last_error.clone(),
            next_attempt_at: e.next_attempt_at,
            sent_at: e.sent_at,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    /// Only emails in this state.
    state: Option<OutboxState>,
    #[serde(default, deserialize_with = "crate::extract::cursor")]
    cursor: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::page_limit")]
    limit: Option<u32>,
}

/// The outbox across tenants, oldest first (operators).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "operator", security(("bearer" = [])), params(OutboxParams),
    responses((status = 200, body = ListView<OutboxEmailView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn list_outbox(
    State(s): State<AppState>,
    _op: Operator,
    QueryParams(q): QueryParams<OutboxParams>,
) -> ApiResult<Json<ListView<OutboxEmailView>>> {
    let page = s.store.list_outbox(q.state, q.cursor.as_deref(), q.limit).await?;
    Ok(Json(ListView { items: page.items.iter().map(OutboxEmailView::from).collect(), next_cursor: page.next_cursor }))
}

/// Moves a dead email back to pending, with a fresh set of attempts (operators). A pending one
/// stays as it is; a sent one is refused (`email_already_sent`): it is never sent twice.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = "operator", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OutboxEmailView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_email(State(s): State<AppState>, op: Operator, idem: Idem, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = Answer::new(StatusCode::OK, |e: &OutboxEntry| OutboxEmailView::from(e));
    let e = s.store.retry_outbox(&op.ctx.completing(answer.completion(&idem)), &id).await?;
    Ok(answer.respond(&e))
}
