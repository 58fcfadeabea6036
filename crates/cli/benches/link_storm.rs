//! W1 of the benchmarks (issue 11), the link storm: thousands of partners asked to link at once,
//! each global admin running the whole create-new flow (`POST /api/v1/billing-link/setup`) once, 64
//! at a time, on SQLite and on PostgreSQL.
//!
//! Baseline, in the same run: the same SQL transactions (`Store::setup_link`, the use case the
//! handler calls) issued straight against a database seeded the same way, same durability, same pool
//! size, 64 tasks in a tight loop: the ratio is what HTTP, the token check, the caller lookup and
//! JSON add. The HTTP side is driven by this file's own client (64 keep-alive HTTP/1.1 connections,
//! one request in flight on each, like `wrk -c64`) because every request needs a different tenant's
//! token exactly once, which `wrk` cannot stop after.
//!
//! `cargo bench -p partner-billing --bench link_storm`: 10 000 tenants per side and database;
//! `PB_BENCH_SCALE=quick` 300 (CI proves the bench runs). PostgreSQL runs when
//! `PB_TEST_DATABASE_URL` is set. With `PB_BENCH_JSON_DIR` set, the figures go to
//! `link-storm.json` there for `bench/run.py`.

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use pb_auth::DevIssuer;
use pb_domain::{DirectoryRole, DisplayName, SystemClock};
use pb_store::testing::fresh_database_url;
use pb_store::testing::link_load::{LinkTenant, seed_link_tenants};
use pb_store::{AccountChoice, Backend, ConnectOptions, NewBillingAccount, ProfileChoice, SetupCommand, Store, UserCtx};
use tokio::net::TcpStream;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");
const CONNECTIONS: usize = 64;
const BODY: &str =
    r#"{"billing_account":{"new":{"display_name":"Storm"}},"billing_profile":{"new":{"display_name":"Main"}},"accept_agreement":true}"#;

fn tenants() -> usize {
    if std::env::var("PB_BENCH_SCALE").as_deref() == Ok("quick") { 300 } else { 10_000 }
}

/// Throughput and latency of one side.
#[derive(Debug, Clone, serde::Serialize)]
struct Measure {
    requests: usize,
    errors: usize,
    seconds: f64,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Measure {
    fn of(mut lat: Vec<Duration>, errors: usize, took: Duration) -> Measure {
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            lat[i].as_secs_f64() * 1000.0
        };
        let requests = lat.len() + errors;
        Measure {
            requests,
            errors,
            seconds: took.as_secs_f64(),
            rps: requests as f64 / took.as_secs_f64(),
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
        }
    }
}

async fn seeded(backend: Backend, label: &str, n: usize) -> Result<Option<(String, Store, Vec<LinkTenant>)>, String> {
    let Some(url) = fresh_database_url(backend, label).await else { return Ok(None) };
    let store = Store::connect(&url, &ConnectOptions::default(), Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let list = seed_link_tenants(&store, n).await.map_err(|e| e.to_string())?;
    Ok(Some((url, store, list)))
}

fn command() -> Result<SetupCommand, String> {
    Ok(SetupCommand {
        account: AccountChoice::New(NewBillingAccount {
            display_name: Some(DisplayName::parse("Storm").map_err(|e| e.to_string())?),
            primary_contact: None,
        }),
        profile: ProfileChoice::New(DisplayName::parse("Main").map_err(|e| e.to_string())?),
        accept_agreement: true,
        accept_secondary_acknowledgement: false,
        if_match: None,
    })
}

/// The same transactions with no HTTP in front: `Store::setup_link` for each tenant, 64 at a time.
async fn baseline(backend: Backend, n: usize) -> Result<Option<Measure>, String> {
    let Some((_, store, list)) = seeded(backend, "bench_link_base", n).await? else { return Ok(None) };
    let mut callers = Vec::with_capacity(list.len());
    for t in &list {
        let user = store.get_user(t.tenant, t.admin).await.map_err(|e| e.to_string())?;
        callers.push(UserCtx::new(&user, None));
    }
    let callers = Arc::new(callers);
    let cmd = Arc::new(command()?);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (store, callers, cmd, next) = (store.clone(), callers.clone(), cmd.clone(), next.clone());
        tasks.spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cx) = callers.get(i) else { break };
                let t = Instant::now();
                match store.setup_link(cx, &cmd).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(e) => {
                        eprintln!("baseline setup failed: {e}");
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        });
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r.map_err(|e| e.to_string())?;
        lat.extend(l);
        errors += e;
    }
    let took = started.elapsed();
    store.close().await;
    Ok(Some(Measure::of(lat, errors, took)))
}

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn serve(db: &str, dir: &std::path::Path) -> Result<Server, String> {
    let port = pb_jobs::testing::free_port();
    let child = common::serve(BIN, db, dir, port)
        .args(["--rate-limit-per-minute", "100000000", "--rate-limit-per-principal", "100000000"])
        .spawn()
        .map_err(|e| e.to_string())?;
    let server = Server { child, port, dir: dir.to_path_buf() };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status().is_success()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not become ready".into())
}

