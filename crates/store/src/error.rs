use pb_domain::PartnerAccountState;

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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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

    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
