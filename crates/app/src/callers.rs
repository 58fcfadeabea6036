//! The callers of recent tokens. Every API request resolves its token to the stored tenant, user and
//! roles; a client sends the same token with each request, and that lookup was the largest cost a
//! read had over a bare handler (issue 11). An answer is reused for one second, and never after
//! this process committed any write (a role, a user or a tenant may have changed): a change made
//! here counts at once, one made by another node within the second. Directory roles come from the
//! token itself, which names the entry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pb_store::{Tenant, User};

const TTL: Duration = Duration::from_secs(1);
const CAPACITY: usize = 10_000;

struct Entry {
    tenant: Tenant,
    user: User,
    writes: u64,
    at: Instant,
}

#[derive(Default)]
pub(crate) struct Callers {
    map: Mutex<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for Callers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callers").finish_non_exhaustive()
    }
}

impl Callers {
    /// The caller of `token` as resolved when the process had committed `writes` writes, if that is
    /// still the count and the answer is younger than a second.
    pub(crate) fn get(&self, token: &[u8; 32], writes: u64) -> Option<(Tenant, User)> {
        let map = self.map.lock().ok()?;
        let e = map.get(token)?;
        (e.writes == writes && e.at.elapsed() < TTL).then(|| (e.tenant.clone(), e.user.clone()))
    }

    /// Remembers a caller resolved after `writes` writes (the count read before resolving, so that a
    /// write racing the lookup makes the entry stale rather than wrong).
    pub(crate) fn put(&self, token: [u8; 32], writes: u64, tenant: &Tenant, user: &User) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= CAPACITY {
            map.retain(|_, e| e.at.elapsed() < TTL);
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(token, Entry { tenant: tenant.clone(), user: user.clone(), writes, at: Instant::now() });
    }
}
