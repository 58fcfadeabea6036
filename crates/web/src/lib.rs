//! The pages: server-rendered HTML (askama, escaping by default), progressive enhancement with a
//! vendored htmx 2. Every rule is decided by the store's use cases; this crate only asks and shows.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pb_app::AppState;
use tower_http::set_header::SetResponseHeaderLayer;

#[cfg(feature = "bench-baseline")]
pub mod bench;
mod commerce_views;
mod extract;
mod pages;
mod render;
mod session;
mod spend_chart;
mod views;

use pages::{
    account_details, billing_profile, invoices, legal_profile, link_flow, membership, notifications, oidc, profile_details, purchase,
    roles, signin,
};

pub use session::WebUser;

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");
const HTMX: &str = include_str!("../static/htmx-2.0.11.min.js");

fn asset(body: &'static str, ctype: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

/// The pages' face: its routes, which the binary merges beside the API's.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(signin::home))
        .route("/signin", get(signin::signin_page).post(signin::signin_submit))
        .route("/signout", post(signin::signout_submit))
        .route("/signin/oidc", get(oidc::oidc_start))
        .route("/signin/callback", get(oidc::oidc_callback))
        .route("/account/billing-profile", get(billing_profile::billing_profile_page))
        .route("/account/billing-profile/select-account", get(link_flow::select_account_page))
        .route("/account/billing-profile/new-account", get(link_flow::new_account_form).post(link_flow::new_account_submit))
        .route("/account/billing-profile/select-profile", get(link_flow::select_profile_page))
        .route("/account/billing-profile/new-profile", get(link_flow::new_profile_form).post(link_flow::new_profile_submit))
        .route("/account/billing-profile/review", get(link_flow::review_page))
        .route("/account/billing-profile/finish", post(link_flow::finish_submit))
        .route("/account/legal-profile", get(legal_profile::legal_profile_page).post(legal_profile::legal_profile_submit))
        .route("/membership", get(membership::membership_page))
        .route("/membership/purchases", post(purchase::purchase_submit))
        .route("/billing/invoices", get(invoices::invoices_index))
        .route("/billing/invoices/{id}", get(invoices::invoice_page_or_download))
        .route("/billing/profiles/{id}/invoices", get(invoices::profile_invoices_page))
        .route("/notifications", get(notifications::notifications_page))
        .route("/notifications/read-all", post(notifications::mark_all_read_submit))
        .route("/notifications/{id}/read", post(notifications::mark_read_submit))
        .route("/billing/profiles/{id}", get(profile_details::profile_details_page))
        .route("/billing/profiles/{id}/payment-instruments", post(profile_details::payment_instrument_submit))
        .route("/billing/profiles/{id}/primary-contact", post(profile_details::primary_contact_submit))
        .route("/billing/profiles/{id}/roles", post(roles::grant_submit))
        .route("/billing/roles/{id}/revoke", post(roles::revoke_submit))
        .route("/billing/accounts/{id}", get(account_details::account_details_page))
        .route("/billing/accounts/{id}/roles", post(roles::account_grant_submit))
        .route("/static/app.css", get(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route("/static/app.js", get(|| async { asset(JS, "text/javascript; charset=utf-8") }))
        .route("/static/htmx.min.js", get(|| async { asset(HTMX, "text/javascript; charset=utf-8") }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::same_origin_forms))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
}
