-- Foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql: same tables, columns
-- and constraints; only the dialect differs. Times are fixed-width RFC 3339 UTC text so that they
-- compare correctly as strings.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    domain      TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    email            TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    directory_roles  TEXT NOT NULL DEFAULT '',
    partner_roles    TEXT NOT NULL DEFAULT '',
    source           TEXT NOT NULL CHECK (source IN ('provisioned', 'token')),
    created_at       TEXT NOT NULL,
    last_seen_at     TEXT
);
CREATE INDEX users_tenant_email ON users (tenant_id, email);

CREATE TABLE partner_accounts (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL UNIQUE REFERENCES tenants(id),
    partner_id             TEXT NOT NULL,
    name                   TEXT NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('active', 'pending_verification', 'rejected', 'suspended', 'closed')),
    legal_profile          TEXT NOT NULL,
    pending_legal_profile  TEXT,
    pending_submitted_by   TEXT,
    pending_submitted_at   TEXT,
    link_version           INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);

CREATE TABLE billing_accounts (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    display_name     TEXT NOT NULL,
    company_name     TEXT NOT NULL,
    sold_to          TEXT NOT NULL,
    primary_contact  TEXT,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX billing_accounts_tenant ON billing_accounts (tenant_id, id);

CREATE TABLE billing_profiles (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    billing_account_id  TEXT NOT NULL REFERENCES billing_accounts(id),
    display_name        TEXT NOT NULL,
    currency            TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX billing_profiles_account ON billing_profiles (billing_account_id, id);

CREATE TABLE invoice_sections (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    billing_profile_id  TEXT NOT NULL REFERENCES billing_profiles(id),
    display_name        TEXT NOT NULL,
    is_default          BOOLEAN NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX invoice_sections_profile ON invoice_sections (billing_profile_id, id);

CREATE TABLE payment_instruments (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    billing_profile_id  TEXT NOT NULL REFERENCES billing_profiles(id),
    kind                TEXT NOT NULL CHECK (kind IN ('card', 'bank_transfer')),
    processor_token     TEXT NOT NULL,
    display_hint        TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX payment_instruments_profile ON payment_instruments (billing_profile_id, id);

-- One row per accepted agreement per billing account: the MCA itself ('mca') and, for Italy, the
-- separate acknowledgement of onerous clauses ('mca_secondary'). Never updated or deleted (rule M3).
CREATE TABLE agreement_acceptances (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    billing_account_id  TEXT NOT NULL REFERENCES billing_accounts(id),
    kind                TEXT NOT NULL CHECK (kind IN ('mca', 'mca_secondary')),
    agreement_version   TEXT NOT NULL,
    accepted_by         TEXT NOT NULL,
    accepted_at         TEXT NOT NULL,
    request_id          TEXT,
    UNIQUE (billing_account_id, kind)
);

CREATE TABLE billing_links (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    partner_account_id  TEXT NOT NULL REFERENCES partner_accounts(id),
    billing_account_id  TEXT NOT NULL REFERENCES billing_accounts(id),
    billing_profile_id  TEXT NOT NULL REFERENCES billing_profiles(id),
    linked_at           TEXT NOT NULL,
    linked_by           TEXT NOT NULL,
    unlinked_at         TEXT,
    unlinked_by         TEXT
);
CREATE UNIQUE INDEX billing_links_one_in_force ON billing_links (partner_account_id) WHERE unlinked_at IS NULL;
CREATE INDEX billing_links_tenant ON billing_links (tenant_id, linked_at);

CREATE TABLE role_assignments (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    scope_kind  TEXT NOT NULL CHECK (scope_kind IN ('billing_account', 'billing_profile', 'invoice_section')),
    scope_id    TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (user_id, role, scope_kind, scope_id)
);
CREATE INDEX role_assignments_scope ON role_assignments (scope_kind, scope_id);

CREATE TABLE audit_records (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT,
    actor_kind    TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    action        TEXT NOT NULL,
    target_kind   TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    before_state  TEXT,
    after_state   TEXT,
    request_id    TEXT,
    at            TEXT NOT NULL
);
CREATE INDEX audit_records_tenant ON audit_records (tenant_id, id);

-- Rule U1: audit records are append-only, enforced by the database itself.
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

-- Rule M3: acceptances are never edited or deleted.
CREATE TRIGGER agreement_acceptances_no_update BEFORE UPDATE ON agreement_acceptances
BEGIN SELECT RAISE(ABORT, 'agreement acceptances are immutable'); END;
CREATE TRIGGER agreement_acceptances_no_delete BEFORE DELETE ON agreement_acceptances
BEGIN SELECT RAISE(ABORT, 'agreement acceptances are immutable'); END;

CREATE TABLE idempotency_keys (
    tenant_id        TEXT NOT NULL,
    idem_key         TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    response_status  INTEGER NOT NULL,
    response_body    TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
