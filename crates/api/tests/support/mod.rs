//! The API's tests drive the shared `TestApp` with the API's face.

use pb_app::AppState;
pub use pb_app::testing::{Resp, TestApp, TestTenant};
use pb_store::Store;

/// The API's face, as the binary serves it.
pub fn faces(state: &AppState) -> axum::Router<AppState> {
    pb_api::router(state)
}

/// The set-up of every API test: the API over a fresh store.
pub async fn app(store: Store) -> TestApp {
    TestApp::new(store, faces).await
}
