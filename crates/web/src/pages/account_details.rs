//! A billing account's own page: its details, the profiles the caller may see in it (rule A2 trims
//! them), and its Roles section.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use pb_app::AppState;
use pb_domain::BillingAccountId;
use pb_store::StoreError;
use serde::Deserialize;

use super::billing_profile::render_error;
use crate::render::{account_summary, chrome, not_found};
use crate::session::WebUser;
use crate::views::AccountDetailsPage;

#[derive(Deserialize)]
pub struct AccountQuery {
    roles: Option<String>,
}

pub async fn account_details_page(
    State(s): State<AppState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> Response {
    let c = chrome(&s, &u, "billing-profile", "Billing account details").await;
    let Ok(id) = BillingAccountId::parse(&id) else { return not_found(c, "billing account") };
    let a = match s.store.get_billing_account(&u.who.cx, id).await {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => return not_found(c, "billing account"),
        Err(e) => return render_error(&s, &u, e).await,
    };
    let message = q.roles.as_deref().and_then(super::roles::outcome_words).map(str::to_owned);
    let roles_section = super::roles::account_section(&s, &u, id, message).await;
    let account = account_summary(&s, &a.account, &a.profiles, a.agreement_accepted);
    axum::response::IntoResponse::into_response(AccountDetailsPage { chrome: c, account, roles_section })
}
