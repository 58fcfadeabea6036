//! What every page shares: the chrome (top bar, navigation, the bell), error pages, redirects, and
//! the words for times, addresses, accounts and profiles.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pb_app::AppState;
use pb_store::{BillingAccount, BillingProfile};

use crate::session::WebUser;
use crate::views::{AccountSummary, Chrome, ErrorPage, ProfileSummary};

const TIME: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

pub fn when(t: time::OffsetDateTime) -> String {
    t.format(TIME).unwrap_or_default()
}

/// A 500 page; the cause is logged by the caller.
pub fn error_page(chrome: Option<Chrome>, heading: &str, detail: &str) -> Response {
    ErrorPage::respond(chrome, StatusCode::INTERNAL_SERVER_ERROR, heading, detail)
}

pub fn not_found(chrome: Chrome, what: &str) -> Response {
    ErrorPage::respond(
        Some(chrome),
        StatusCode::NOT_FOUND,
        &format!("No such {what}"),
        &format!("This {what} does not exist in your tenant."),
    )
}

/// The answer to a successful POST (303).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Sets the status of a rendered page (e.g. 422 for a form shown again with its errors).
pub fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

pub async fn chrome(s: &AppState, u: &WebUser, nav: &'static str, title: &str) -> Chrome {
    let unread = s.store.unread_notifications(&u.who.cx).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot count unread notifications");
        0
    });
    Chrome {
        tenant: u.who.tenant.name.clone(),
        tenant_domain: u.who.tenant.domain.clone(),
        user: u.who.user.display_name.clone(),
        email: u.who.user.email.clone(),
        global_admin: u.who.is_global_admin(),
        unread: usize::try_from(unread).unwrap_or(0),
        csrf: u.csrf.clone(),
        nav,
        title: title.to_owned(),
    }
}

pub fn one_line(a: &pb_domain::Address) -> String {
    let mut parts = vec![a.address_line1.clone()];
    parts.extend(a.address_line2.clone());
    parts.extend(a.city.clone());
    parts.extend(a.region.clone());
    parts.extend(a.postal_code.clone());
    parts.push(a.country.to_string());
    parts.join(", ")
}

pub fn contact_line(c: &Option<pb_domain::Contact>) -> Option<String> {
    c.as_ref().map(|c| format!("{} <{}>", c.name, c.email))
}

pub fn profile_summary(s: &AppState, p: &BillingProfile) -> ProfileSummary {
    ProfileSummary {
        id: p.id.to_string(),
        name: p.display_name.clone(),
        instrument: p.payment_instruments.first().map(|i| i.display_hint.clone()).unwrap_or_else(|| "None".into()),
        details_url: s.config.details_url(&p.id),
        currency: p.currency.to_string(),
        sections: p.invoice_sections.iter().map(|x| x.display_name.clone()).collect(),
    }
}

pub fn account_summary(s: &AppState, a: &BillingAccount, profiles: &[BillingProfile], accepted: bool) -> AccountSummary {
    AccountSummary {
        id: a.id.to_string(),
        name: a.display_name.clone(),
        company: a.company_name.clone(),
        sold_to: one_line(&a.sold_to),
        country: a.sold_to.country.to_string(),
        contact: contact_line(&a.primary_contact),
        agreement_accepted: accepted,
        profiles: profiles.iter().map(|p| profile_summary(s, p)).collect(),
    }
}
