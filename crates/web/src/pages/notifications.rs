//! The notifications page behind the bell (rules N1, T1–T3): the user's notifications, newest first,
//! a page at a time, each with its action and a "Mark read" button, and "Mark all read". Reading
//! changes nothing; only the two buttons (POST, CSRF) mark notifications read.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_store::StoreError;
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::extract::{CsrfForm, CsrfProtected};
use crate::render::{chrome, local_path, not_found, notification_row, see_other};
use crate::session::WebUser;
use crate::views::NotificationsPage;

/// Notifications per page.
const PAGE_SIZE: u32 = 20;

#[derive(Deserialize)]
pub struct NotificationsQuery {
    cursor: Option<String>,
}

/// `/notifications`: a page of the user's notifications, from `cursor` on.
pub async fn notifications_page(State(s): State<AppState>, u: WebUser, Query(q): Query<NotificationsQuery>) -> Response {
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let page = match s.store.list_notifications(&u.who.cx, cursor.as_deref(), Some(PAGE_SIZE)).await {
        Ok(page) => page,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let older = page.next_cursor.map(|c| format!("/notifications?cursor={}", query_value(&c)));
    let c = chrome(&s, &u, "notifications", "Notifications").await;
    NotificationsPage { chrome: c, items: page.items.iter().map(notification_row).collect(), older, paged: cursor.is_some() }
        .into_response()
}

/// A "Mark read" or "Mark all read" form: the CSRF token, and the page to go back to.
#[derive(Deserialize)]
pub struct MarkReadForm {
    csrf: String,
    next: Option<String>,
}

impl CsrfProtected for MarkReadForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl MarkReadForm {
    /// Where the user was, when it is a page of this site; else the notifications page.
    fn back(&self) -> &str {
        self.next.as_deref().and_then(local_path).unwrap_or("/notifications")
    }
}

/// `POST /notifications/{id}/read`: marks one of the user's notifications read, then back (303).
/// Another user's notification, or none, is the not-found page.
pub async fn mark_read_submit(State(s): State<AppState>, Path(id): Path<String>, f: CsrfForm<MarkReadForm>) -> Response {
    let u = &f.user;
    match s.store.mark_notification_read(&u.who.cx, &id).await {
        Ok(()) => see_other(f.form.back()),
        Err(StoreError::NotFound(what)) => not_found(chrome(&s, u, "notifications", "Not found").await, what),
        Err(e) => render_error(&s, u, e).await,
    }
}

/// `POST /notifications/read-all`: marks all of the user's notifications read, then back (303).
pub async fn mark_all_read_submit(State(s): State<AppState>, f: CsrfForm<MarkReadForm>) -> Response {
    match s.store.mark_all_notifications_read(&f.user.who.cx).await {
        Ok(_) => see_other(f.form.back()),
        Err(e) => render_error(&s, &f.user, e).await,
    }
}

/// `v` percent-encoded for a query string (cursors are the store's opaque strings).
fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
