//! What the templates show. Plain data, filled by the handlers from the store's values.

use askama::Template;
use askama_web::WebTemplate;

/// The frame of every signed-in page: top bar and navigation.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub tenant: String,
    pub tenant_domain: String,
    pub user: String,
    pub email: String,
    pub global_admin: bool,
    pub unread: usize,
    /// The bell's dropdown: the newest few notifications.
    pub bell: Vec<NotificationRow>,
    pub csrf: String,
    pub nav: &'static str,
    pub title: String,
    /// Where the chrome's forms send the user back to: this page, or the section it belongs to.
    pub here: String,
}

#[derive(Debug, Clone)]
pub struct SigninUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: String,
}

#[derive(Debug, Clone)]
pub struct SigninTenant {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub state: String,
    pub users: Vec<SigninUser>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
pub struct SigninPage {
    pub csrf: String,
    pub tenants: Vec<SigninTenant>,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Option<Chrome>,
    pub heading: String,
    pub detail: String,
}

impl ErrorPage {
    /// The page with `status`.
    pub fn respond(chrome: Option<Chrome>, status: axum::http::StatusCode, heading: &str, detail: &str) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut r = ErrorPage { chrome, heading: heading.into(), detail: detail.into() }.into_response();
        *r.status_mut() = status;
        r
    }
}

/// Why the signed-in user cannot link, and what to do about it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub title: String,
    pub detail: String,
    pub todo: String,
}

#[derive(Debug, Clone)]
pub struct ProfileSummary {
    pub id: String,
    pub name: String,
    pub instrument: String,
    pub details_url: String,
    pub currency: String,
    pub sections: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub company: String,
    pub sold_to: String,
    pub country: String,
    pub contact: Option<String>,
    pub agreement_accepted: bool,
    pub profiles: Vec<ProfileSummary>,
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub account: String,
    pub profile: String,
    pub from: String,
    pub to: String,
    pub by: String,
}

#[derive(Debug, Clone)]
pub struct Linked {
    pub account: AccountSummary,
    pub profile: ProfileSummary,
    pub linked_at: String,
    pub linked_by: String,
}

/// The billing profile page under any flyout.
#[derive(Debug, Clone)]
pub struct BillingPage {
    pub refusal: Option<Refusal>,
    pub linked: Option<Linked>,
    pub history: Vec<HistoryRow>,
    pub success: bool,
}

#[derive(Debug, Clone)]
pub struct SelectAccount {
    pub accounts: Vec<AccountSummary>,
    pub selected: String,
    pub changing: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewAccountForm {
    pub company: String,
    pub sold_to: String,
    pub display_name: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub errors: Vec<(String, String)>,
    pub pending_legal_change: bool,
}

impl NewAccountForm {
    /// The message for one field, if it has one.
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field || f.starts_with(&format!("{field}."))).map(|(_, m)| m.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct SelectProfile {
    pub account: AccountSummary,
    pub selected: String,
    /// Rule C3: the profile to reuse; creating another is hidden and explained.
    pub reuse: Option<ProfileSummary>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewProfileForm {
    pub account: AccountSummary,
    pub name: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReviewPanel {
    pub account: AccountSummary,
    pub profile: ProfileSummary,
    pub agreement_required: bool,
    pub agreement_already: bool,
    pub agreement_version: String,
    pub secondary_required: bool,
    pub warnings: Vec<String>,
    pub effects: String,
    pub noop: bool,
    pub version: i64,
    pub agreement_error: Option<String>,
    pub secondary_error: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Flyout {
    None,
    SelectAccount(SelectAccount),
    NewAccount(NewAccountForm),
    SelectProfile(SelectProfile),
    NewProfile(NewProfileForm),
    Review(Box<ReviewPanel>),
    Refused(Refusal),
}

#[derive(Template, WebTemplate)]
#[template(path = "billing_profile.html")]
pub struct BillingProfilePage {
    pub chrome: Chrome,
    pub page: BillingPage,
    pub flyout: Flyout,
}

#[derive(Debug, Clone, Default)]
pub struct LegalForm {
    pub company_name: String,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "legal_profile.html")]
pub struct LegalProfilePage {
    pub chrome: Chrome,
    pub verified_company: String,
    pub verified_sold_to: String,
    pub verified_contact: String,
    pub pending: Option<String>,
    pub pending_since: String,
    pub submitted: bool,
    pub can_edit: bool,
    pub form: LegalForm,
    pub errors: Vec<(String, String)>,
}

impl LegalProfilePage {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

/// One notification, on the notifications page and in the bell.
#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: String,
    pub title: String,
    pub body: String,
    /// The time in words, and as `<time datetime>` wants it.
    pub when: String,
    pub datetime: String,
    pub unread: bool,
    pub action_url: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub chrome: Chrome,
    pub items: Vec<NotificationRow>,
    /// The link to the next, older page, if there is one.
    pub older: Option<String>,
    /// Whether this is a later page (offers the way back to the newest).
    pub paged: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "account_details.html")]
pub struct AccountDetailsPage {
    pub chrome: Chrome,
    pub account: AccountSummary,
    pub roles_section: Option<crate::pages::roles::RolesSection>,
}

#[derive(Template, WebTemplate)]
#[template(path = "profile_details.html")]
pub struct ProfileDetailsPage {
    pub chrome: Chrome,
    pub account: AccountSummary,
    /// Whether this user may read the account (else only its id is shown, and no contact form).
    pub account_readable: bool,
    pub profile: ProfileSummary,
    pub instruments: Vec<String>,
    /// Monthly spend per invoice section, once the profile has an invoice.
    pub chart: Option<crate::commerce_views::SpendChart>,
    pub added: bool,
    pub contact_saved: bool,
    pub errors: Vec<(String, String)>,
    pub token: String,
    pub hint: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    /// Who holds which role here (rule A2); `None` when the caller may not read the assignments.
    pub roles_section: Option<crate::pages::roles::RolesSection>,
}

impl ProfileDetailsPage {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}
