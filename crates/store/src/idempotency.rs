//! Idempotency keys: a POST repeated with the same key and body gets the first response, and does
//! nothing again. Keys are scoped to the principal (a user of a tenant, or an operator) and kept at
//! least 24 hours.
//!
//! A request first *claims* its key (a row with status 0), then runs. A use case that changes
//! something stores the response in its own transaction ([`Completion`]), so after any crash a retry
//! either replays the original answer or runs the work for the first time, never twice. A request
//! that changed nothing (a refusal) is completed afterwards. A concurrent repeat sees the claim and
//! is told to retry. A claim names the instance (the serve process) that made it: once that instance
//! has not said it is alive for [`INSTANCE_GONE_AFTER`] ([`Store::heartbeat`]), a retry takes the key
//! over; a claim of an instance that never said so is taken over after a minute.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::db::{Tx, args};
use crate::{Result, Store, StoreError, Ts};

/// How long a completed key is kept.
pub const KEEP_FOR: time::Duration = time::Duration::hours(24);
/// After this, an unfinished claim is considered abandoned whoever made it.
const ABANDONED_AFTER: time::Duration = time::Duration::seconds(60);
/// How often a serve process says it is alive.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// An instance not heard of for this long is gone: its unfinished claims are abandoned. Five
/// heartbeats, so a busy node is never taken for dead.
pub const INSTANCE_GONE_AFTER: time::Duration = time::Duration::seconds(10);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    /// Headers a replay must carry too (`ETag`, `Location`), as (name, value).
    pub headers: Vec<(String, String)>,
}

fn headers_json(h: &[(String, String)]) -> String {
    serde_json::to_string(h).unwrap_or_else(|_| "[]".to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: run the request, then complete or release the key.
    New,
    /// Seen before with the same request: return this.
    Replay(StoredResponse),
    /// The same key is being used right now by another request.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

type Render = dyn Fn(&dyn Any) -> Option<StoredResponse> + Send + Sync;

/// How a claimed key's response is made from a use case's outcome, so that the use case stores it in
/// its own transaction. The renderer is the same one the handler answers with.
#[derive(Clone)]
pub struct Completion {
    scope: String,
    key: String,
    render: Arc<Render>,
    done: Arc<AtomicBool>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion").field("scope", &self.scope).field("done", &self.completed()).finish_non_exhaustive()
    }
}

impl Completion {
    /// A completion of key `key` of `scope` for a use case whose outcome is a `T`; `done` is set once
    /// the response is committed.
    pub fn new<T: 'static>(
        scope: String,
        key: String,
        done: Arc<AtomicBool>,
        render: impl Fn(&T) -> StoredResponse + Send + Sync + 'static,
    ) -> Self {
        let render = move |out: &dyn Any| out.downcast_ref::<T>().map(&render);
        Completion { scope, key, render: Arc::new(render), done }
    }

    /// Whether the use case committed the response with its work.
    pub fn completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Completion {
    /// The response for `out`, if `out` is the outcome this completion renders.
    fn render(&self, out: &dyn Any) -> Option<StoredResponse> {
        (self.render)(out)
    }
}

/// Stores `resp` for the claimed key inside the work's transaction `tx`.
async fn store_in_tx(tx: &mut Tx, c: &Completion, resp: StoredResponse, now: Ts) -> Result<bool> {
    let n = tx
        .execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4, expires_at = $5, response_headers = $6 \
             WHERE tenant_id = $1 AND idem_key = $2 AND response_status = 0",
            args![
                c.scope.as_str(),
                c.key.as_str(),
                i64::from(resp.status),
                resp.body.as_str(),
                Ts::from(now.0 + KEEP_FOR),
                headers_json(&resp.headers)
            ],
        )
        .await?;
    Ok(n == 1)
}

