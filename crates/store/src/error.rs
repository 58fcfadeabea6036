use pb_domain::billing::AgreementRefusal;
use pb_domain::{BillingProfileId, PartnerAccountState};

/// Everything a store operation can refuse or fail with. The HTTP edge maps each variant once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    UnsupportedUrl(String),
    /// The thing does not exist for this tenant (another tenant's id is also "not found").
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or state conflict; `code` is stable and goes to the client.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Rule P2: the partner account is not active.
    #[error("the partner account is {}; only an active partner account can do this", .0.describe())]
    PartnerAccountNotActive(PartnerAccountState),
    /// Rules A1/P1: linking needs the tenant's global admin.
    #[error("linking or changing the billing link needs the tenant's Global administrator role")]
    GlobalAdminRequired,
    /// The caller lacks the billing role the action needs (rule A2).
    #[error("{0}")]
    Forbidden(String),
    /// Rule C3: reuse the profile that has no payment instrument instead of creating another.
    #[error("billing profile {reuse} of this billing account has no payment instrument yet; reuse it instead of creating another")]
    UnfundedProfileExists { reuse: BillingProfileId },
    /// Rule C6: the `If-Match` version is not the current one.
    #[error("the billing link changed since you read it (expected version {expected}, current {current}); reload and retry")]
    PreconditionFailed { expected: i64, current: i64 },
    /// A link exists, so a change must say which version it replaces.
    #[error("a billing link already exists: send If-Match with the ETag of GET /partner-account")]
    PreconditionRequired,
    /// Rules M1/M2.
    #[error("{0}")]
    Agreement(#[from] AgreementRefusal),
    /// A field refers to something that does not fit (e.g. a profile of another account).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, code: &'static str, message: String },
    /// The request is well-formed but cannot be carried out as asked; `code` is stable (422).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// Input the use case parsed itself (after checking the caller may act) was invalid.
    #[error("invalid fields: {0}")]
    Fields(pb_domain::FieldErrors),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached or cannot take writes just now (it is down, restarting, or a
    /// replica is being promoted): nothing was decided, and the same request may succeed shortly.
    #[error("the database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses: a bug or a hand edit, never the client's fault.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict { code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Unprocessable { code, message: message.into() }
    }

    /// A refusal of one field, named with its path (422 `validation_failed`).
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        let mut e = pb_domain::FieldErrors::new();
        e.push(field, code, message.into());
        StoreError::Fields(e)
    }

    /// Whether the failure is the database's absence rather than anything about the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if unavailable(&e) { StoreError::Unavailable(e) } else { StoreError::Database(e) }
    }
}

/// SQLSTATEs that say the server cannot serve now, not that the statement is wrong: class 08
/// (connection exceptions), 57P01–57P03 (shutting down, crashed, starting up or still in
/// recovery), 53300 (too many connections) and 25006 (a write reached a read-only server, e.g. a
/// replica not yet promoted). SQLite's BUSY/LOCKED (5/6) after the busy timeout is the same kind
/// of answer: another process holds the file.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300" | "25006" | "5" | "6" | "261" | "517")
        }),
        _ => false,
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
