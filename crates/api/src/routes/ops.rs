//! Operational endpoints: health, readiness, metrics, the dev issuer's JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use pb_app::AppState;

use crate::problem::ApiError;

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics)).routes(routes!(jwks))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    status: &'static str,
    database: &'static str,
    backend: &'static str,
    migration_version: Option<i64>,
    expected_migration_version: i64,
}

/// Readiness: the database answers and its migrations are current.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let r = state.store.readiness().await;
    let body = Ready {
        status: if r.ready() { "ready" } else { "not_ready" },
        database: if r.database_reachable { "reachable" } else { "unreachable" },
        backend: state.store.backend().as_str(),
        migration_version: r.applied_version,
        expected_migration_version: r.expected_version,
    };
    let status = if r.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// Prometheus metrics: request counts and latencies by route and status.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// The dev issuer's public keys (only while the dev issuer is in use).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations", responses((status = 200), (status = 404, body = crate::Problem)))]
pub async fn jwks(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    match &state.dev_issuer {
        Some(dev) => Ok(Json(dev.jwks())),
        None => Err(ApiError::NotFound("JWKS (an external issuer is configured)".into())),
    }
}
