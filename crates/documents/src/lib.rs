//! Invoice documents: the CSV export and the PDF a customer receives.
//!
//! The input is plain data ([`InvoiceDocument`]) so that this crate knows nothing about the store;
//! whoever runs the invoice month fills it in. Rendering is pure: no I/O, no clock, no system
//! libraries. The PDF embeds DejaVu Sans (from the `dejavu` crate), so it looks the same on every
//! machine and its text can be searched and copied.

mod csv;
mod from_store;
mod layout;
mod metrics;
mod money;
mod pdf;

pub use crate::csv::{CSV_HEADER, invoice_csv};
pub use crate::from_store::invoice_document;
pub use crate::money::format_money;
pub use crate::pdf::invoice_pdf;
pub use pb_domain::{Currency, Money};

/// Everything printed on one monthly invoice, already computed and in display order.
///
/// Amounts are taken as given: this crate renders an invoice, it does not recompute it, so a
/// total that is not the sum of its sections is printed as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDocument {
    /// The invoice number, e.g. `PB-2026-000042`.
    pub number: String,
    /// The billed month, e.g. `2026-10`.
    pub period: String,
    /// Printed as `YYYY-MM-DD`.
    pub issue_date: time::Date,
    /// Printed as `YYYY-MM-DD`.
    pub due_date: time::Date,
    /// The currency of every amount on the invoice; [`invoice_pdf`] refuses amounts in any other.
    pub currency: Currency,
    /// The platform that issues the invoice.
    pub seller: Party,
    /// The billing account's sold-to: company name and address lines.
    pub bill_to: Party,
    /// Printed so the customer can quote it when paying or asking about the invoice.
    pub billing_account_id: String,
    /// Printed beside the account id, for the same reason.
    pub billing_profile_id: String,
    /// Printed in this order.
    pub sections: Vec<SectionDoc>,
    /// The amount due, printed last.
    pub total: Money,
}

/// A name and the address lines printed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Printed in bold, e.g. the company name.
    pub name: String,
    /// Address lines, each cut with an ellipsis in the PDF if wider than its column.
    pub lines: Vec<String>,
}

/// One section of an invoice (for example one billing profile's charges) and its subtotal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionDoc {
    /// The section heading, repeated with "(continued)" after a page break.
    pub name: String,
    /// Printed in this order.
    pub lines: Vec<LineDoc>,
    /// Printed under the section's lines.
    pub subtotal: Money,
}

/// One charge: `quantity` times `unit_price`, already multiplied out into `amount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDoc {
    /// Wrapped in the PDF, at most four lines, then cut with an ellipsis.
    pub description: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub amount: Money,
}

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// An amount is not in the invoice's currency; printing it would misstate the invoice.
    #[error("{field} is in {found}, but the invoice is in {expected}")]
    CurrencyMismatch {
        /// Which amount, in words, e.g. `the amount of line 1 in section 2`.
        field: String,
        expected: Currency,
        found: Currency,
    },
    /// The embedded font could not be read; a build problem, not a data problem.
    #[error("the embedded font {0} could not be read")]
    Font(&'static str),
    /// The PDF writer refused the document.
    #[error("could not write the PDF: {0}")]
    Pdf(String),
}
