-- Keep in step with ../postgres/0007_idempotent_headers.sql.
-- Idempotent replays carry the response headers a client relies on (the partner account's ETag after
-- /billing-link/setup, Location), kept as a JSON array of [name, value] pairs. Keys are now scoped per
-- principal ("<tenant>:<user>" or "operator:<subject>") in the column still named tenant_id.
ALTER TABLE idempotency_keys ADD COLUMN response_headers TEXT NOT NULL DEFAULT '[]';
