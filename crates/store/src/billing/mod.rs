//! Billing accounts, billing profiles, invoice sections and payment instruments (rules H1–H4,
//! A2–A4, N3–N6, C3), one use case per file.

mod accounts;
mod instruments;
mod profiles;
mod sections;

pub(crate) use accounts::insert_account;
pub use accounts::{BillingAccountPatch, NewBillingAccount};
pub(crate) use instruments::insert_instrument;
pub(crate) use profiles::insert_profile;
