//! The layers both faces stand behind: request ids, tracing, metrics, problem+json for framework
//! errors, panics, timeouts, the body size limit and the rate limit.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::AppState;
use crate::client::client_ip;
use crate::problem::{PROBLEM_JSON, Problem};
use crate::rate_limit::{limit_key, too_many_requests};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP application: the faces' routes (already merged) behind the shared layers.
pub fn compose(state: AppState, faces: Router<AppState>) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    faces
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(panic_to_problem))
        .layer(axum::middleware::from_fn(problemize))
        .layer(axum::middleware::from_fn(track_metrics))
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
        .layer(axum::middleware::from_fn(drop_unusable_request_id))
        .with_state(state)
}

/// A client's `X-Request-Id` is echoed, logged and stored in the audit trail, so only a short,
/// token-like one is kept (1–64 of `A-Z a-z 0-9 . _ : -`); any other is dropped and one is made.
pub fn usable_request_id(v: &str) -> bool {
    (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

async fn drop_unusable_request_id(mut req: Request, next: Next) -> Response {
    let bad = req.headers().get_all("x-request-id").iter().any(|v| !v.to_str().is_ok_and(usable_request_id))
        || req.headers().get_all("x-request-id").iter().count() > 1;
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "resource not found")
}

/// Counts requests and their latency by route template and status (never by raw path, which would
/// put ids into label values).
async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    resp
}

/// Turns any error response that is neither a problem nor a page (a framework 404/405/413/408) into
/// a problem, so clients never see an undocumented error body.
async fn problemize(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if status.as_u16() < 400 {
        return resp;
    }
    let ctype = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ctype.starts_with(PROBLEM_JSON) || ctype.starts_with("text/html") {
        return resp;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this resource does not accept that method".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", format!("the request body is larger than {MAX_BODY_BYTES} bytes")),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid_request", "the request body must be JSON".to_owned()),
        s if s.is_server_error() => ("internal_error", "something went wrong on our side".to_owned()),
        _ => ("invalid_request", "the request could not be handled".to_owned()),
    };
    let mut p = Problem::new(status, code, detail).into_response();
    for h in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = resp.headers().get(&h) {
            p.headers_mut().insert(h, v.clone());
        }
    }
    p
}

fn panic_to_problem(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "something went wrong on our side; quote the request id when reporting it",
    )
    .into_response()
}

async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" || path == "/metrics" {
        return next.run(req).await;
    }
    // By client address where it is known (this server or a trusted proxy is the edge), so that
    // inventing a new bearer string per request does not escape the limit; else by the
    // Authorization header. Each principal also has a budget of its own (see the extractors).
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let key = match (client_ip(peer, req.headers(), &state.config.trusted_proxies), req.headers().get(header::AUTHORIZATION)) {
        (Some(ip), _) => limit_key("ip", ip.to_string().as_bytes()),
        (None, Some(v)) => limit_key("authorization", v.as_bytes()),
        (None, None) => limit_key("anonymous", b""),
    };
    if let Err(retry_after) = state.rate_limiter.charge(key, state.config.rate_limit_per_minute) {
        return too_many_requests(retry_after);
    }
    next.run(req).await
}
