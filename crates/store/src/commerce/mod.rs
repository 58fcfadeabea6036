//! Commerce: the offer catalog, purchases billed through the link in force (rules B1–B3, M4, A5,
//! C4, H3), and the monthly invoices (rules B4, B5).

mod invoice_read;
mod invoice_run;
mod offers;
mod purchases;

pub use invoice_read::{Invoice, InvoiceLine, InvoiceSectionLines, InvoiceSummary};
pub use invoice_run::{InvoiceRunSummary, RunProgress};
pub use offers::{Offer, PutOffer};
pub use purchases::{NewPurchase, PaymentChoice, Purchase};
