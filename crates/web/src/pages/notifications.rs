//! The notifications page behind the bell.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;

use super::billing_profile::render_error;
use crate::render::{chrome, when};
use crate::session::WebUser;
use crate::views::{NotificationRow, NotificationsPage};

pub async fn notifications_page(State(s): State<AppState>, u: WebUser) -> Response {
    let items = match s.store.list_notifications(&u.who.cx, None, Some(50)).await {
        Ok(p) => p.items,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let rows = items
        .iter()
        .map(|n| NotificationRow {
            title: n.title.clone(),
            body: n.body.clone(),
            when: when(n.created_at),
            unread: n.read_at.is_none(),
            action_url: n.action_url.clone().unwrap_or_default(),
        })
        .collect();
    // Opening the page reads what it shows.
    for n in items.iter().filter(|n| n.read_at.is_none()) {
        if let Err(e) = s.store.mark_notification_read(&u.who.cx, &n.id).await {
            tracing::warn!(error = %e, "cannot mark a notification read");
        }
    }
    let c = chrome(&s, &u, "notifications", "Notifications").await;
    NotificationsPage { chrome: c, items: rows }.into_response()
}
