//! The W2 baseline of the benchmarks (issue 11, `bench/run.py`): the same queries and the same bytes
//! as `GET /api/v1/partner-account`, from a bare handler with no token check, no middleware, no
//! logging, so that the ratio of the two is this service's own overhead. Compiled only with the
//! `bench-baseline` feature, which no release build has.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pb_app::AppState;
use pb_domain::TenantId;

use crate::etag::with_etag;
use crate::views::PartnerAccountView;

/// `GET /bench/bare/partner-account/{tenant}`, to merge after the shared layers.
pub fn bare(state: AppState) -> Router {
    Router::new().route("/bench/bare/partner-account/{tenant}", get(bare_partner_account)).with_state(state)
}

async fn bare_partner_account(State(s): State<AppState>, Path(tenant): Path<String>) -> Response {
    let Ok(tenant) = TenantId::parse(&tenant) else { return StatusCode::NOT_FOUND.into_response() };
    match s.store.partner_overview(tenant).await {
        Ok(o) => with_etag(axum::Json(PartnerAccountView::new(&o)), o.partner.link_version),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
