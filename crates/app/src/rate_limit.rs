//! The per-client request budget behind `429 rate_limited`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A fixed-window limiter per client.
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

    /// Counts one request of `key` now; `Err(seconds until the next window)` when over `per_minute`.
    pub fn charge(&self, key: u64, per_minute: u32) -> Result<(), u64> {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if self.allow(key, per_minute, secs / 60) { Ok(()) } else { Err(60 - secs % 60) }
    }
}

/// A keyed hash, so that raw tokens and addresses are never kept in memory as map keys; `kind`
/// keeps the budgets of addresses and principals apart.
pub fn limit_key(kind: &str, bytes: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    static STATE: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut h = STATE.get_or_init(Default::default).build_hasher();
    h.write(kind.as_bytes());
    h.write_u8(0);
    h.write(bytes);
    h.finish()
}

/// The 429 every limit answers with.
pub fn too_many_requests(retry_after: u64) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = crate::problem::Problem::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; slow down and retry later",
    )
    .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    resp
}
