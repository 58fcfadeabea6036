//! The billing profile page (rules N1, N2, N9, C4): the banner of an unlinked account with Start, or
//! the linked account and profile with the history; every flyout of the link flow renders over it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use pb_app::AppState;
use pb_domain::PartnerAccountState;
use pb_store::StoreError;
use serde::Deserialize;

use crate::render::{account_summary, chrome, not_found, profile_summary, store_failure_page, when};
use crate::session::WebUser;
use crate::views::{BillingPage, BillingProfilePage, Flyout, HistoryRow, Linked, Refusal};

/// Why this user cannot link now (rules A1, P2), in words with what to do; `None` when the error is
/// not such a refusal.
fn refusal_of(e: &StoreError, tenant: &str) -> Option<Refusal> {
    match e {
        StoreError::GlobalAdminRequired => Some(Refusal {
            title: "Only a Global administrator can link a billing account".into(),
            detail: format!(
                "Linking or changing the billing account and profile of {tenant} needs the Global administrator role of the tenant, which your account does not have."
            ),
            todo: "Ask a Global administrator of your tenant to do it, or sign in as one.".into(),
        }),
        StoreError::PartnerAccountNotActive(state) => Some(Refusal {
            title: format!("Your partner account is {}", state.describe()),
            detail: "Only an Active partner account can link a billing account and profile.".into(),
            todo: match state {
                PartnerAccountState::PendingVerification => {
                    "Your account is being verified. Once it is Active you can come back and select Start.".into()
                }
                _ => "Contact partner support to get your account back to Active, then come back here.".into(),
            },
        }),
        _ => None,
    }
}

/// The page under the flyouts: the link in force, its history, and why linking is refused (if it is).
pub(crate) async fn billing_page(s: &AppState, u: &WebUser, success: bool) -> Result<BillingPage, StoreError> {
    let cx = &u.who.cx;
    let overview = s.store.partner_overview(cx.tenant()).await?;
    // The preconditions Finish applies, asked of the store up front to explain them.
    let refusal = match s.store.check_may_link(cx).await {
        Ok(()) => None,
        Err(e) => Some(refusal_of(&e, &u.who.tenant.name).ok_or(e)?),
    };
    let history_links = s.store.link_history(cx, None).await?;
    let users = s.store.list_users(cx.tenant()).await?;
    let name_of = |id: &str| users.iter().find(|x| x.id.to_string() == id).map(|x| x.display_name.clone()).unwrap_or_else(|| id.to_owned());
    // Each account of the history is read once, and the linked one is among them.
    let mut accounts = HashMap::new();
    for l in &history_links {
        if !accounts.contains_key(&l.billing_account_id)
            && let Ok(a) = s.store.get_billing_account(cx, l.billing_account_id).await
        {
            accounts.insert(l.billing_account_id, a);
        }
    }
    let mut names = HashMap::new();
    for a in accounts.values() {
        names.insert(a.account.id.to_string(), a.account.display_name.clone());
        for p in &a.profiles {
            names.insert(p.id.to_string(), p.display_name.clone());
        }
    }
    let label = |id: String| names.get(&id).cloned().unwrap_or(id);
    let history = history_links
        .iter()
        .rev()
        .map(|l| HistoryRow {
            account: label(l.billing_account_id.to_string()),
            profile: label(l.billing_profile_id.to_string()),
            from: when(l.linked_at),
            to: l.unlinked_at.map(when).unwrap_or_else(|| "now".into()),
            by: name_of(&l.linked_by),
        })
        .collect();
    let linked = overview.link.and_then(|l| {
        let a = accounts.get(&l.billing_account_id)?;
        let profile = a.profiles.iter().find(|p| p.id == l.billing_profile_id).map(|p| profile_summary(s, p))?;
        Some(Linked {
            account: account_summary(s, &a.account, &[], a.agreement_accepted),
            profile,
            linked_at: when(l.linked_at),
            linked_by: name_of(&l.linked_by),
        })
    });
    Ok(BillingPage { refusal, linked, history, success })
}

/// The billing profile page with `flyout` open over it.
pub(crate) async fn render(s: &AppState, u: &WebUser, flyout: Flyout, success: bool) -> Response {
    let c = chrome(s, u, "billing-profile", "Billing profile").await;
    match billing_page(s, u, success).await {
        Ok(page) => BillingProfilePage { chrome: c, page, flyout }.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "billing profile page");
            store_failure_page(Some(c), &e, "Something went wrong", "The billing profile page could not be shown. Please try again.")
        }
    }
}

/// Renders a store refusal as a flyout saying why and what to do; a missing thing as a 404 page;
/// anything else as an error page (logged).
pub(crate) async fn render_error(s: &AppState, u: &WebUser, e: StoreError) -> Response {
    if let Some(r) = refusal_of(&e, &u.who.tenant.name) {
        return render(s, u, Flyout::Refused(r), false).await;
    }
    match e {
        StoreError::NotFound(what) => not_found(chrome(s, u, "billing-profile", "Not found").await, what),
        StoreError::Forbidden(m) => {
            let r = Refusal {
                title: "You cannot do this".into(),
                detail: m,
                todo: "Ask the owner of the billing account, or a Global administrator.".into(),
            };
            render(s, u, Flyout::Refused(r), false).await
        }
        other => {
            tracing::error!(error = %other, "page action failed");
            store_failure_page(
                Some(chrome(s, u, "billing-profile", "Error").await),
                &other,
                "Something went wrong",
                "Please try again in a moment.",
            )
        }
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    linked: Option<String>,
}

pub async fn billing_profile_page(State(s): State<AppState>, u: WebUser, Query(q): Query<PageQuery>) -> Response {
    render(&s, &u, Flyout::None, q.linked.is_some()).await
}
