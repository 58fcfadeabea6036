//! The month close (rule B4): shortly after a month starts, the month just ended is invoiced. Every
//! node may try; the invoice run only adds what is missing, so two nodes at once are harmless.

use std::time::Duration;

use pb_domain::Period;
use pb_store::{Ctx, RunProgress, Store};
use time::OffsetDateTime;

/// How long after the month's end the close waits, so that purchases in flight at midnight commit
/// before their month is invoiced.
pub const SETTLE: time::Duration = time::Duration::minutes(1);

/// The month to close at `now`, once it has settled: the month before `now`'s.
pub fn month_to_close(now: OffsetDateTime) -> Option<Period> {
    let current = Period::containing(now);
    (now >= current.start() + SETTLE).then(|| current.previous())
}

/// Logs the run's progress in plain lines.
struct LogProgress {
    period: Period,
    total: u64,
    done: u64,
}

impl RunProgress for LogProgress {
    fn started(&mut self, profiles: u64) {
        self.total = profiles;
        tracing::info!(period = %self.period, profiles, "month close started");
    }

    fn advanced(&mut self, profiles: u64, created: u64) {
        self.done += profiles;
        tracing::info!(period = %self.period, done = self.done, total = self.total, created, "month close progress");
    }
}

/// The month-close job: checks every `interval` whether the month just ended still needs its run.
#[derive(Debug, Clone)]
pub struct MonthClose {
    store: Store,
    interval: Duration,
}

impl MonthClose {
    pub fn new(store: Store, interval: Duration) -> Self {
        MonthClose { store, interval }
    }

    /// One check: runs the month to close if no run of it has finished yet. Returns the period run.
    pub async fn tick(&self) -> Result<Option<Period>, pb_store::StoreError> {
        let Some(period) = month_to_close(self.store.clock().now()) else { return Ok(None) };
        if self.store.invoice_run_finished(period).await? {
            return Ok(None);
        }
        let mut progress = LogProgress { period, total: 0, done: 0 };
        let summary = self.store.run_invoices(&Ctx::system(), period, &mut progress).await?;
        tracing::info!(
            period = %period,
            invoices_created = summary.invoices_created,
            invoices_already_issued = summary.invoices_already_issued,
            charges = summary.charges,
            "month close finished"
        );
        Ok(Some(period))
    }

    /// Checks forever; a failed check is logged and tried again at the next tick.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "month close failed; trying again at the next check");
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rule_b4_the_month_just_ended_closes_once_it_has_settled() {
        assert_eq!(month_to_close(datetime!(2026-03-01 0:00:30 UTC)), None);
        assert_eq!(month_to_close(datetime!(2026-03-01 0:01 UTC)).map(|p| p.to_string()), Some("2026-02".into()));
        assert_eq!(month_to_close(datetime!(2026-01-20 10:00 UTC)).map(|p| p.to_string()), Some("2025-12".into()));
    }
}
