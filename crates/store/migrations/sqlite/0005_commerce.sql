-- Commerce: offers, purchases billed through the link, monthly invoices (rules B1-B5, M4, H3, C4).
-- Keep in step with ../postgres/0005_commerce.sql: same tables, columns and constraints.

CREATE TABLE offers (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('action_pack', 'designation', 'benefits_package')),
    term_months      BIGINT NOT NULL CHECK (term_months BETWEEN 1 AND 120),
    one_per_partner  BOOLEAN NOT NULL,
    active           BOOLEAN NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- One price per currency the offer is sold in.
CREATE TABLE offer_prices (
    offer_id      TEXT NOT NULL REFERENCES offers(id),
    currency      TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (offer_id, currency)
);

-- A purchase is stamped with the link in force when it was made (rules B2, C4) and never changes.
-- Purchases before the cutover without a link were billed by the legacy platform: no profile.
CREATE TABLE purchases (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL REFERENCES tenants(id),
    partner_account_id     TEXT NOT NULL REFERENCES partner_accounts(id),
    offer_id               TEXT NOT NULL REFERENCES offers(id),
    description            TEXT NOT NULL,
    quantity               BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_minor       BIGINT NOT NULL CHECK (unit_price_minor >= 0),
    amount_minor           BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency               TEXT NOT NULL,
    billing_link_id        TEXT REFERENCES billing_links(id),
    billing_account_id     TEXT REFERENCES billing_accounts(id),
    billing_profile_id     TEXT REFERENCES billing_profiles(id),
    invoice_section_id     TEXT REFERENCES invoice_sections(id),
    payment_instrument_id  TEXT REFERENCES payment_instruments(id),
    purchased_at           TEXT NOT NULL,
    purchased_by           TEXT NOT NULL,
    term_ends_at           TEXT NOT NULL,
    CHECK ((billing_profile_id IS NULL) = (invoice_section_id IS NULL)),
    CHECK ((billing_profile_id IS NULL) = (billing_account_id IS NULL))
);
CREATE INDEX purchases_period ON purchases (purchased_at, billing_profile_id);
CREATE INDEX purchases_profile ON purchases (billing_profile_id, purchased_at);
CREATE INDEX purchases_tenant ON purchases (tenant_id, id);
CREATE INDEX purchases_owned ON purchases (partner_account_id, offer_id, term_ends_at);
CREATE INDEX purchases_section ON purchases (invoice_section_id);

-- One invoice per billing profile and month (rule B4); numbered PB-YYYY-NNNNNN from one contiguous
-- sequence per year of issue. Issued invoices never change. Its total and line count are not stored:
-- they are the sums of its lines (rule B5), so they can never disagree with them.
CREATE TABLE invoices (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    billing_account_id  TEXT NOT NULL REFERENCES billing_accounts(id),
    billing_profile_id  TEXT NOT NULL REFERENCES billing_profiles(id),
    period              TEXT NOT NULL,
    number_year         BIGINT NOT NULL,
    number_seq          BIGINT NOT NULL,
    issued_at           TEXT NOT NULL,
    currency            TEXT NOT NULL,
    bill_to             TEXT NOT NULL,
    sold_to_company     TEXT NOT NULL,
    UNIQUE (billing_profile_id, period),
    UNIQUE (number_year, number_seq)
);
CREATE INDEX invoices_profile ON invoices (billing_profile_id, id);
CREATE INDEX invoices_period ON invoices (period);

-- Each charge on exactly one line of exactly one invoice: the purchase is the key. The invoice and the
-- section need no reference check per line (a million lines would pay for a million): lines are
-- written only in the transaction that writes their invoice, invoices are never deleted, and a
-- section holding charges is never deleted (rule H3, and the purchases' own reference).
CREATE TABLE invoice_lines (
    purchase_id         TEXT PRIMARY KEY REFERENCES purchases(id),
    invoice_id          TEXT NOT NULL,
    invoice_section_id  TEXT NOT NULL,
    section_name        TEXT NOT NULL,
    description         TEXT NOT NULL,
    quantity            BIGINT NOT NULL,
    unit_price_minor    BIGINT NOT NULL,
    amount_minor        BIGINT NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id, invoice_section_id, purchase_id);

CREATE TABLE invoice_sequences (
    year      BIGINT PRIMARY KEY,
    last_seq  BIGINT NOT NULL
);

CREATE TABLE invoice_runs (
    id                       TEXT PRIMARY KEY,
    period                   TEXT NOT NULL,
    started_by               TEXT NOT NULL,
    started_at               TEXT NOT NULL,
    finished_at              TEXT,
    profiles                 BIGINT,
    invoices_created         BIGINT,
    invoices_already_issued  BIGINT,
    charges                  BIGINT
);
CREATE INDEX invoice_runs_period ON invoice_runs (period, started_at);

CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'issued invoices never change'); END;
CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'issued invoices never change'); END;
CREATE TRIGGER invoice_lines_no_update BEFORE UPDATE ON invoice_lines
BEGIN SELECT RAISE(ABORT, 'issued invoices never change'); END;
CREATE TRIGGER invoice_lines_no_delete BEFORE DELETE ON invoice_lines
BEGIN SELECT RAISE(ABORT, 'issued invoices never change'); END;
