//! Idempotency keys: a POST repeated with the same key and body gets the first response, and does
//! nothing again. Keys are scoped to the tenant (or operator) and kept at least 24 hours.
//!
//! A request first *claims* its key (a row with status 0), runs, then *completes* it with the
//! response. A concurrent repeat sees the claim and is told to retry; a claim abandoned by a crash
//! is taken over after a minute.

use crate::db::args;
use crate::{Result, Store, Ts};

/// How long a completed key is kept.
pub const KEEP_FOR: time::Duration = time::Duration::hours(24);
/// After this, an unfinished claim is considered abandoned.
const ABANDONED_AFTER: time::Duration = time::Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
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

#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    response_status: i32,
    response_body: String,
    created_at: Ts,
}

impl Store {
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
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 0, '', $6, $7) ON CONFLICT (tenant_id, idem_key) DO NOTHING",
                args![scope, key, request_hash, method, path, now, Ts::from(now.0 + KEEP_FOR)],
            )
            .await?;
        let claim = if inserted == 1 {
            IdempotencyClaim::New
        } else {
            let row: Option<KeyRow> = tx
                .fetch_optional(
                    "SELECT request_hash, response_status, response_body, created_at FROM idempotency_keys \
                     WHERE tenant_id = $1 AND idem_key = $2",
                    args![scope, key],
                )
                .await?;
            match row {
                None => IdempotencyClaim::InProgress,
                Some(r) if r.request_hash != request_hash => IdempotencyClaim::Mismatch,
                Some(r) if r.response_status > 0 => IdempotencyClaim::Replay(StoredResponse {
                    status: u16::try_from(r.response_status).unwrap_or(500),
                    body: r.response_body,
                }),
                Some(r) if r.created_at.0 + ABANDONED_AFTER > now.0 => IdempotencyClaim::InProgress,
                Some(r) => {
                    // Take over an abandoned claim; compare-and-set so only one retry does.
                    let taken = tx
                        .execute(
                            "UPDATE idempotency_keys SET created_at = $3 \
                             WHERE tenant_id = $1 AND idem_key = $2 AND response_status = 0 AND created_at = $4",
                            args![scope, key, now, r.created_at],
                        )
                        .await?;
                    if taken == 1 { IdempotencyClaim::New } else { IdempotencyClaim::InProgress }
                }
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Stores the response of a claimed key.
    pub async fn complete_idempotency_key(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4, expires_at = $5 WHERE tenant_id = $1 AND idem_key = $2",
            args![scope, key, i64::from(response.status), response.body.as_str(), Ts::from(now.0 + KEEP_FOR)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets an unfinished claim (the request failed on our side), so a retry runs again.
    pub async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        tx.execute("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND response_status = 0", args![scope, key])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
