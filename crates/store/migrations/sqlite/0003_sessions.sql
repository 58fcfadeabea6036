-- Web sessions (rule-free plumbing for the pages). Only a hash of the cookie value is stored.
-- Keep in step with ../postgres/0003_sessions.sql.
CREATE TABLE web_sessions (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
