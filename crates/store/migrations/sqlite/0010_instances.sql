-- Keep in step with ../postgres/0010_instances.sql.
-- Each serve process (an instance) records that it is alive every few seconds; an idempotency claim
-- names the instance that made it, so that a retry after that instance died takes the key over at
-- once instead of waiting out the one-minute fallback (issue 12).
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);
ALTER TABLE idempotency_keys ADD COLUMN claimed_by TEXT;
