//! Saying this serve process is alive, so that a retry of an idempotent request whose first try died
//! with another process takes the key over within seconds (`pb_store::INSTANCE_GONE_AFTER`) instead
//! of waiting out the minute.

use pb_store::{HEARTBEAT_EVERY, Store};

/// Runs until aborted: one heartbeat now, then one every [`HEARTBEAT_EVERY`].
pub async fn heartbeat(store: Store) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.heartbeat().await {
            tracing::warn!(error = %e, "cannot record that this instance is alive");
        }
    }
}
