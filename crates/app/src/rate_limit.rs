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
}
