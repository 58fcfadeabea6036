//! What a database URL names, how it is shown in logs, and the options a pool is opened with.

use crate::error::StoreError;

/// Which backend a URL names. Anything but SQLite or PostgreSQL is refused, so a typo never creates
/// a database somewhere unexpected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::UnsupportedUrl(format!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            ))),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The URL with any password replaced, fit for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://{userinfo}@{host}"),
    }
}

/// Options for opening a pool.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// PostgreSQL only: put every object in this schema (used by tests to isolate themselves).
    pub pg_schema: Option<String>,
    pub max_connections: Option<u32>,
    /// Open an existing database for reading only (the source of `db copy`): a SQLite file that is
    /// not there is refused instead of created, and PostgreSQL sessions refuse to write.
    pub read_only: bool,
}
