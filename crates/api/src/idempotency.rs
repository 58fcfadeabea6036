//! `Idempotency-Key` on every POST: a repeat with the same key and body returns the first response
//! without doing anything again; the same key with another body is 422 `idempotency_key_reused`.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pb_store::{IdempotencyClaim, StoredResponse};
use sha2::{Digest, Sha256};

use pb_app::{AppState, MAX_BODY_BYTES, PROBLEM_JSON, Principal};

use crate::problem::ApiError;

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(key) = req.headers().get("idempotency-key").cloned() else { return next.run(req).await };
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()) => k.to_owned(),
        _ => return ApiError::InvalidRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()).into_response(),
    };
    let (mut parts, body) = req.into_parts();
    // Keys are scoped to the caller's tenant (or the operator), so the caller is resolved first.
    let scope = match Principal::from_request_parts(&mut parts, &state).await {
        Ok(Principal::User(u)) => u.tenant.id.to_string(),
        Ok(Principal::Operator(o)) => format!("operator:{}", o.ctx.actor.id()),
        Err(e) => return ApiError::from(e).into_response(),
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
        Err(e) => return ApiError::from(e).into_response(),
    };
    match claim {
        IdempotencyClaim::Mismatch => ApiError::IdempotencyKeyReused.into_response(),
        IdempotencyClaim::InProgress => ApiError::IdempotencyKeyInUse.into_response(),
        IdempotencyClaim::Replay(stored) => replay(&stored),
        IdempotencyClaim::New => {
            let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let status = resp.status();
            if status.is_server_error() {
                let _ = state.store.release_idempotency_key(&scope, &key).await;
                return resp;
            }
            let (rparts, rbody) = resp.into_parts();
            let body = match axum::body::to_bytes(rbody, usize::MAX).await {
                Ok(b) => b,
                Err(_) => {
                    let _ = state.store.release_idempotency_key(&scope, &key).await;
                    return ApiError::Internal("cannot read response body".into()).into_response();
                }
            };
            let stored = StoredResponse { status: status.as_u16(), body: String::from_utf8_lossy(&body).into_owned() };
            if let Err(e) = state.store.complete_idempotency_key(&scope, &key, &stored).await {
                tracing::error!(error = %e, "cannot store idempotent response");
            }
            Response::from_parts(rparts, Body::from(body))
        }
    }
}

fn replay(stored: &StoredResponse) -> Response {
    let status = axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    let mut resp = (status, stored.body.clone()).into_response();
    let ctype = if status.as_u16() >= 400 { PROBLEM_JSON } else { "application/json" };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
