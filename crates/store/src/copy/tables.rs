//! The one list of what `db copy` copies: every table of the store's schema, parents before the
//! tables that refer to them, each with its primary key and its columns' kinds. The kinds are what
//! the two schemas cannot say alone (a SQLite `TEXT` column holds either text or a time); everything
//! else here is checked against the database's own catalogue ([`super::catalogue`]) before each
//! copy and by the tests, so a migration that adds a table or a column fails them until it is listed.

use crate::db::ArgKind;

const TEXT: ArgKind = ArgKind::Text;
const INT: ArgKind = ArgKind::Int;
const BOOL: ArgKind = ArgKind::Bool;
const TIME: ArgKind = ArgKind::Time;

/// A table of the store's schema as the copy sees it.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The primary key's columns, in key order: the copy pages through the table by it.
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, ArgKind)],
}

impl Table {
    /// Where each key column sits in [`Table::columns`].
    pub(crate) fn key_positions(&self) -> Vec<usize> {
        self.key.iter().filter_map(|k| self.columns.iter().position(|(c, _)| c == k)).collect()
    }
}

/// Every table, in foreign-key order: a table comes after every table it refers to.
pub const TABLES: &[Table] = &[
    Table { name: "tenants", key: &["id"], columns: &[("id", TEXT), ("name", TEXT), ("domain", TEXT), ("created_at", TIME)] },
    Table {
        name: "users",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("email", TEXT),
            ("display_name", TEXT),
            ("source", TEXT),
            ("created_at", TIME),
            ("last_seen_at", TIME),
        ],
    },
    Table { name: "user_directory_roles", key: &["user_id", "role"], columns: &[("user_id", TEXT), ("tenant_id", TEXT), ("role", TEXT)] },
    Table { name: "user_partner_roles", key: &["user_id", "role"], columns: &[("user_id", TEXT), ("tenant_id", TEXT), ("role", TEXT)] },
    Table {
        name: "partner_accounts",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("partner_id", TEXT),
            ("name", TEXT),
            ("state", TEXT),
            ("legal_profile", TEXT),
            ("pending_legal_profile", TEXT),
            ("pending_submitted_by", TEXT),
            ("pending_submitted_at", TIME),
            ("link_version", INT),
            ("created_at", TIME),
            ("updated_at", TIME),
            ("link_prompted_at", TIME),
        ],
    },
    Table {
        name: "billing_accounts",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("display_name", TEXT),
            ("company_name", TEXT),
            ("sold_to", TEXT),
            ("primary_contact", TEXT),
            ("created_by", TEXT),
            ("created_at", TIME),
            ("updated_at", TIME),
        ],
    },
    Table {
        name: "billing_profiles",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("billing_account_id", TEXT),
            ("display_name", TEXT),
            ("currency", TEXT),
            ("created_by", TEXT),
            ("created_at", TIME),
            ("updated_at", TIME),
        ],
    },
    Table {
        name: "invoice_sections",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("billing_profile_id", TEXT),
            ("display_name", TEXT),
            ("is_default", BOOL),
            ("created_at", TIME),
            ("updated_at", TIME),
        ],
    },
    Table {
        name: "payment_instruments",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("billing_profile_id", TEXT),
            ("kind", TEXT),
            ("processor_token", TEXT),
            ("display_hint", TEXT),
            ("created_by", TEXT),
            ("created_at", TIME),
        ],
    },
    Table {
        name: "agreement_acceptances",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("billing_account_id", TEXT),
            ("kind", TEXT),
            ("agreement_version", TEXT),
            ("accepted_by", TEXT),
            ("accepted_at", TIME),
            ("request_id", TEXT),
        ],
    },
    Table {
        name: "billing_links",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("partner_account_id", TEXT),
            ("billing_account_id", TEXT),
            ("billing_profile_id", TEXT),
            ("linked_at", TIME),
            ("linked_by", TEXT),
            ("unlinked_at", TIME),
            ("unlinked_by", TEXT),
        ],
    },
    Table {
        name: "role_assignments",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("user_id", TEXT),
            ("role", TEXT),
            ("scope_kind", TEXT),
            ("scope_id", TEXT),
            ("created_by", TEXT),
            ("created_at", TIME),
        ],
    },
    Table {
        name: "audit_records",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("actor_kind", TEXT),
            ("actor_id", TEXT),
            ("action", TEXT),
            ("target_kind", TEXT),
            ("target_id", TEXT),
            ("before_state", TEXT),
            ("after_state", TEXT),
            ("request_id", TEXT),
            ("at", TIME),
            ("acted_as", TEXT),
        ],
    },
    Table { name: "instances", key: &["id"], columns: &[("id", TEXT), ("started_at", TIME), ("seen_at", TIME)] },
    Table {
        name: "idempotency_keys",
        key: &["tenant_id", "idem_key"],
        columns: &[
            ("tenant_id", TEXT),
            ("idem_key", TEXT),
            ("request_hash", TEXT),
            ("method", TEXT),
            ("path", TEXT),
            ("response_status", INT),
            ("response_body", TEXT),
            ("created_at", TIME),
            ("expires_at", TIME),
            ("response_headers", TEXT),
            ("claimed_by", TEXT),
        ],
    },
    Table {
        name: "notifications",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("user_id", TEXT),
            ("kind", TEXT),
            ("title", TEXT),
            ("body", TEXT),
            ("action_url", TEXT),
            ("created_at", TIME),
            ("read_at", TIME),
        ],
    },
    Table {
        name: "email_outbox",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("to_address", TEXT),
            ("subject", TEXT),
            ("body", TEXT),
            ("created_at", TIME),
            ("attempts", INT),
            ("next_attempt_at", TIME),
            ("sent_at", TIME),
            ("last_error", TEXT),
            ("state", TEXT),
            ("action_url", TEXT),
            ("locked_by", TEXT),
            ("locked_until", TIME),
        ],
    },
    Table {
        name: "web_sessions",
        key: &["token_hash"],
        columns: &[
            ("token_hash", TEXT),
            ("tenant_id", TEXT),
            ("user_id", TEXT),
            ("csrf_token", TEXT),
            ("created_at", TIME),
            ("expires_at", TIME),
            ("method", TEXT),
        ],
    },
    Table {
        name: "offers",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("name", TEXT),
            ("kind", TEXT),
            ("term_months", INT),
            ("one_per_partner", BOOL),
            ("active", BOOL),
            ("created_at", TIME),
            ("updated_at", TIME),
        ],
    },
    Table {
        name: "offer_prices",
        key: &["offer_id", "currency"],
        columns: &[("offer_id", TEXT), ("currency", TEXT), ("amount_minor", INT)],
    },
    Table {
        name: "purchases",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("partner_account_id", TEXT),
            ("offer_id", TEXT),
            ("description", TEXT),
            ("quantity", INT),
            ("unit_price_minor", INT),
            ("amount_minor", INT),
            ("currency", TEXT),
            ("billing_link_id", TEXT),
            ("billing_account_id", TEXT),
            ("billing_profile_id", TEXT),
            ("invoice_section_id", TEXT),
            ("payment_instrument_id", TEXT),
            ("purchased_at", TIME),
            ("purchased_by", TEXT),
            ("term_ends_at", TIME),
        ],
    },
    Table {
        name: "invoices",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("tenant_id", TEXT),
            ("billing_account_id", TEXT),
            ("billing_profile_id", TEXT),
            ("period", TEXT),
            ("number_year", INT),
            ("number_seq", INT),
            ("issued_at", TIME),
            ("currency", TEXT),
            ("bill_to", TEXT),
            ("sold_to_company", TEXT),
        ],
    },
    Table {
        name: "invoice_lines",
        key: &["purchase_id"],
        columns: &[
            ("purchase_id", TEXT),
            ("invoice_id", TEXT),
            ("invoice_section_id", TEXT),
            ("section_name", TEXT),
            ("description", TEXT),
            ("quantity", INT),
            ("unit_price_minor", INT),
            ("amount_minor", INT),
        ],
    },
    // Invoice numbering (rule B4) is this table, not a database sequence: copying its rows carries
    // on each year's numbering where the source left it.
    Table { name: "invoice_sequences", key: &["year"], columns: &[("year", INT), ("last_seq", INT)] },
    Table {
        name: "invoice_runs",
        key: &["id"],
        columns: &[
            ("id", TEXT),
            ("period", TEXT),
            ("started_by", TEXT),
            ("started_at", TIME),
            ("finished_at", TIME),
            ("profiles", INT),
            ("invoices_created", INT),
            ("invoices_already_issued", INT),
            ("charges", INT),
        ],
    },
];
