//! The partner-billing JSON API: handlers (one module per resource), problem+json errors, and the
//! OpenAPI document generated from the code. It stands on the shared floor (`pb-app`) beside the
//! pages; every rule it shows is decided by the domain or the store, and only mapped here.

use axum::Router;
use pb_app::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

#[cfg(feature = "bench-baseline")]
pub mod bench;
mod commerce_views;
mod etag;
pub mod extract;
mod idempotency;
mod openapi;
pub mod problem;
mod routes;
pub mod views;

pub use pb_app::Problem;
pub use problem::ApiError;

use openapi::BearerAuth;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "partner-billing",
        description = "Billing accounts, billing profiles and the billing link of a partner program account.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing them; the test clock's paths only when the
/// service runs with `--test-clock`.
pub fn api_routes(test_clock: bool) -> (Router<AppState>, serde_json::Value) {
    let r = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let r = routes::ops::routes(r);
    let r = routes::operator::routes(r);
    let r = routes::me::routes(r);
    let r = routes::audit::routes(r);
    let r = routes::billing::routes(r);
    let r = routes::roles::routes(r);
    let r = routes::link::routes(r);
    let r = routes::notifications::routes(r);
    let r = routes::outbox::routes(r);
    let r = routes::commerce::routes(r);
    let r = routes::invoices::routes(r);
    let r = if test_clock { routes::invoices::test_clock_routes(r) } else { r };
    let (router, mut openapi) = r.split_for_parts();
    // After the routes are in: the document's modifiers ran before there were any paths.
    openapi::idempotency_header(&mut openapi);
    openapi::problem_responses(&mut openapi);
    (router, openapi::constrain_fields(&openapi))
}

/// The API's face: its routes behind the idempotency layer, the OpenAPI document and Swagger UI.
/// The binary merges it with the pages' router and puts both behind the shared layers.
pub fn router(state: &AppState) -> Router<AppState> {
    let (api, openapi) = api_routes(state.test_clock.is_some());
    api.layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", openapi))
}
