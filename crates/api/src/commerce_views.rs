//! What the API shows of offers, purchases, invoices and invoice runs.

use pb_domain::{Address, Money, OfferKind};
use pb_store::{Invoice, InvoiceRunSummary, InvoiceSummary, Offer, Purchase};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An amount: integer minor units and an ISO 4217 currency.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyView {
    #[serde(deserialize_with = "crate::extract::integer")]
    pub amount_minor: i64,
    pub currency: String,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        MoneyView { amount_minor: m.amount_minor, currency: m.currency.to_string() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    pub name: String,
    pub kind: OfferKind,
    pub term_months: i64,
    /// At most one within its term per partner (409 `already_owned`).
    pub one_per_partner: bool,
    pub active: bool,
    /// One price per currency the offer is sold in.
    pub prices: Vec<MoneyView>,
}

impl From<&Offer> for OfferView {
    fn from(o: &Offer) -> Self {
        OfferView {
            id: o.id.to_string(),
            name: o.name.clone(),
            kind: o.kind,
            term_months: o.term_months,
            one_per_partner: o.one_per_partner,
            active: o.active,
            prices: o.prices.iter().copied().map(MoneyView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseView {
    pub id: String,
    pub offer_id: String,
    pub description: String,
    pub quantity: i64,
    pub unit_price: MoneyView,
    pub amount: MoneyView,
    #[serde(with = "time::serde::rfc3339")]
    pub purchased_at: OffsetDateTime,
    pub purchased_by: String,
    /// The account, profile and section of the link in force at `purchased_at` (rules B2, C4); empty
    /// for a purchase before the cutover without a link, billed by the legacy platform.
    pub billing_account_id: Option<String>,
    pub billing_profile_id: Option<String>,
    pub invoice_section_id: Option<String>,
    pub payment_instrument_id: Option<String>,
    /// Set once the purchase is on an issued invoice.
    pub invoice_id: Option<String>,
}

impl From<&Purchase> for PurchaseView {
    fn from(p: &Purchase) -> Self {
        PurchaseView {
            id: p.id.to_string(),
            offer_id: p.offer_id.to_string(),
            description: p.description.clone(),
            quantity: p.quantity,
            unit_price: p.unit_price.into(),
            amount: p.amount.into(),
            purchased_at: p.purchased_at,
            purchased_by: p.purchased_by.clone(),
            billing_account_id: p.billing_account_id.map(|x| x.to_string()),
            billing_profile_id: p.billing_profile_id.map(|x| x.to_string()),
            invoice_section_id: p.invoice_section_id.map(|x| x.to_string()),
            payment_instrument_id: p.payment_instrument_id.map(|x| x.to_string()),
            invoice_id: p.invoice_id.map(|x| x.to_string()),
        }
    }
}

/// An invoice in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceSummaryView {
    pub id: String,
    /// `PB-YYYY-NNNNNN`.
    pub number: String,
    pub billing_account_id: String,
    pub billing_profile_id: String,
    /// `YYYY-MM`.
    pub period: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    pub due_date: String,
    pub currency: String,
    pub total: MoneyView,
    pub status: &'static str,
}

fn date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

impl From<&InvoiceSummary> for InvoiceSummaryView {
    fn from(s: &InvoiceSummary) -> Self {
        InvoiceSummaryView {
            id: s.id.to_string(),
            number: s.number.clone(),
            billing_account_id: s.billing_account_id.to_string(),
            billing_profile_id: s.billing_profile_id.to_string(),
            period: s.period.to_string(),
            issue_date: date(s.issue_date),
            due_date: date(s.due_date),
            currency: s.total.currency.to_string(),
            total: s.total.into(),
            status: "issued",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLineView {
    pub purchase_id: String,
    pub description: String,
    pub quantity: i64,
    pub unit_price: MoneyView,
    pub amount: MoneyView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceSectionLinesView {
    pub invoice_section_id: String,
    pub name: String,
    pub lines: Vec<InvoiceLineView>,
    /// The sum of the section's lines.
    pub subtotal: MoneyView,
}

/// An issued invoice; it never changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    #[serde(flatten)]
    pub summary: InvoiceSummaryView,
    /// The billing account's sold-to when the invoice was issued.
    pub bill_to: Address,
    pub sold_to_company: String,
    pub sections: Vec<InvoiceSectionLinesView>,
}

impl From<&Invoice> for InvoiceView {
    fn from(i: &Invoice) -> Self {
        InvoiceView {
            summary: InvoiceSummaryView::from(&i.summary),
            bill_to: i.summary.bill_to.clone(),
            sold_to_company: i.summary.sold_to_company.clone(),
            sections: i
                .sections
                .iter()
                .map(|s| InvoiceSectionLinesView {
                    invoice_section_id: s.invoice_section_id.to_string(),
                    name: s.name.clone(),
                    subtotal: s.subtotal.into(),
                    lines: s
                        .lines
                        .iter()
                        .map(|l| InvoiceLineView {
                            purchase_id: l.purchase_id.to_string(),
                            description: l.description.clone(),
                            quantity: l.quantity,
                            unit_price: l.unit_price.into(),
                            amount: l.amount.into(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// What an invoice run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceRunView {
    pub id: String,
    pub period: String,
    /// Profiles with charges in the period.
    pub profiles: i64,
    pub invoices_created: i64,
    /// Profiles whose invoice existed already (an earlier or concurrent run).
    pub invoices_already_issued: i64,
    /// Charges of the period, every one on an invoice.
    pub charges: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

impl From<&InvoiceRunSummary> for InvoiceRunView {
    fn from(r: &InvoiceRunSummary) -> Self {
        InvoiceRunView {
            id: r.id.to_string(),
            period: r.period.to_string(),
            profiles: r.profiles,
            invoices_created: r.invoices_created,
            invoices_already_issued: r.invoices_already_issued,
            charges: r.charges,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}
