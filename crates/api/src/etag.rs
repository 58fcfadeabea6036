//! The partner account's `ETag` is its link version (rule C6): written by every response that shows
//! it, and read back from `If-Match`. One format, here.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::problem::{ApiError, ApiResult};

/// The `ETag` value of a link version: `"7"`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `body` with the `ETag` of `version`.
pub fn with_etag(body: impl IntoResponse, version: i64) -> Response {
    let mut resp = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Reads `If-Match`: `"7"`, `W/"7"` or `7`. A value that is not a version can never match.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let raw = v.to_str().unwrap_or("").trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    raw.parse::<i64>().map(Some).map_err(|_| ApiError::Precondition(format!("If-Match {raw:?} does not match the current link version")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_c6_etag_round_trips_through_if_match() {
        for sent in [etag(7), format!("W/{}", etag(7)), "7".to_owned()] {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MATCH, HeaderValue::from_str(&sent).unwrap_or(HeaderValue::from_static("")));
            assert_eq!(if_match(&h).ok(), Some(Some(7)), "{sent}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(if_match(&h).is_err());
        assert_eq!(if_match(&HeaderMap::new()).ok(), Some(None));
    }
}
