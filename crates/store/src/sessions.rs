//! Web sessions: the cookie holds a random token; the table holds its SHA-256, the user and the
//! CSRF token of the session.

use pb_domain::{TenantId, UserId};

use crate::db::args;
use crate::error::corrupt;
use crate::{Result, Store, Ts};

/// How a session was signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// The one-click sign-in page of `serve --demo`.
    Demo,
    /// The configured OpenID Connect provider.
    Oidc,
}

impl SignInMethod {
    fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Demo => "demo",
            SignInMethod::Oidc => "oidc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub csrf_token: String,
    pub expires_at: time::OffsetDateTime,
    pub method: SignInMethod,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    tenant_id: String,
    user_id: String,
    csrf_token: String,
    expires_at: Ts,
    method: String,
}

/// A session to start.
pub struct NewWebSession<'a> {
    pub token_hash: &'a str,
    pub tenant: TenantId,
    pub user: UserId,
    pub csrf: &'a str,
    pub ttl: time::Duration,
    pub method: SignInMethod,
    /// The session the browser held before signing in, ended here: each sign-in gets a new id.
    pub replaces: Option<&'a str>,
}

impl Store {
    pub async fn create_web_session(&self, s: &NewWebSession<'_>) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        tx.execute("DELETE FROM web_sessions WHERE expires_at < $1", args![now]).await?;
        if let Some(old) = s.replaces {
            tx.execute("DELETE FROM web_sessions WHERE token_hash = $1", args![old]).await?;
        }
        tx.execute(
            "INSERT INTO web_sessions (token_hash, tenant_id, user_id, csrf_token, created_at, expires_at, method) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![s.token_hash, s.tenant, s.user, s.csrf, now, Ts::from(now.0 + s.ttl), s.method.as_str()],
        )
        .await?;
        tx.commit().await
    }

    /// The live session with this token hash, if any.
    pub async fn web_session(&self, token_hash: &str) -> Result<Option<WebSession>> {
        let now = self.now();
        // Every page request asks: one statement, no transaction around it.
        let rows: Vec<SessionRow> = self
            .db
            .read_all(
                "SELECT tenant_id, user_id, csrf_token, expires_at, method FROM web_sessions WHERE token_hash = $1 AND expires_at > $2",
                args![token_hash, now],
            )
            .await?;
        rows.into_iter()
            .next()
            .map(|r| {
                Ok(WebSession {
                    tenant_id: TenantId::parse(&r.tenant_id).map_err(|e| corrupt("tenant id", e))?,
                    user_id: UserId::parse(&r.user_id).map_err(|e| corrupt("user id", e))?,
                    csrf_token: r.csrf_token,
                    expires_at: r.expires_at.0,
                    method: if r.method == "oidc" { SignInMethod::Oidc } else { SignInMethod::Demo },
                })
            })
            .transpose()
    }

    pub async fn delete_web_session(&self, token_hash: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        tx.execute("DELETE FROM web_sessions WHERE token_hash = $1", args![token_hash]).await?;
        tx.commit().await
    }
}
