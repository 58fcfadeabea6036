//! The partner-billing HTTP API: JSON handlers (one module per resource), problem+json errors,
//! request ids, metrics, rate and size limits, and the OpenAPI document generated from the code.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pb_auth::DevIssuer;
use pb_store::Store;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub mod auth;
pub mod extract;
mod idempotency;
mod middleware;
pub mod problem;
mod routes;
pub mod views;

pub use auth::{Authenticator, Operator, Principal, TenantUser};
pub use middleware::RateLimiter;
pub use problem::{ApiError, Problem};

/// Settings of the API that come from the command line or environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `PB_DETAILS_URL_TEMPLATE`: where "View details" of a billing profile points; `{id}` is replaced.
    pub details_url_template: Option<String>,
    /// `PB_PUBLIC_URL`: the externally visible base URL.
    pub public_url: Option<String>,
    /// Requests per minute per client before 429.
    pub rate_limit_per_minute: u32,
    /// Demo mode: the sign-in page lists the users and signs in with one click.
    pub dev_sign_in: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { details_url_template: None, public_url: None, rate_limit_per_minute: 1200, dev_sign_in: false }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub auth: Authenticator,
    /// Present when the local dev issuer is in use: its JWKS is published.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    pub config: Arc<ApiConfig>,
    pub metrics: PrometheusHandle,
    pub rate_limiter: RateLimiter,
}

/// The process-wide Prometheus recorder, installed once however many apps a process builds.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is already installed; then metrics go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

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

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Documents `Idempotency-Key` on every POST, where the idempotency layer honours it.
struct IdempotencyHeader;

impl utoipa::Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        for item in openapi.paths.paths.values_mut() {
            if let Some(op) = item.post.as_mut() {
                let p = ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .description(Some("Repeat a POST safely: the same key and body return the first response; keys last 24 hours."))
                    .schema(Some(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)))
                    .build();
                op.parameters.get_or_insert_with(Vec::new).push(utoipa::openapi::RefOr::T(p));
            }
        }
    }
}

/// The API routes and the OpenAPI document describing them.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let r = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let r = routes::ops::routes(r);
    let r = routes::operator::routes(r);
    let r = routes::me::routes(r);
    let r = routes::audit::routes(r);
    let r = routes::billing::routes(r);
    let r = routes::link::routes(r);
    let r = routes::notifications::routes(r);
    let (router, mut openapi) = r.split_for_parts();
    // After the routes are in: the document's modifiers ran before there were any paths.
    utoipa::Modify::modify(&IdempotencyHeader, &mut openapi);
    (router, openapi)
}

/// The whole HTTP application with its layers. `extra` is merged in (the web pages).
pub fn app(state: AppState, extra: Router<AppState>) -> Router {
    let (api, openapi) = api_router();
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(extra)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(routes::ops::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::rate_limit))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(middleware::panic_to_problem))
        .layer(axum::middleware::from_fn(middleware::problemize))
        .layer(axum::middleware::from_fn(middleware::track_metrics))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
                })
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Millis)),
        )
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}
