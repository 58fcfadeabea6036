//! The state every handler of either face gets.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pb_auth::DevIssuer;
use pb_domain::AdjustableClock;
use pb_store::Store;

use crate::config::AppConfig;
use crate::principal::Authenticator;
use crate::rate_limit::RateLimiter;

/// Cheap to clone: every layer and extractor of every request takes a copy, so it is one `Arc`
/// (cloning the fields one by one showed in the read benchmark's profile).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

#[derive(Clone)]
pub struct AppStateInner {
    pub store: Store,
    pub auth: Authenticator,
    /// Present when the local dev issuer is in use: its JWKS is published.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    pub config: Arc<AppConfig>,
    pub metrics: PrometheusHandle,
    pub rate_limiter: RateLimiter,
    /// The store's clock when `serve --test-clock` lets operators move it forward.
    pub test_clock: Option<Arc<AdjustableClock>>,
    /// OpenID Connect sign-in for the pages, when an external provider is configured.
    pub oidc: Option<Arc<pb_auth::OidcClient>>,
}

impl AppState {
    pub fn new(store: Store, auth: Authenticator, dev_issuer: Option<Arc<DevIssuer>>, config: AppConfig) -> AppState {
        AppState(Arc::new(AppStateInner {
            store,
            auth,
            dev_issuer,
            config: Arc::new(config),
            metrics: metrics_handle(),
            rate_limiter: RateLimiter::default(),
            test_clock: None,
            oidc: None,
        }))
    }

    fn inner(self) -> AppStateInner {
        Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }

    /// This state with OpenID Connect sign-in for the pages.
    pub fn with_oidc(self, oidc: pb_auth::OidcClient) -> AppState {
        AppState(Arc::new(AppStateInner { oidc: Some(Arc::new(oidc)), ..self.inner() }))
    }

    /// This state with an operator-settable clock (which must be the store's clock).
    pub fn with_test_clock(self, clock: Arc<AdjustableClock>) -> AppState {
        AppState(Arc::new(AppStateInner { test_clock: Some(clock), ..self.inner() }))
    }
}

/// The process-wide Prometheus recorder, installed once however many apps a process builds.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is already installed; then metrics go there.
            let _ = metrics::set_global_recorder(recorder);
            // A histogram keeps every sample (16 bytes each) until a render or an upkeep drains it
            // into its summary: with no scraper, RSS grew by 3.8 MiB a minute under load (the soak,
            // bench/SOAK.md). `build_recorder` spawns no upkeep, so this thread does.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}