/// The storm over HTTP against the real binary.
async fn over_http(backend: Backend, n: usize) -> Result<Option<Measure>, String> {
    let Some((url, store, list)) = seeded(backend, "bench_link_http", n).await? else { return Ok(None) };
    store.close().await;
    let dir = std::env::temp_dir().join(format!("pb-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // The server verifies with the dev issuer's key in its data folder: sign with the same key.
    let issuer = DevIssuer::load_or_create(&dir).map_err(|e| e.to_string())?;
    let mut tokens = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let mut c = issuer.claims(t.admin.to_string(), time::Duration::hours(2));
        c.tid = Some(t.tenant.to_string());
        c.oid = Some(t.admin.to_string());
        c.preferred_username = Some(format!("admin@storm-{i}.example"));
        c.name = Some("Storm admin".into());
        c.wids = vec![DirectoryRole::GlobalAdmin.template_id().to_owned()];
        tokens.push(format!("Bearer {}", issuer.sign(&c).map_err(|e| e.to_string())?));
    }
    let server = serve(&url, &dir).await?;
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (tokens, next, port) = (tokens.clone(), next.clone(), server.port);
        tasks.spawn(async move { client(port, &tokens, &next).await });
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r.map_err(|e| e.to_string())??;
        lat.extend(l);
        errors += e;
    }
    let took = started.elapsed();
    drop(server);
    Ok(Some(Measure::of(lat, errors, took)))
}

/// One keep-alive connection sending the next tenant's setup until none is left.
async fn client(port: u16, tokens: &[String], next: &AtomicUsize) -> Result<(Vec<Duration>, usize), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let (mut lat, mut errors) = (Vec::new(), 0usize);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(token) = tokens.get(i) else { break };
        let req = hyper::Request::post("/api/v1/billing-link/setup")
            .header("host", format!("127.0.0.1:{port}"))
            .header("authorization", token)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        send.ready().await.map_err(|e| e.to_string())?;
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        if status.is_success() {
            lat.push(t.elapsed());
        } else {
            if errors < 3 {
                eprintln!("setup answered {status}: {}", String::from_utf8_lossy(&body));
            }
            errors += 1;
        }
    }
    Ok((lat, errors))
}

fn line(name: &str, m: &Measure) -> String {
    format!(
        "{name:<28} {:>6} req {:>4} errors {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        m.requests, m.errors, m.rps, m.p50_ms, m.p99_ms
    )
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let n = tenants();
    println!("{}", common::machine());
    let mut out = serde_json::Map::new();
    out.insert("tenants".into(), n.into());
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(base) = baseline(backend, n).await? else {
            println!("{}: skipped (no PB_TEST_DATABASE_URL)", backend.as_str());
            continue;
        };
        let ours = over_http(backend, n).await?.ok_or("the database went away")?;
        println!("{}", line(&format!("{} baseline", backend.as_str()), &base));
        println!("{}", line(&format!("{} HTTP", backend.as_str()), &ours));
        println!("{} ratio {:.0}%", backend.as_str(), 100.0 * ours.rps / base.rps);
        if base.errors + ours.errors > 0 {
            return Err(format!("{}: {} baseline and {} HTTP errors", backend.as_str(), base.errors, ours.errors));
        }
        out.insert(backend.as_str().into(), serde_json::json!({"baseline": base, "ours": ours}));
    }
    if let Ok(dir) = std::env::var("PB_BENCH_JSON_DIR") {
        let path = std::path::Path::new(&dir).join("link-storm.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&out).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    Ok(())
}
