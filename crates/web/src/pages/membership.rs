//! The membership page: whether purchases can go through now, and why not (rule M4), as the store
//! decided it for the API too.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_domain::billing::PurchaseBlocker;

use super::billing_profile::{billing_page, render_error};
use crate::render::chrome;
use crate::session::WebUser;
use crate::views::MembershipPage;

/// Rules B1, M4, P2 in words.
fn blocker_sentence(b: PurchaseBlocker) -> String {
    match b {
        PurchaseBlocker::PartnerAccountNotActive(state) => {
            format!("The partner account is {}; purchases need an active account.", state.describe())
        }
        PurchaseBlocker::BillingLinkRequired => {
            "No billing account and profile are linked yet. A Global administrator links them on the Billing profile page.".into()
        }
        PurchaseBlocker::PrimaryContactRequired => {
            "The linked billing account has no primary contact; purchases billed to it will be refused until one is added.".into()
        }
    }
}

pub async fn membership_page(State(s): State<AppState>, u: WebUser) -> Response {
    let page = match billing_page(&s, &u, false).await {
        Ok(p) => p,
        Err(e) => return render_error(&s, &u, e).await,
    };
    let c = chrome(&s, &u, "membership", "Membership").await;
    let blockers: Vec<String> = page.blockers.iter().copied().map(blocker_sentence).collect();
    MembershipPage { chrome: c, purchase_ready: blockers.is_empty(), linked: page.linked, blockers }.into_response()
}
