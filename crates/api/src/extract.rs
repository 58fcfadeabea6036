//! JSON bodies whose every failure is a problem.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use pb_app::MAX_BODY_BYTES;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON body. Malformed JSON, wrong types and unknown fields are 400 `invalid_request`; a body
/// over the limit is 413. Field-level validation happens after, on the parsed value (422).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::InvalidRequest(format!("cannot read the request body: {e}"))
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::InvalidRequest("the request needs a JSON body".into()));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ApiError::InvalidRequest(format!("the body is not valid JSON for this request: {inner}"))
            } else {
                ApiError::InvalidRequest(format!("{path}: {inner}"))
            }
        })?;
        de.end().map_err(|e| ApiError::InvalidRequest(format!("trailing data after the JSON body: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// Query parameters. Unknown parameters, wrong types and a `limit` outside 1..=200 are 400
/// `invalid_request`, naming the parameter.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| QueryParams(q))
            .map_err(|e| ApiError::InvalidRequest(format!("bad query parameters: {}", e.body_text())))
    }
}

/// `limit` of a list: absent, or 1..=200.
pub fn page_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = <Option<u32> as serde::Deserialize>::deserialize(d)?;
    match v {
        Some(n) if !(1..=pb_store::MAX_PAGE_LIMIT).contains(&n) => {
            Err(serde::de::Error::custom(format!("limit must be between 1 and {}", pb_store::MAX_PAGE_LIMIT)))
        }
        v => Ok(v),
    }
}

/// A JSON integer as JSON Schema reads one: `208` and `208.0` alike (a number with no fraction),
/// so a body valid by the document is never refused for how its numbers are written.
fn integral<E: serde::de::Error>(v: &serde_json::Number) -> Result<i64, E> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        // The bounds are exact in f64: -2^63 and 2^63.
        Some(f) if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) => Ok(f as i64),
        _ => Err(E::custom(format!("expected an integer, got {v}"))),
    }
}

/// [`integral`] for a required field.
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    integral(&<serde_json::Number as serde::Deserialize>::deserialize(d)?)
}

/// [`integral`] for an optional field (absent or null is `None`).
pub fn optional_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? {
        Some(n) => integral(&n).map(Some),
        None => Ok(None),
    }
}

/// The longest `cursor` a list accepts; the ones it gives are ids, far shorter.
pub const MAX_CURSOR_CHARS: usize = 200;

/// `cursor` of a list: up to 200 visible ASCII characters after trimming (the ones a list gives are
/// its items' ids). Anything else could never have come from us, and some of it (a NUL) the
/// database would refuse: 400 rather than a 500.
pub fn cursor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match <Option<String> as serde::Deserialize>::deserialize(d)? {
        Some(c) => {
            let c = c.trim();
            if c.len() > MAX_CURSOR_CHARS || !c.chars().all(|ch| ch.is_ascii_graphic()) {
                return Err(serde::de::Error::custom("cursor is not one a list gave"));
            }
            Ok(Some(c.to_owned()))
        }
        None => Ok(None),
    }
}
