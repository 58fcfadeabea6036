//! The invoice run killed half way (SIGKILL of the real binary) over 100 000 charges, restarted and
//! finished: every charge on exactly one line of exactly one invoice, totals the sums of their lines,
//! no number skipped or repeated (rules B4, B5). On SQLite always; on PostgreSQL when configured
//! (and always in .ci/run).
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pb_domain::{Period, SystemClock};
use pb_store::testing::load::{invoices_so_far, seed_invoice_load};
use pb_store::testing::{check_invoices, fresh_database_url};
use pb_store::{Backend, ConnectOptions, Store};

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");

fn run(dir: &std::path::Path, db: &str, period: Period) -> std::process::Child {
    Command::new(BIN)
        .args(["invoices", "run", "--period", &period.to_string(), "--data-dir", &dir.display().to_string(), "--database", db])
        .env_remove("PB_AUTH_ISSUER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn killed_half_way_then_finished(backend: Backend) {
    let Some(db) = fresh_database_url(backend, "rule_b4_invoice_run_killed_and_restarted").await else { return };
    let dir = std::env::temp_dir().join(format!("pb-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&db, &ConnectOptions::default(), Arc::new(SystemClock)).await.unwrap();
    store.migrate().await.unwrap();
    let period = Period::parse("2025-06").unwrap();
    // 2 000 profiles of 50 charges: four batches of the run, so that a kill lands between commits.
    seed_invoice_load(&store, 2_000, 100_000, period).await.unwrap();
    let mut child = run(&dir, &db, period);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_with = None;
    while Instant::now() < deadline {
        // A cheap probe: the full check takes long enough for a whole run to slip past it.
        let so_far = invoices_so_far(&store, period).await.unwrap();
        if so_far > 0 {
            let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
            killed_with = Some(so_far);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = child.wait().unwrap();
    let after_kill = check_invoices(&store, period).await.unwrap_or_else(|e| panic!("after the kill: {e}"));
    eprintln!("killed after {killed_with:?} invoices were seen ({status:?}); {after_kill:?} left behind");
    assert!(killed_with.is_some(), "the run was caught while it ran");
    // Started again, it finishes the month without touching what was committed.
    let restarted = run(&dir, &db, period).wait_with_output().unwrap();
    assert!(restarted.status.success(), "{restarted:?}");
    let done = check_invoices(&store, period).await.unwrap_or_else(|e| panic!("after the restart: {e}"));
    assert_eq!(done.charges, 100_000);
    assert_eq!(done.lines, 100_000, "every charge on exactly one line");
    assert_eq!(done.uninvoiced, 0);
    assert_eq!(done.invoices, 2_000, "one invoice per profile");
    // And once more, for nothing.
    assert!(run(&dir, &db, period).wait().unwrap().success());
    assert_eq!(check_invoices(&store, period).await.unwrap(), done);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rule_b4_invoice_run_killed_half_way_then_finished() {
    killed_half_way_then_finished(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rule_b4_invoice_run_killed_half_way_then_finished() {
    killed_half_way_then_finished(Backend::Postgres).await;
}
