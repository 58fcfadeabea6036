//! Cross-cutting layers: metrics, problem+json for every error, panics, rate limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyed_hash::hash_key;

use crate::AppState;
use crate::problem::{ApiError, PROBLEM_JSON, Problem};

/// Counts requests and their latency by route template and status (never by raw path, which would
/// put ids into label values).
pub async fn track_metrics(req: Request, next: Next) -> Response {
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

/// Turns any error response that is not already a problem (a framework 404/405/413/408) into one,
/// so clients only ever see problem+json errors from the API.
pub async fn problemize(req: Request, next: Next) -> Response {
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
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this resource does not accept that method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is larger than 1048576 bytes"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid_request", "the request body must be JSON"),
        s if s.is_server_error() => ("internal_error", "something went wrong on our side"),
        _ => ("invalid_request", "the request could not be handled"),
    };
    let mut p = Problem::new(status, code, detail).into_response();
    for h in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = resp.headers().get(&h) {
            p.headers_mut().insert(h, v.clone());
        }
    }
    p
}

pub fn panic_to_problem(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    ApiError::Internal("handler panicked".into()).to_problem().into_response()
}

/// A fixed-window limiter per client (per bearer token, else per peer address).
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    windows: Arc<Mutex<HashMap<u64, (u64, u32)>>>,
}

impl RateLimiter {
    /// Counts one request of `key` in the current minute; false when over `per_minute`.
    pub fn allow(&self, key: u64, per_minute: u32, now_minute: u64) -> bool {
        let Ok(mut w) = self.windows.lock() else { return true };
        if w.len() > 100_000 {
            w.retain(|_, (minute, _)| *minute == now_minute);
        }
        let entry = w.entry(key).or_insert((now_minute, 0));
        if entry.0 != now_minute {
            *entry = (now_minute, 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" || path == "/metrics" {
        return next.run(req).await;
    }
    // By peer address where it is known (this server is the edge), so that inventing a new bearer
    // string per request does not escape the limit; else by the Authorization header.
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string());
    let key = match (peer, req.headers().get(header::AUTHORIZATION)) {
        (Some(ip), _) => hash_key(ip.as_bytes()),
        (None, Some(v)) => hash_key(v.as_bytes()),
        (None, None) => hash_key(b""),
    };
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if !state.rate_limiter.allow(key, state.config.rate_limit_per_minute, secs / 60) {
        return ApiError::RateLimited { retry_after_secs: 60 - secs % 60 }.into_response();
    }
    next.run(req).await
}

mod keyed_hash {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;

    /// A keyed hash so that raw tokens are never kept in memory as map keys.
    pub fn hash_key(bytes: &[u8]) -> u64 {
        static STATE: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        let mut h = STATE.get_or_init(Default::default).build_hasher();
        h.write(bytes);
        h.finish()
    }
}
