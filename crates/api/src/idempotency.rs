//! `Idempotency-Key` on every POST: a repeat with the same key and body returns the first response
//! without doing anything again; the same key with another body is 422 `idempotency_key_reused`.

//!
//! The middleware claims the key and hands the handler an [`Idem`] slot. A handler that changes
//! something answers through an [`Answer`], which the store uses to write the response in the same
//! transaction as the work: a crash can never leave work done without its answer, so a retry
//! replays the original response instead of doing the work again. Answers of requests that changed
//! nothing (refusals) are stored afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pb_app::{AppState, MAX_BODY_BYTES, PROBLEM_JSON, Principal};
use pb_store::{Completion, IdempotencyClaim, StoredResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// The claimed key of this request, if it carried one.
#[derive(Clone)]
struct Slot {
    scope: String,
    key: String,
    done: Arc<AtomicBool>,
}

/// The idempotency slot of a request (empty without `Idempotency-Key`).
pub struct Idem(Option<Slot>);

impl<S: Send + Sync> FromRequestParts<S> for Idem {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Idem(parts.extensions.get::<Slot>().cloned()))
    }
}

type Render<T> = dyn Fn(&T) -> serde_json::Value + Send + Sync;
type Headers<T> = dyn Fn(&T) -> Vec<(String, String)> + Send + Sync;

/// How a handler answers with a use case's outcome `T`: one rendering, body and headers, for the
/// response it sends and for the response the store keeps for retries.
pub struct Answer<T> {
    status: StatusCode,
    render: Arc<Render<T>>,
    headers: Arc<Headers<T>>,
}

impl<T: 'static> Answer<T> {
    pub fn new<V: Serialize>(status: StatusCode, view: impl Fn(&T) -> V + Send + Sync + 'static) -> Self {
        let render = move |t: &T| serde_json::to_value(view(t)).unwrap_or(serde_json::Value::Null);
        Answer { status, render: Arc::new(render), headers: Arc::new(|_: &T| Vec::new()) }
    }

    /// The answer with the partner account's `ETag` (rule C6) of the outcome's link version, on the
    /// response and on every replay of it.
    pub fn with_etag(mut self, version: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.headers = Arc::new(move |t: &T| vec![(header::ETAG.as_str().to_owned(), crate::etag::etag(version(t)))]);
        self
    }

    /// The completion to hand to the store, when the request claimed a key.
    pub fn completion(&self, idem: &Idem) -> Option<Completion> {
        let slot = idem.0.as_ref()?;
        let (status, render, headers) = (self.status.as_u16(), self.render.clone(), self.headers.clone());
        Some(Completion::new(slot.scope.clone(), slot.key.clone(), slot.done.clone(), move |t: &T| StoredResponse {
            status,
            body: if status == 204 { String::new() } else { render(t).to_string() },
            headers: headers(t),
        }))
    }

    pub fn respond(&self, out: &T) -> Response {
        let mut resp = if self.status == StatusCode::NO_CONTENT {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (self.status, Json((self.render)(out))).into_response()
        };
        add_headers(&mut resp, &(self.headers)(out));
        resp
    }
}

/// Response headers a replay must repeat.
const REPLAYED_HEADERS: [header::HeaderName; 2] = [header::ETAG, header::LOCATION];

fn add_headers(resp: &mut Response, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            resp.headers_mut().insert(n, v);
        }
    }
}

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = req.headers().get("idempotency-key").cloned() else { return next.run(req).await };
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // Keys are scoped to the caller (a user of a tenant, or an operator): another user repeating a
    // key and body must never be answered with someone else's response. Who is asking comes first,
    // so a request without a valid token is 401 whatever its key.
    let scope = match Principal::from_request_parts(&mut parts, &state).await {
        Ok(Principal::User(u)) => format!("{}:{}", u.tenant.id, u.user.id),
        Ok(Principal::Operator(o)) => format!("operator:{}", o.ctx.actor.id()),
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The syntax the OpenAPI document gives (`openapi::IDEMPOTENCY_KEY_PATTERN`).
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()) => k.to_owned(),
        _ => return ApiError::InvalidRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()).into_response(),
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge(MAX_BODY_BYTES).into_response(),
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(&bytes);
    let hash: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let claim = match state.store.claim_idempotency_key(&scope, &key, &hash, parts.method.as_str(), &path).await {
        Ok(c) => c,
        Err(e) => {
            // The database went away: the claim may have committed without our hearing of it,
            // and nothing ran under it.
            if e.is_unavailable() {
                release(&state, scope, key).await;
            }
            return ApiError::from(e).into_response();
        }
    };
    match claim {
        IdempotencyClaim::Mismatch => ApiError::IdempotencyKeyReused.into_response(),
        IdempotencyClaim::InProgress => {
            // Worth a retry soon: the first request ends, or its server is found gone, within seconds.
            let mut r = ApiError::IdempotencyKeyInUse.into_response();
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
            r
        }
        IdempotencyClaim::Replay(stored) => replay(&stored),
        IdempotencyClaim::New => {
            let done = Arc::new(AtomicBool::new(false));
            parts.extensions.insert(Slot { scope: scope.clone(), key: key.clone(), done: done.clone() });
            let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            if done.load(Ordering::Acquire) {
                // The work's own transaction stored this response.
                return resp;
            }
            let status = resp.status();
            if status.is_server_error() {
                release(&state, scope, key).await;
                return resp;
            }
            let (rparts, rbody) = resp.into_parts();
            let body = match axum::body::to_bytes(rbody, usize::MAX).await {
                Ok(b) => b,
                Err(_) => {
                    release(&state, scope, key).await;
                    return ApiError::Internal("cannot read response body".into()).into_response();
                }
            };
            let headers = REPLAYED_HEADERS
                .iter()
                .filter_map(|n| rparts.headers.get(n).and_then(|v| v.to_str().ok()).map(|v| (n.as_str().to_owned(), v.to_owned())))
                .collect();
            let stored = StoredResponse { status: status.as_u16(), body: String::from_utf8_lossy(&body).into_owned(), headers };
            if let Err(e) = state.store.complete_idempotency_key(&scope, &key, &stored).await {
                tracing::error!(error = %e, "cannot store idempotent response");
            }
            Response::from_parts(rparts, Body::from(body))
        }
    }
}

/// How long a claim's release is retried while the database is unavailable (30 s). A late release
/// removes only this node's unfinished claim of the key: never one another node took over, and if
/// a retry on this node took it over meanwhile, that retry's work is rolled back with a 409 and the
/// next retry runs it: the work is never done twice.
const RELEASE_RETRIES: u32 = 60;
const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Forgets the claim of a request that failed on our side, so that a retry runs the work again.
/// A request that failed because the database was unavailable (a failover) usually cannot release
/// its claim either; then the release is retried in the background, or retries of the key would be
/// turned away as still running for as long as this node lives.
async fn release(state: &AppState, scope: String, key: String) {
    if state.store.release_idempotency_key(&scope, &key).await.is_ok() {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        for _ in 0..RELEASE_RETRIES {
            tokio::time::sleep(RELEASE_EVERY).await;
            match store.release_idempotency_key(&scope, &key).await {
                Ok(()) => return,
                Err(e) if e.is_unavailable() => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot release an idempotency claim");
                    return;
                }
            }
        }
        tracing::warn!("gave up releasing an idempotency claim; it lapses by itself");
    });
}

fn replay(stored: &StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        let mut resp = (status, stored.body.clone()).into_response();
        let ctype = if status.as_u16() >= 400 { PROBLEM_JSON } else { "application/json" };
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        resp
    };
    add_headers(&mut resp, &stored.headers);
    resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
