//! The month close inside serve (rule B4): once the month has ended and settled, one tick invoices it;
//! the next finds it done; before it settles nothing happens. Driven by the store's test clock.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::sync::Arc;
use std::time::Duration;

use pb_domain::{Period, TestClock};
use pb_jobs::MonthClose;
use pb_store::Backend;
use pb_store::testing::{check_invoices, load::seed_invoice_load, store_with_clock};
use time::macros::datetime;

async fn closes_the_month_just_ended_once(backend: Backend) {
    let clock = Arc::new(TestClock::new(datetime!(2026-05-20 10:00 UTC)));
    let Some(store) = store_with_clock(backend, "rule_b4_month_close_runs_by_itself", clock.clone()).await else { return };
    let may = Period::parse("2026-05").unwrap();
    seed_invoice_load(&store, 30, 300, may).await.unwrap();
    let job = MonthClose::new(store.clone(), Duration::from_secs(60));
    assert_eq!(job.tick().await.unwrap(), Some(Period::parse("2026-04").unwrap()), "April had ended; it had nothing to invoice");
    assert_eq!(check_invoices(&store, may).await.unwrap().invoices, 0, "May is still open");
    clock.set(datetime!(2026-06-01 0:00:30 UTC));
    assert_eq!(job.tick().await.unwrap(), None, "the month settles for a minute first");
    clock.set(datetime!(2026-06-01 0:02 UTC));
    assert_eq!(job.tick().await.unwrap(), Some(may));
    let done = check_invoices(&store, may).await.unwrap();
    assert_eq!((done.invoices, done.lines, done.uninvoiced), (30, 300, 0));
    assert_eq!(job.tick().await.unwrap(), None, "a closed month is not run again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rule_b4_the_month_closes_by_itself_once() {
    closes_the_month_just_ended_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rule_b4_the_month_closes_by_itself_once() {
    closes_the_month_just_ended_once(Backend::Postgres).await;
}
