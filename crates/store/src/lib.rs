//! Use-case level storage for partner-billing. A caller asks for one use case ("create a tenant",
//! "verify the legal profile"); each runs in its own transaction, writes its audit record in that
//! same transaction (rule U1), and works the same on SQLite and PostgreSQL.

use std::sync::Arc;

use pb_domain::Clock;

mod access;
mod audit;
mod billing;
mod callers;
mod commerce;
pub mod copy;
mod ctx;
pub mod db;
mod error;
mod idempotency;
mod link;
mod migrate;
mod model;
mod notify;
mod outbox;
mod partners;
mod read;
mod reminders;
mod role_assignments;
mod sessions;
mod tenants;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod ts;
mod users;

pub use access::Flow;
pub use audit::{AuditQuery, AuditRecord};
pub use billing::{BillingAccountPatch, NewBillingAccount};
pub use commerce::{
    Invoice, InvoiceLine, InvoiceRunSummary, InvoiceSectionLines, InvoiceSummary, NewPurchase, Offer, PaymentChoice, Purchase, PutOffer,
    RunProgress,
};
pub use ctx::{Actor, Ctx, UserCtx};
pub use db::{Backend, ConnectOptions, Db, Pool, redact_url};
pub use error::{Result, StoreError};
pub use idempotency::{Completion, HEARTBEAT_EVERY, INSTANCE_GONE_AFTER, IdempotencyClaim, StoredResponse};
pub use link::{AccountChoice, LinkCommand, LinkOutcome, LinkReview, ProfileChoice, SetupCommand};
pub use migrate::{Readiness, migration_names};
pub use model::{
    AgreementAcceptance, BillingAccount, BillingAccountWithProfiles, BillingLink, BillingProfile, InvoiceSection, PartnerAccount,
    PaymentInstrument, PendingLegalProfile, User,
};
pub use notify::{Notification, OutboxEmail};
pub use outbox::{FailureOutcome, OutboxEntry, OutboxMessage};
pub use partners::{PartnerOverview, PutPartnerAccount};
pub use role_assignments::{BillingScope, RoleAssignment};
pub use sessions::{NewWebSession, SignInMethod, WebSession};
pub use tenants::Tenant;
pub use ts::Ts;
pub use users::{NewUser, SeenUser};

/// A page of a list: `next_cursor` is the value to pass as `cursor` for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched items: the extra one only says that there is a next page,
    /// whose cursor is the key of the last item kept.
    pub(crate) fn of(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(key)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// From this date on, membership purchases need a billing link (rule B1).
pub const DEFAULT_PURCHASE_CUTOVER: time::Date = time::macros::date!(2024 - 02 - 01);

/// The store: a pool, a clock, and the settings its rules read.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    clock: Arc<dyn Clock>,
    purchase_cutover: time::Date,
    /// This process's name among the nodes on the database: idempotency claims carry it, and
    /// [`Store::heartbeat`] says it is alive.
    instance: Arc<str>,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`); does not migrate.
    pub async fn connect(url: &str, opts: &ConnectOptions, clock: Arc<dyn Clock>) -> Result<Store> {
        let db = Db::connect(url, opts).await?;
        Ok(Store { db, clock, purchase_cutover: DEFAULT_PURCHASE_CUTOVER, instance: idempotency::new_instance_id() })
    }

    /// The store reading time from `clock` (a test clock, `serve --test-clock`).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Store {
        Store { clock, ..self }
    }

    /// The store with another purchase cutover date (`--purchase-cutover`, rule B1).
    pub fn with_purchase_cutover(self, cutover: time::Date) -> Store {
        Store { purchase_cutover: cutover, ..self }
    }

    pub fn purchase_cutover(&self) -> time::Date {
        self.purchase_cutover
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

/// The largest page a list answers (api.md).
pub const MAX_PAGE_LIMIT: u32 = 200;

/// A requested page size within 1..=[`MAX_PAGE_LIMIT`], default 50 (api.md). The API refuses sizes
/// outside it; callers inside the service are clamped.
pub fn page_limit(requested: Option<u32>) -> i64 {
    i64::from(requested.unwrap_or(50).clamp(1, MAX_PAGE_LIMIT))
}
