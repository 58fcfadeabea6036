//! The invoice run against its baseline, on each database: the same lines made by one
//! `INSERT … SELECT` straight on the database, timed in the same run on the same machine; and the
//! peak RSS of the real binary doing the run, at two sizes to show it does not grow with charges.
//!
//! `cargo bench -p partner-billing --bench invoice_run` (1 000 000 charges in 10 000 profiles, and
//! 100 000 in 1 000). `PB_BENCH_SCALE=quick` runs a small size only (CI proves the bench runs).
//! PostgreSQL runs when `PB_TEST_DATABASE_URL` is set. Writes `bench/invoice-run.md`.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pb_domain::{Period, SystemClock};
use pb_store::testing::fresh_database_url;
use pb_store::testing::load::{baseline_lines, check_invoices, seed_invoice_load};
use pb_store::{Backend, ConnectOptions, Store};

mod common;

use common::machine;

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");

struct Row {
    backend: &'static str,
    profiles: usize,
    charges: usize,
    seed: Duration,
    baseline: Duration,
    run: Duration,
    peak_rss_kib: u64,
}

/// The high-water mark of a process's resident memory, in KiB.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn one(backend: Backend, profiles: usize, charges: usize) -> Result<Option<Row>, String> {
    let Some(db) = fresh_database_url(backend, "bench_invoice_run").await else { return Ok(None) };
    let dir = std::env::temp_dir().join(format!("pb-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let store = Store::connect(&db, &ConnectOptions::default(), Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let period = Period::parse("2025-06").map_err(|e| e.to_string())?;
    let t = Instant::now();
    seed_invoice_load(&store, profiles, charges, period).await.map_err(|e| e.to_string())?;
    let seed = t.elapsed();
    let baseline = baseline_lines(&store, period).await.map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .args(["invoices", "run", "--period", "2025-06", "--data-dir", &dir.display().to_string(), "--database", &db])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut peak = 0;
    loop {
        if let Some(kib) = vm_hwm(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if !status.success() {
                return Err(format!("the run failed: {status}"));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let run = t.elapsed();
    let c = check_invoices(&store, period).await?;
    if c.lines != i64::try_from(charges).unwrap_or(0) || c.uninvoiced != 0 {
        return Err(format!("the run left {c:?}"));
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Some(Row { backend: backend.as_str(), profiles, charges, seed, baseline, run, peak_rss_kib: peak }))
}

fn main() {
    let quick = std::env::var("PB_BENCH_SCALE").is_ok_and(|s| s == "quick");
    let sizes: &[(usize, usize)] = if quick { &[(100, 10_000)] } else { &[(1_000, 100_000), (10_000, 1_000_000)] };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut rows = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for &(profiles, charges) in sizes {
            match rt.block_on(one(backend, profiles, charges)) {
                Ok(Some(r)) => {
                    eprintln!(
                        "{} {charges} charges: run {:.2?}, baseline {:.2?} ({:.2}x), peak RSS {} MiB",
                        r.backend,
                        r.run,
                        r.baseline,
                        r.run.as_secs_f64() / r.baseline.as_secs_f64(),
                        r.peak_rss_kib / 1024
                    );
                    rows.push(r);
                }
                Ok(None) => eprintln!("{}: skipped (set PB_TEST_DATABASE_URL)", backend.as_str()),
                Err(e) => {
                    eprintln!("{} {charges} charges: {e}", backend.as_str());
                    std::process::exit(1);
                }
            }
        }
    }
    let mut md = String::new();
    let _ = writeln!(md, "# Invoice run benchmark\n\n{}\n", machine());
    let _ = writeln!(
        md,
        "The run: `partner-billing invoices run` as a separate process (batches of 500 profiles, each one transaction), timed from \
         start to exit. The baseline: one `INSERT … SELECT` making the same lines into a table of the lines' shape, straight on the \
         same database, in the same run. Peak RSS: the run process's VmHWM.\n"
    );
    let _ = writeln!(md, "| database | profiles | charges | seed | baseline | run | run / baseline | peak RSS |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} s | {:.2} s | {:.2} s | {:.2}× | {} MiB |",
            r.backend,
            r.profiles,
            r.charges,
            r.seed.as_secs_f64(),
            r.baseline.as_secs_f64(),
            r.run.as_secs_f64(),
            r.run.as_secs_f64() / r.baseline.as_secs_f64(),
            r.peak_rss_kib / 1024
        );
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/invoice-run.md");
    let written = || std::fs::create_dir_all(out.parent().unwrap_or(std::path::Path::new("."))).and_then(|()| std::fs::write(&out, &md));
    if !quick && let Err(e) = written() {
        eprintln!("cannot write {}: {e}", out.display());
    }
    println!("{md}");
}
