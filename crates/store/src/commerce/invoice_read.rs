//! Reading invoices: a profile's list and one invoice with its lines grouped by section (rules B4,
//! B5), for whoever may read the profile (rule A2).

use pb_domain::billing::BillingAction;
use pb_domain::commerce::{due_date, invoice_number};
use pb_domain::{Address, BillingAccountId, BillingProfileId, Currency, InvoiceId, InvoiceSectionId, Money, Period, PurchaseId};

use crate::access::require_on_profile;
use crate::db::args;
use crate::error::corrupt;
use crate::read::profile_in_tx;
use crate::{Page, Result, Store, StoreError, Ts, UserCtx};

/// An invoice as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSummary {
    pub id: InvoiceId,
    /// `PB-YYYY-NNNNNN`.
    pub number: String,
    pub billing_account_id: BillingAccountId,
    pub billing_profile_id: BillingProfileId,
    pub period: Period,
    pub issued_at: time::OffsetDateTime,
    pub issue_date: time::Date,
    pub due_date: time::Date,
    pub bill_to: Address,
    pub sold_to_company: String,
    pub total: Money,
    pub line_count: i64,
}

/// An issued invoice with its lines grouped by invoice section; totals are sums of their lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub summary: InvoiceSummary,
    pub sections: Vec<InvoiceSectionLines>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSectionLines {
    pub invoice_section_id: InvoiceSectionId,
    /// The section's name when the invoice was issued.
    pub name: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub purchase_id: PurchaseId,
    pub description: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub amount: Money,
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: String,
    billing_account_id: String,
    billing_profile_id: String,
    period: String,
    number_year: i64,
    number_seq: i64,
    issued_at: Ts,
    currency: String,
    bill_to: String,
    sold_to_company: String,
    total_minor: i64,
    line_count: i64,
}

/// The total and the line count are the sums of the invoice's lines (rule B5), never stored apart.
const INVOICE_SELECT: &str = "SELECT i.id, i.billing_account_id, i.billing_profile_id, i.period, i.number_year, i.number_seq, \
     i.issued_at, i.currency, i.bill_to, i.sold_to_company, \
     CAST(COALESCE((SELECT SUM(l.amount_minor) FROM invoice_lines l WHERE l.invoice_id = i.id), 0) AS BIGINT) AS total_minor, \
     (SELECT COUNT(*) FROM invoice_lines l WHERE l.invoice_id = i.id) AS line_count FROM invoices i";

impl TryFrom<InvoiceRow> for InvoiceSummary {
    type Error = StoreError;
    fn try_from(r: InvoiceRow) -> Result<Self> {
        let currency = Currency::parse(&r.currency).map_err(|e| corrupt("invoice currency", e))?;
        let issue_date = r.issued_at.0.date();
        Ok(InvoiceSummary {
            id: InvoiceId::parse(&r.id).map_err(|e| corrupt("invoice id", e))?,
            number: invoice_number(i32::try_from(r.number_year).map_err(|e| corrupt("invoice year", e))?, r.number_seq),
            billing_account_id: BillingAccountId::parse(&r.billing_account_id).map_err(|e| corrupt("billing account id", e))?,
            billing_profile_id: BillingProfileId::parse(&r.billing_profile_id).map_err(|e| corrupt("billing profile id", e))?,
            period: Period::parse(&r.period).map_err(|e| corrupt("invoice period", e))?,
            issued_at: r.issued_at.0,
            issue_date,
            due_date: due_date(issue_date),
            bill_to: serde_json::from_str(&r.bill_to).map_err(|e| corrupt("bill_to", e))?,
            sold_to_company: r.sold_to_company,
            total: Money::new(r.total_minor, currency),
            line_count: r.line_count,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LineRow {
    purchase_id: String,
    invoice_section_id: String,
    section_name: String,
    description: String,
    quantity: i64,
    unit_price_minor: i64,
    amount_minor: i64,
}

impl Store {
    /// A profile's invoices, newest first.
    pub async fn list_invoices(
        &self,
        cx: &UserCtx,
        profile: BillingProfileId,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<InvoiceSummary>> {
        let limit = crate::page_limit(limit);
        let mut tx = self.db.begin().await?;
        let p = profile_in_tx(&mut tx, cx.tenant(), profile).await?;
        require_on_profile(&mut tx, cx, &p, BillingAction::Read).await?;
        let sql = format!("{INVOICE_SELECT} WHERE i.billing_profile_id = $1 AND i.id < $2 ORDER BY i.id DESC LIMIT $3");
        let rows: Vec<InvoiceRow> = tx.fetch_all(sqlx::AssertSqlSafe(sql), args![profile, cursor.unwrap_or("in_~"), limit + 1]).await?;
        tx.commit().await?;
        let items = rows.into_iter().map(InvoiceSummary::try_from).collect::<Result<Vec<_>>>()?;
        Ok(Page::of(items, limit, |i: &InvoiceSummary| i.id.to_string()))
    }

    /// One invoice with its lines by section (sections by name, lines in purchase order).
    pub async fn get_invoice(&self, cx: &UserCtx, id: InvoiceId) -> Result<Invoice> {
        let mut tx = self.db.begin().await?;
        let sql = format!("{INVOICE_SELECT} WHERE i.tenant_id = $1 AND i.id = $2");
        let row: Option<InvoiceRow> = tx.fetch_optional(sqlx::AssertSqlSafe(sql), args![cx.tenant(), id]).await?;
        let summary = InvoiceSummary::try_from(row.ok_or(StoreError::NotFound("invoice"))?)?;
        let p = profile_in_tx(&mut tx, cx.tenant(), summary.billing_profile_id).await?;
        require_on_profile(&mut tx, cx, &p, BillingAction::Read).await?;
        let lines: Vec<LineRow> = tx
            .fetch_all(
                "SELECT purchase_id, invoice_section_id, section_name, description, quantity, unit_price_minor, \
                 amount_minor FROM invoice_lines WHERE invoice_id = $1 ORDER BY section_name, invoice_section_id, purchase_id",
                args![id],
            )
            .await?;
        tx.commit().await?;
        let currency = summary.total.currency;
        let mut sections: Vec<InvoiceSectionLines> = Vec::new();
        for l in lines {
            let section = InvoiceSectionId::parse(&l.invoice_section_id).map_err(|e| corrupt("invoice section id", e))?;
            let line = InvoiceLine {
                purchase_id: PurchaseId::parse(&l.purchase_id).map_err(|e| corrupt("purchase id", e))?,
                description: l.description,
                quantity: l.quantity,
                unit_price: Money::new(l.unit_price_minor, currency),
                amount: Money::new(l.amount_minor, currency),
            };
            match sections.last_mut() {
                Some(s) if s.invoice_section_id == section => {
                    s.subtotal = s.subtotal.checked_add(line.amount).map_err(|e| corrupt("subtotal", e))?;
                    s.lines.push(line);
                }
                _ => sections.push(InvoiceSectionLines {
                    invoice_section_id: section,
                    name: l.section_name,
                    subtotal: line.amount,
                    lines: vec![line],
                }),
            }
        }
        Ok(Invoice { summary, sections })
    }
}