impl Store {
    /// Commits a use case's transaction, with the idempotent response of `out` when the caller
    /// claimed a key: the work and its answer are durable together or not at all.
    pub(crate) async fn commit<T: Any + Sync>(&self, mut tx: Tx, ctx: &crate::Ctx, out: &T) -> Result<()> {
        // Rendered before any await: the outcome is not carried across one as `dyn Any`.
        let pending = ctx.completion.as_ref().and_then(|c| c.render(out).map(|r| (c, r)));
        let completed = match pending {
            Some((c, resp)) => {
                // The key already has an answer: its claim was taken over (its instance looked
                // gone) and the other request finished first. This work is then a second effect
                // of one request: it is dropped with the transaction, and a retry replays the answer.
                if !store_in_tx(&mut tx, c, resp, self.now()).await? {
                    return Err(StoreError::conflict(
                        "idempotency_key_in_use",
                        "another request with this Idempotency-Key finished first; retry to get its answer",
                    ));
                }
                true
            }
            None => false,
        };
        tx.commit().await?;
        if let (true, Some(c)) = (completed, &ctx.completion) {
            c.done.store(true, Ordering::Release);
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    response_status: i32,
    response_body: String,
    response_headers: String,
    created_at: Ts,
    /// When the claiming instance last said it was alive, if it ever did.
    owner_seen_at: Option<Ts>,
}

/// A fresh name for a process among the nodes on one database.
pub(crate) fn new_instance_id() -> Arc<str> {
    Arc::from(uuid::Uuid::new_v4().simple().to_string())
}

/// An unfinished claim is abandoned when the instance that made it is gone, or after a minute.
fn abandoned(r: &KeyRow, now: Ts) -> bool {
    let owner_gone = r.owner_seen_at.is_some_and(|seen| seen.0 + INSTANCE_GONE_AFTER < now.0);
    owner_gone || r.created_at.0 + ABANDONED_AFTER <= now.0
}

impl Store {
    /// Says this instance is alive (serve calls it every [`HEARTBEAT_EVERY`]), and forgets
    /// instances not heard of for a day.
    pub async fn heartbeat(&self) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "INSERT INTO instances (id, started_at, seen_at) VALUES ($1, $2, $2) ON CONFLICT (id) DO UPDATE SET seen_at = $2",
            args![&*self.instance, now],
        )
        .await?;
        tx.execute("DELETE FROM instances WHERE seen_at < $1", args![Ts::from(now.0 - time::Duration::days(1))]).await?;
        tx.commit().await
    }

    /// This store as another instance on the same database (tests of several nodes).
    #[cfg(any(test, feature = "testing"))]
    pub fn as_another_instance(&self) -> Store {
        Store { instance: new_instance_id(), ..self.clone() }
    }

    pub async fn claim_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        method: &str,
        path: &str,
    ) -> Result<IdempotencyClaim> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        tx.execute("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND expires_at < $2", args![scope, now]).await?;
        // Insert first: of two racing first uses, exactly one inserts; the other then reads its row.
        let inserted = tx
            .execute(
                "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, method, path, response_status, response_body, \
                 created_at, expires_at, claimed_by) VALUES ($1, $2, $3, $4, $5, 0, '', $6, $7, $8) \
                 ON CONFLICT (tenant_id, idem_key) DO NOTHING",
                args![scope, key, request_hash, method, path, now, Ts::from(now.0 + KEEP_FOR), &*self.instance],
            )
            .await?;
        let claim = if inserted == 1 {
            IdempotencyClaim::New
        } else {
            let row: Option<KeyRow> = tx
                .fetch_optional(
                    "SELECT k.request_hash, k.response_status, k.response_body, k.response_headers, k.created_at, \
                       i.seen_at AS owner_seen_at \
                     FROM idempotency_keys k LEFT JOIN instances i ON i.id = k.claimed_by \
                     WHERE k.tenant_id = $1 AND k.idem_key = $2",
                    args![scope, key],
                )
                .await?;
            match row {
                None => IdempotencyClaim::InProgress,
                Some(r) if r.request_hash != request_hash => IdempotencyClaim::Mismatch,
                Some(r) if r.response_status > 0 => IdempotencyClaim::Replay(StoredResponse {
                    status: u16::try_from(r.response_status).unwrap_or(500),
                    body: r.response_body,
                    headers: serde_json::from_str(&r.response_headers).unwrap_or_default(),
                }),
                Some(r) if !abandoned(&r, now) => IdempotencyClaim::InProgress,
                Some(r) => {
                    // Take over an abandoned claim; compare-and-set so only one retry does.
                    let taken = tx
                        .execute(
                            "UPDATE idempotency_keys SET created_at = $3, claimed_by = $5 \
                             WHERE tenant_id = $1 AND idem_key = $2 AND response_status = 0 AND created_at = $4",
                            args![scope, key, now, r.created_at, &*self.instance],
                        )
                        .await?;
                    if taken == 1 { IdempotencyClaim::New } else { IdempotencyClaim::InProgress }
                }
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Stores the response of a claimed key, unless it has one already (the first answer stands).
    pub async fn complete_idempotency_key(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4, expires_at = $5, response_headers = $6 \
             WHERE tenant_id = $1 AND idem_key = $2 AND response_status = 0",
            args![
                scope,
                key,
                i64::from(response.status),
                response.body.as_str(),
                Ts::from(now.0 + KEEP_FOR),
                headers_json(&response.headers)
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets this instance's unfinished claim (the request failed on our side), so a retry runs
    /// again; a claim another instance has taken over is not this one's to forget.
    pub async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND response_status = 0 AND claimed_by = $3",
            args![scope, key, &*self.instance],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
