//! Bulk data for the invoice run's crash test and benchmark: many profiles and charges written
//! straight into the tables (the use cases would take hours for a million purchases), and the
//! invariants of a month's invoices checked in SQL.

use pb_domain::{BillingAccountId, BillingProfileId, Currency, InvoiceSectionId, Money, OfferId, OfferKind, Period, PurchaseId, TenantId};

use crate::db::{Arg, args};
use crate::{Ctx, Result, Store, StoreError, Ts};

fn name(s: &str) -> Result<pb_domain::DisplayName> {
    pb_domain::DisplayName::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What [`seed_invoice_load`] made.
#[derive(Debug, Clone)]
pub struct InvoiceLoad {
    pub tenant: TenantId,
    pub period: Period,
    pub profiles: usize,
    pub charges: usize,
}

/// Seeds one tenant with an account, `profiles` profiles (a default section each) and `charges`
/// purchases spread evenly over `period` and over the profiles.
pub async fn seed_invoice_load(store: &Store, profiles: usize, charges: usize, period: Period) -> Result<InvoiceLoad> {
    let op = Ctx::operator("load", None);
    let tenant = store.create_tenant(&op, &name("Load")?, &format!("load-{}.example", uuid::Uuid::new_v4().simple())).await?;
    let offer = OfferId::parse("load-offer").map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let put = crate::PutOffer {
        name: name("Load offer")?,
        kind: OfferKind::Designation,
        term_months: 12,
        one_per_partner: false,
        active: true,
        prices: vec![Money::new(1_999, Currency::USD)],
    };
    store.put_offer(&op, &offer, &put).await?;
    let now = store.now();
    let account = BillingAccountId::new();
    let partner = pb_domain::PartnerAccountId::new();
    let mut tx = store.db.begin_write().await?;
    tx.execute(
        "INSERT INTO partner_accounts (id, tenant_id, partner_id, name, state, legal_profile, link_version, created_at, updated_at) \
         VALUES ($1, $2, '1', 'Load', 'active', $3, 0, $4, $4)",
        args![partner, tenant.id, r#"{"company_name":"Load Ltd","sold_to":{"address_line1":"1 Main St","country":"US"}}"#, now],
    )
    .await?;
    tx.execute(
        "INSERT INTO billing_accounts (id, tenant_id, display_name, company_name, sold_to, primary_contact, created_by, created_at, updated_at) \
         VALUES ($1, $2, 'Load', 'Load Ltd', $3, NULL, 'load', $4, $4)",
        args![account, tenant.id, r#"{"address_line1":"1 Main St","country":"US"}"#, now],
    )
    .await?;
    // An owner of the account, so that every invoice also sends its ready notice (rule T3).
    let owner = pb_domain::UserId::new();
    tx.execute(
        "INSERT INTO users (id, tenant_id, email, display_name, source, created_at) VALUES ($1, $2, 'owner@load.example', 'Owner', 'provisioned', $3)",
        args![owner, tenant.id, now],
    )
    .await?;
    tx.execute(
        "INSERT INTO role_assignments (id, tenant_id, user_id, role, scope_kind, scope_id, created_by, created_at) \
         VALUES ($1, $2, $3, 'owner', 'billing_account', $4, 'load', $5)",
        args![pb_domain::RoleAssignmentId::new(), tenant.id, owner, account, now],
    )
    .await?;
    let ids: Vec<(BillingProfileId, InvoiceSectionId)> =
        (0..profiles).map(|_| (BillingProfileId::new(), InvoiceSectionId::new())).collect();
    for chunk in ids.chunks(1000) {
        let (mut p_rows, mut s_rows, mut p_args, mut s_args) = (Vec::new(), Vec::new(), Vec::<Arg>::new(), Vec::<Arg>::new());
        for (i, (p, s)) in chunk.iter().enumerate() {
            p_rows.push(format!("(${}, $1, $2, 'Profile', 'USD', 'load', $3, $3)", i + 4));
            s_rows.push(format!("(${}, $1, ${}, 'Default', TRUE, $2, $2)", 2 * i + 3, 2 * i + 4));
            p_args.push(Arg::from(p));
            s_args.push(Arg::from(s));
            s_args.push(Arg::from(p));
        }
        let mut a = args![tenant.id, account, now];
        a.extend(p_args);
        let sql = format!(
            "INSERT INTO billing_profiles (id, tenant_id, billing_account_id, display_name, currency, created_by, created_at, updated_at) VALUES {}",
            p_rows.join(", ")
        );
        tx.execute(sqlx::AssertSqlSafe(sql), a).await?;
        let mut a = args![tenant.id, now];
        a.extend(s_args);
        let sql = format!(
            "INSERT INTO invoice_sections (id, tenant_id, billing_profile_id, display_name, is_default, created_at, updated_at) VALUES {}",
            s_rows.join(", ")
        );
        tx.execute(sqlx::AssertSqlSafe(sql), a).await?;
    }
    let span = (period.end() - period.start() - time::Duration::seconds(1)).whole_seconds();
    let count = i64::try_from(charges.max(1)).unwrap_or(i64::MAX);
    let mut n = 0usize;
    while n < charges {
        let rows = (charges - n).min(1000);
        let mut sql = Vec::with_capacity(rows);
        let mut a = args![tenant.id, partner, offer.as_str(), account];
        for i in n..n + rows {
            let (p, s) = ids[i % ids.len().max(1)];
            let at = period.start() + time::Duration::seconds(span * i64::try_from(i).unwrap_or(0) / count);
            let base = a.len();
            sql.push(format!(
                "(${}, $1, $2, $3, 'Load offer', 1, 1999, 1999, 'USD', NULL, $4, ${}, ${}, NULL, ${}, 'load', ${})",
                base + 1,
                base + 2,
                base + 3,
                base + 4,
                base + 5
            ));
            a.extend(args![PurchaseId::new(), p, s, Ts::from(at), Ts::from(at + time::Duration::days(365))]);
        }
        let stmt = format!(
            "INSERT INTO purchases (id, tenant_id, partner_account_id, offer_id, description, quantity, unit_price_minor, amount_minor, \
             currency, billing_link_id, billing_account_id, billing_profile_id, invoice_section_id, payment_instrument_id, purchased_at, \
             purchased_by, term_ends_at) VALUES {}",
            sql.join(", ")
        );
        tx.execute(sqlx::AssertSqlSafe(stmt), a).await?;
        n += rows;
    }
    tx.commit().await?;
    // Statistics, as a database in service has them: the planner's choices depend on them. Only the
    // tables loaded here: a bare ANALYZE would lock every table of every test schema at once.
    let mut tx = store.db.begin_write().await?;
    for table in ["billing_accounts", "billing_profiles", "invoice_sections", "purchases", "role_assignments", "users", "partner_accounts"]
    {
        tx.execute(sqlx::AssertSqlSafe(format!("ANALYZE {table}")), args![]).await?;
    }
    tx.commit().await?;
    Ok(InvoiceLoad { tenant: tenant.id, period, profiles, charges })
}

/// What a month's invoices hold, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceCheck {
    pub charges: i64,
    pub invoices: i64,
    pub lines: i64,
    pub uninvoiced: i64,
}

/// How many invoices of `period` are committed: a cheap probe, for catching a run while it runs.
pub async fn invoices_so_far(store: &Store, period: Period) -> Result<i64> {
    let mut tx = store.db.begin().await?;
    let n: i64 = tx.scalar("SELECT COUNT(*) FROM invoices WHERE period = $1", args![period.to_string()]).await?;
    tx.commit().await?;
    Ok(n)
}

/// Checks the invariants of `period`'s invoices, complete or not (an invoice's total is the sum of
/// its lines by construction): every line is billed to the invoice of its charge's profile, no
/// charge is on two lines (the key), numbers of each year run 1..=N with the counter at N. Returns
/// the counts so the caller can require completeness.
pub async fn check_invoices(store: &Store, period: Period) -> Result<InvoiceCheck, String> {
    let e = |e: StoreError| e.to_string();
    let (start, end) = (Ts::from(period.start()), Ts::from(period.end()));
    let mut tx = store.db.begin().await.map_err(e)?;
    let p = period.to_string();
    let charges: i64 = tx
        .scalar(
            "SELECT COUNT(*) FROM purchases WHERE purchased_at >= $1 AND purchased_at < $2 AND billing_profile_id IS NOT NULL",
            args![start, end],
        )
        .await
        .map_err(e)?;
    let invoices: i64 = tx.scalar("SELECT COUNT(*) FROM invoices WHERE period = $1", args![p.as_str()]).await.map_err(e)?;
    let lines: i64 = tx
        .scalar("SELECT COUNT(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.period = $1", args![p.as_str()])
        .await
        .map_err(e)?;
    let misplaced: i64 = tx
        .scalar(
            "SELECT COUNT(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id JOIN purchases c ON c.id = l.purchase_id \
             WHERE i.period = $1 AND (c.billing_profile_id <> i.billing_profile_id OR c.purchased_at < $2 OR c.purchased_at >= $3 \
             OR c.amount_minor <> l.amount_minor)",
            args![p.as_str(), start, end],
        )
        .await
        .map_err(e)?;
    let uninvoiced: i64 = tx
        .scalar(
            "SELECT COUNT(*) FROM purchases c WHERE c.purchased_at >= $1 AND c.purchased_at < $2 AND c.billing_profile_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM invoice_lines l WHERE l.purchase_id = c.id)",
            args![start, end],
        )
        .await
        .map_err(e)?;
    #[derive(sqlx::FromRow)]
    struct Year {
        number_year: i64,
        lo: i64,
        hi: i64,
        n: i64,
        last_seq: Option<i64>,
    }
    let years: Vec<Year> = tx
        .fetch_all(
            "SELECT i.number_year, MIN(i.number_seq) AS lo, MAX(i.number_seq) AS hi, COUNT(*) AS n, \
             (SELECT s.last_seq FROM invoice_sequences s WHERE s.year = i.number_year) AS last_seq \
             FROM invoices i GROUP BY i.number_year",
            args![],
        )
        .await
        .map_err(e)?;
    tx.commit().await.map_err(e)?;
    if misplaced > 0 {
        return Err(format!("{misplaced} lines on the wrong invoice"));
    }
    for y in years {
        if y.lo != 1 || y.hi != y.n || y.last_seq != Some(y.n) {
            return Err(format!("numbers of {} are not 1..={} (min {}, max {}, counter {:?})", y.number_year, y.n, y.lo, y.hi, y.last_seq));
        }
    }
    Ok(InvoiceCheck { charges, invoices, lines, uninvoiced })
}

/// The benchmark's baseline: the same lines made by one `INSERT … SELECT` straight on the database,
/// into a table of the lines' shape (same key, secondary index and reference), in the order of that
/// index, its best case. Returns how long the statement took.
pub async fn baseline_lines(store: &Store, period: Period) -> Result<std::time::Duration> {
    let (start, end) = (Ts::from(period.start()), Ts::from(period.end()));
    let mut tx = store.db.begin_write().await?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS bench_invoice_lines (purchase_id TEXT PRIMARY KEY REFERENCES purchases(id), \
         invoice_id TEXT NOT NULL, invoice_section_id TEXT NOT NULL, section_name TEXT NOT NULL, \
         description TEXT NOT NULL, quantity BIGINT NOT NULL, unit_price_minor BIGINT NOT NULL, amount_minor BIGINT NOT NULL)",
        args![],
    )
    .await?;
    // The same secondary index as the real lines: reading an invoice needs it, so making lines pays for it.
    tx.execute(
        "CREATE INDEX IF NOT EXISTS bench_invoice_lines_invoice ON bench_invoice_lines (invoice_id, invoice_section_id, purchase_id)",
        args![],
    )
    .await?;
    tx.commit().await?;
    let started = std::time::Instant::now();
    let mut tx = store.db.begin_write().await?;
    tx.execute(
        "INSERT INTO bench_invoice_lines (purchase_id, invoice_id, invoice_section_id, section_name, description, quantity, \
         unit_price_minor, amount_minor) SELECT c.id, c.billing_profile_id, c.invoice_section_id, s.display_name, c.description, \
         c.quantity, c.unit_price_minor, c.amount_minor FROM purchases c JOIN invoice_sections s ON s.id = c.invoice_section_id \
         WHERE c.purchased_at >= $1 AND c.purchased_at < $2 AND c.billing_profile_id IS NOT NULL \
         ORDER BY c.billing_profile_id, c.invoice_section_id, c.id",
        args![start, end],
    )
    .await?;
    tx.commit().await?;
    Ok(started.elapsed())
}
