//! What every page shares: the chrome (top bar, navigation, the bell), error pages, redirects, and
//! the words for times, addresses, accounts and profiles.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use pb_app::AppState;
use pb_store::{BillingAccount, BillingProfile, Notification};
use time::format_description::well_known::Rfc3339;

use crate::session::WebUser;
use crate::views::{AccountSummary, Chrome, ErrorPage, NotificationRow, ProfileSummary};

const TIME: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

pub fn when(t: time::OffsetDateTime) -> String {
    t.format(TIME).unwrap_or_default()
}

/// A 500 page; the cause is logged by the caller.
pub fn error_page(chrome: Option<Chrome>, heading: &str, detail: &str) -> Response {
    ErrorPage::respond(chrome, StatusCode::INTERNAL_SERVER_ERROR, heading, detail)
}

/// The page for a failed store call: when the database is unavailable for a moment (a restart or
/// a failover), 503 with `Retry-After` and words saying to try again shortly; else a 500 page.
/// The cause is logged by the caller.
pub fn store_failure_page(chrome: Option<Chrome>, e: &pb_store::StoreError, heading: &str, detail: &str) -> Response {
    if !e.is_unavailable() {
        return error_page(chrome, heading, detail);
    }
    let mut r = ErrorPage::respond(
        chrome,
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is unavailable for a moment",
        "Its database is restarting or switching over. Nothing was changed; please try again in a few seconds.",
    );
    r.headers_mut().insert(axum::http::header::RETRY_AFTER, pb_app::problem::UNAVAILABLE_RETRY_AFTER_SECS.into());
    r
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

/// How many of the newest notifications the bell's dropdown shows.
pub const BELL_SIZE: u32 = 5;

/// `next` if it is a path of this site: starting with `/` but not `//` or holding `\` (which
/// browsers read as another host), and printable ASCII only, so that it fits a `Location` header.
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.bytes().all(|b| b.is_ascii_graphic());
    local.then_some(next)
}

/// The page of a section of the navigation, where the chrome's forms return to from a page that a
/// link cannot show again (one rendered by a POST).
fn section_home(nav: &str) -> &'static str {
    match nav {
        "billing-profile" => "/account/billing-profile",
        "legal-profile" => "/account/legal-profile",
        "membership" => "/membership",
        "invoices" => "/billing/invoices",
        _ => "/notifications",
    }
}

pub fn notification_row(n: &Notification) -> NotificationRow {
    NotificationRow {
        id: n.id.clone(),
        title: n.title.clone(),
        body: n.body.clone(),
        when: when(n.created_at),
        datetime: n.created_at.format(&Rfc3339).unwrap_or_default(),
        unread: n.read_at.is_none(),
        action_url: n.action_url.clone().filter(|u| local_path(u).is_some()),
    }
}

/// The top bar: who is signed in, and the bell (the unread count and the newest notifications; two
/// cheap reads, neither of which marks anything read). A failed read leaves the bell empty rather
/// than failing the page.
pub async fn chrome(s: &AppState, u: &WebUser, nav: &'static str, title: &str) -> Chrome {
    let cx = &u.who.cx;
    let unread = s.store.unread_notifications(cx).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot count unread notifications");
        0
    });
    let bell = match s.store.list_notifications(cx, None, Some(BELL_SIZE)).await {
        Ok(page) => page.items.iter().map(notification_row).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the newest notifications");
            Vec::new()
        }
    };
    Chrome {
        tenant: u.who.tenant.name.clone(),
        tenant_domain: u.who.tenant.domain.clone(),
        user: u.who.user.display_name.clone(),
        email: u.who.user.email.clone(),
        global_admin: u.who.is_global_admin(),
        unread: usize::try_from(unread).unwrap_or(0),
        bell,
        csrf: u.csrf.clone(),
        nav,
        title: title.to_owned(),
        here: u.here.as_deref().and_then(local_path).unwrap_or(section_home(nav)).to_owned(),
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

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_is_limited_to_paths_of_this_site() {
        for ok in ["/notifications", "/account/billing-profile?linked=1", "/notifications?cursor=nt_01"] {
            assert_eq!(local_path(ok), Some(ok));
        }
        for bad in
            ["", "notifications", "//evil.example", "/\\evil.example", "https://evil.example/", "/a b", "/a\r\nSet-Cookie:x", "/\u{e9}"]
        {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
