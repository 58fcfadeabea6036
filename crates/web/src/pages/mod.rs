//! Page handlers, one module per page: `x_page` (GET), `x_form`, `x_submit` (POST → 303).

pub mod account_details;
pub mod billing_profile;
pub mod invoices;
pub mod legal_profile;
pub mod link_flow;
pub mod membership;
pub mod notifications;
pub mod oidc;
pub mod profile_details;
pub mod purchase;
pub mod roles;
pub mod signin;
