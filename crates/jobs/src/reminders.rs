//! Rule T1's reminders: the global admins of active, unlinked partner accounts hear again, at most
//! once per period each. Every node may sweep; the store reminds each account once.

use std::time::Duration;

use pb_domain::ReminderPolicy;
use pb_store::Store;

#[derive(Debug, Clone)]
pub struct LinkReminders {
    store: Store,
    policy: ReminderPolicy,
    interval: Duration,
}

impl LinkReminders {
    /// Sweeps every `interval` with `policy`.
    pub fn new(store: Store, policy: ReminderPolicy, interval: Duration) -> Self {
        LinkReminders { store, policy, interval }
    }

    /// One sweep; how many accounts were reminded.
    pub async fn tick(&self) -> Result<u64, pb_store::StoreError> {
        let n = self.store.remind_unlinked(&self.policy).await?;
        if n > 0 {
            tracing::info!(accounts = n, "reminded unlinked partner accounts to link");
        }
        Ok(n)
    }

    pub async fn run(self) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "link reminders failed; trying again at the next sweep");
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
