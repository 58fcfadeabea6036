//! W4 of the benchmarks (issue 11), cold start: from process start to `/readyz` answering 200, on a
//! database holding 1 000 000 purchases (10 000 billing profiles), against the same binary starting
//! on an empty database in the same run; and the size of the release binary.
//!
//! `cargo bench -p partner-billing --bench cold_start`; `PB_BENCH_SCALE=quick` seeds 10 000
//! purchases (CI proves the bench runs). PostgreSQL runs when `PB_TEST_DATABASE_URL` is set. With
//! `PB_BENCH_JSON_DIR` set, the figures go to `cold-start.json` there for `bench/run.py`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pb_domain::{Period, SystemClock};
use pb_store::testing::fresh_database_url;
use pb_store::testing::load::seed_invoice_load;
use pb_store::{Backend, ConnectOptions, Store};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");
const ROUNDS: usize = 5;

fn purchases() -> (usize, usize) {
    if std::env::var("PB_BENCH_SCALE").as_deref() == Ok("quick") { (100, 10_000) } else { (10_000, 1_000_000) }
}

/// A database of `backend` migrated and, with `load`, seeded with that many (profiles, purchases).
async fn database(backend: Backend, label: &str, load: Option<(usize, usize)>) -> Result<Option<String>, String> {
    let Some(url) = fresh_database_url(backend, label).await else { return Ok(None) };
    let store = Store::connect(&url, &ConnectOptions::default(), Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    if let Some((profiles, charges)) = load {
        let period = Period::parse("2025-06").map_err(|e| e.to_string())?;
        seed_invoice_load(&store, profiles, charges, period).await.map_err(|e| e.to_string())?;
    }
    store.close().await;
    Ok(Some(url))
}

/// Median of `ROUNDS` starts: spawn `serve`, poll `/readyz` every 2 ms, stop it.
async fn start_to_ready(db: &str) -> Result<Duration, String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().map_err(|e| e.to_string())?;
    let mut took = Vec::new();
    for _ in 0..ROUNDS {
        let dir = std::env::temp_dir().join(format!("pb-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = pb_jobs::testing::free_port();
        let started = Instant::now();
        let mut child = common::serve(BIN, db, &dir, port).spawn().map_err(|e| e.to_string())?;
        let url = format!("http://127.0.0.1:{port}/readyz");
        let ready = loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                break Some(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(60) || child.try_wait().ok().flatten().is_some() {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        took.push(ready.ok_or("the server did not become ready")?);
    }
    took.sort_unstable();
    Ok(took[ROUNDS / 2])
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let (profiles, charges) = purchases();
    println!("{}", common::machine());
    let size = std::fs::metadata(BIN).map_err(|e| e.to_string())?.len();
    println!("binary {BIN}: {:.1} MiB", size as f64 / 1048576.0);
    let mut out = serde_json::Map::new();
    out.insert("binary_bytes".into(), size.into());
    out.insert("purchases".into(), charges.into());
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(empty) = database(backend, "bench_cold_empty", None).await? else {
            println!("{}: skipped (no PB_TEST_DATABASE_URL)", backend.as_str());
            continue;
        };
        let base = start_to_ready(&empty).await?;
        let t = Instant::now();
        let loaded = database(backend, "bench_cold_loaded", Some((profiles, charges))).await?.ok_or("the database went away")?;
        println!("{}: seeded {charges} purchases in {:.1} s", backend.as_str(), t.elapsed().as_secs_f64());
        let ours = start_to_ready(&loaded).await?;
        println!(
            "{}: start to ready {:.0} ms with {charges} purchases, {:.0} ms empty",
            backend.as_str(),
            ours.as_secs_f64() * 1000.0,
            base.as_secs_f64() * 1000.0
        );
        out.insert(
            backend.as_str().into(),
            serde_json::json!({"empty_ms": base.as_secs_f64() * 1000.0, "loaded_ms": ours.as_secs_f64() * 1000.0}),
        );
    }
    if let Ok(dir) = std::env::var("PB_BENCH_JSON_DIR") {
        let path = std::path::Path::new(&dir).join("cold-start.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&out).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    Ok(())
}
