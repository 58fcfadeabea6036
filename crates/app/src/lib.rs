//! The shared floor of partner-billing's two faces. The JSON API (`pb-api`) and the pages
//! (`pb-web`) stand side by side on it, neither on the other: this crate holds the application
//! state and configuration, the authenticated principal (made once, from a token or a session),
//! the one error body, and the layers both stand behind. The binary merges the faces' routers and
//! hands them to [`compose`].

mod callers;
mod client;
mod config;
mod extract;
pub mod layers;
pub mod principal;
pub mod problem;
mod rate_limit;
mod state;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use client::{TrustedProxy, client_ip};
pub use config::AppConfig;
pub use extract::{charge_principal, charge_user, request_id};
pub use layers::{MAX_BODY_BYTES, compose};
pub use principal::{AuthFailure, Authenticator, Operator, Principal, TenantUser};
pub use problem::{PROBLEM_JSON, Problem};
pub use rate_limit::RateLimiter;
pub use state::{AppState, AppStateInner, metrics_handle};
