//! Use-case level storage for partner-billing. A caller asks for one use case ("create a tenant",
//! "verify the legal profile"); each runs in its own transaction, writes its audit record in that
//! same transaction (rule U1), and works the same on SQLite and PostgreSQL.

use std::sync::Arc;

use pb_domain::Clock;

mod audit;
mod billing;
pub mod db;
mod error;
mod idempotency;
mod link;
mod migrate;
mod notify;
mod partners;
mod sessions;
mod tenants;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod ts;

pub use audit::{AuditQuery, AuditRecord};
pub use billing::{
    BillingAccount, BillingAccountPatch, BillingAccountWithProfiles, BillingProfile, InvoiceSection, NewBillingAccount, PaymentInstrument,
};
pub use db::{Backend, ConnectOptions, Db, redact_url};
pub use error::{Result, StoreError};
pub use idempotency::{IdempotencyClaim, StoredResponse};
pub use link::{AccountChoice, AgreementAcceptance, BillingLink, LinkCommand, LinkOutcome, LinkReview, ProfileChoice, SetupCommand};
pub use migrate::{Readiness, migration_names};
pub use notify::{Notification, OutboxEmail};
pub use partners::{PartnerAccount, PutPartnerAccount};
pub use sessions::WebSession;
pub use tenants::{NewUser, SeenUser, Tenant, User};
pub use ts::Ts;

/// Who is acting, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A platform operator (rule A6).
    Operator { subject: String },
    /// A user of a tenant.
    User { user_id: pb_domain::UserId, global_admin: bool },
    /// The service itself (demo seeding, scheduled jobs).
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Operator { .. } => "operator",
            Actor::User { .. } => "user",
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> String {
        match self {
            Actor::Operator { subject } => subject.clone(),
            Actor::User { user_id, .. } => user_id.to_string(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// The context of one write: who does it and under which request id (both go to the audit record).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl Ctx {
    pub fn system() -> Self {
        Ctx { actor: Actor::System, request_id: None }
    }
}

/// A page of a list: `next_cursor` is the value to pass as `cursor` for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The store: a pool and a clock.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`); does not migrate.
    pub async fn connect(url: &str, opts: &ConnectOptions, clock: Arc<dyn Clock>) -> Result<Store> {
        let db = Db::connect(url, opts).await?;
        Ok(Store { db, clock })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The pool, for tests and diagnostics that must reach past the use cases.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn now(&self) -> Ts {
        Ts::from(self.clock.now())
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Clamps a requested page size to 1..=200, default 50 (api.md).
pub fn page_limit(requested: Option<u32>) -> i64 {
    i64::from(requested.unwrap_or(50).clamp(1, 200))
}
