//! What the commerce templates show: the membership page with its buy forms, the invoices, and the
//! spend chart. Plain data, filled by the handlers from the store's values; every figure is already
//! decided and formatted in Rust.

use askama::Template;
use askama_web::WebTemplate;

use crate::views::{Chrome, Linked};

/// A reason purchases cannot go through now, with what to do about it.
#[derive(Debug, Clone)]
pub struct BlockerView {
    pub sentence: String,
    pub todo: String,
    /// Where to do it, when a page of this site does it.
    pub todo_url: Option<String>,
    pub todo_link: String,
}

#[derive(Debug, Clone)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One offer's buy form, with what it held when it is shown again after a refusal.
#[derive(Debug, Clone, Default)]
pub struct BuyFormView {
    pub open: bool,
    pub quantity: String,
    /// The linked profile's sections; empty when the buyer cannot read the profile (the store then
    /// bills the default section).
    pub sections: Vec<OptionView>,
    /// The linked profile's instruments, or "the one on file", and "a new one".
    pub payments: Vec<OptionView>,
    pub kind: String,
    pub token: String,
    pub hint: String,
    pub errors: Vec<(String, String)>,
}

impl BuyFormView {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct OfferView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub term: String,
    pub one_per_partner: bool,
    /// The price in the linked profile's currency, "Not sold in EUR", or every price when the
    /// currency is not known to this user.
    pub price: String,
    pub sold: bool,
    pub form: BuyFormView,
}

#[derive(Debug, Clone)]
pub struct PurchaseRowView {
    pub when: String,
    pub offer: String,
    pub quantity: i64,
    pub amount: String,
    pub profile: String,
    pub section: String,
    /// The invoice's page and number, once invoiced and readable.
    pub invoice: Option<(String, String)>,
    pub invoiced: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "membership.html")]
pub struct MembershipPage {
    pub chrome: Chrome,
    pub purchase_ready: bool,
    pub blockers: Vec<BlockerView>,
    pub linked: Option<Linked>,
    /// A link exists but this user cannot read its profile (no billing role on it, rule A2).
    pub linked_unreadable: bool,
    /// The linked profile's currency, when this user can read it.
    pub currency: Option<String>,
    /// Rule A5, as the domain decides it.
    pub may_purchase: bool,
    pub no_instrument: bool,
    pub offers: Vec<OfferView>,
    pub bought: Option<String>,
    /// Why the last purchase was refused, and the offer whose form says more.
    pub refused: Option<(String, String)>,
    pub purchases: Vec<PurchaseRowView>,
}

#[derive(Debug, Clone)]
pub struct InvoiceRowView {
    pub id: String,
    pub number: String,
    pub period: String,
    pub issue_date: String,
    pub due_date: String,
    pub total: String,
}

/// Another billing profile whose invoices the user may read (rule C4: earlier purchases stay there).
#[derive(Debug, Clone)]
pub struct ProfileLinkView {
    pub id: String,
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invoices.html")]
pub struct InvoiceListPage {
    pub chrome: Chrome,
    /// The profile whose invoices are listed, with its name and currency.
    pub profile: Option<(String, String, String)>,
    pub invoices: Vec<InvoiceRowView>,
    /// Why nothing is listed, when no profile is.
    pub note: Option<String>,
    pub others: Vec<ProfileLinkView>,
}

#[derive(Debug, Clone)]
pub struct PartyView {
    pub name: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LineView {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub amount: String,
}

#[derive(Debug, Clone)]
pub struct SectionView {
    pub name: String,
    pub lines: Vec<LineView>,
    pub subtotal: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invoice.html")]
pub struct InvoicePage {
    pub chrome: Chrome,
    pub id: String,
    pub number: String,
    pub period: String,
    pub issue_date: String,
    pub due_date: String,
    pub currency: String,
    pub seller: PartyView,
    pub bill_to: PartyView,
    pub billing_account_id: String,
    pub billing_profile_id: String,
    pub sections: Vec<SectionView>,
    pub total: String,
}

/// One stacked piece of a month's bar: a section's subtotal, as pixels.
#[derive(Debug, Clone)]
pub struct SegmentView {
    pub y: i64,
    pub height: i64,
    pub colour: &'static str,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct BarView {
    pub x: i64,
    pub width: i64,
    pub label_x: i64,
    pub month: String,
    pub year: String,
    pub segments: Vec<SegmentView>,
}

#[derive(Debug, Clone)]
pub struct TickView {
    pub y: i64,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct LegendView {
    pub x: i64,
    pub y: i64,
    pub colour: &'static str,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct ChartRowView {
    pub month: String,
    pub amounts: Vec<String>,
    pub total: String,
}

/// A profile's monthly spend per invoice section, drawn from its issued invoices.
#[derive(Debug, Clone)]
pub struct SpendChart {
    pub width: i64,
    pub height: i64,
    pub left: i64,
    pub right: i64,
    pub top: i64,
    pub bottom: i64,
    pub label: String,
    pub ticks: Vec<TickView>,
    pub bars: Vec<BarView>,
    pub legend: Vec<LegendView>,
    pub sections: Vec<String>,
    pub rows: Vec<ChartRowView>,
}
