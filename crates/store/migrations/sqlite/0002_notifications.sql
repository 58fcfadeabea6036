-- In-product notifications and the durable email outbox (rules T2, T4), written in the same
-- transaction as the change they announce (rule N8). Keep in step with ../postgres/0002_notifications.sql.

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    action_url  TEXT,
    created_at  TEXT NOT NULL,
    read_at     TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, id);

CREATE TABLE email_outbox (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    to_address       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    sent_at          TEXT,
    last_error       TEXT
);
CREATE INDEX email_outbox_due ON email_outbox (sent_at, next_attempt_at);
