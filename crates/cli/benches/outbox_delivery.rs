//! Email delivery through the real binary to a real SMTP server on loopback (rule T4), on each
//! database: latency from the event's commit to the SMTP server's acceptance, p50/p99, at a steady
//! trickle of events; and throughput for a burst, against a baseline measured in the same run: the
//! same emails composed and sent by the same SMTP transport straight from memory, no database.
//!
//! `cargo bench -p partner-billing --bench outbox_delivery`; `PB_BENCH_SCALE=quick` runs small
//! sizes only (CI proves the bench runs). PostgreSQL runs when `PB_TEST_DATABASE_URL` is set.
//! Needs python3-aiosmtpd. Writes `bench/outbox-delivery.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pb_domain::PartnerAccountState;
use pb_domain::SystemClock;
use pb_jobs::testing::{SmtpSink, free_port};
use pb_jobs::{Letterhead, Transport};
use pb_store::testing::fresh_database_url;
use pb_store::testing::mail::{activate_partner, put_partner, tenant_with_admins};
use pb_store::{Backend, ConnectOptions, OutboxMessage, Store, Ts};

mod common;

use common::machine;

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");
const PUBLIC: &str = "https://billing.example.com";

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

struct Node {
    child: Child,
    dir: std::path::PathBuf,
    base: String,
}

impl Node {
    async fn start(db: &str, smtp: &str, poll_ms: u64) -> Res<Node> {
        let dir = std::env::temp_dir().join(format!("pb-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(err)?;
        let port = free_port();
        let child = common::serve(BIN, db, &dir, port)
            .args(["--smtp-url", smtp, "--public-url", PUBLIC, "--outbox-poll-ms", &poll_ms.to_string()])
            .env_remove("PB_AUTH_ISSUER")
            .spawn()
            .map_err(err)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("serve did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Node { child, dir, base: format!("http://127.0.0.1:{port}") })
    }

    /// An operator's bearer token from the node's dev issuer.
    fn operator_token(&self, db: &str) -> Res<String> {
        let out = Command::new(BIN)
            .args(["operator-token", "--data-dir", &self.dir.display().to_string(), "--database", db])
            .env_remove("PB_AUTH_ISSUER")
            .output()
            .map_err(err)?;
        if !out.status.success() {
            return Err(format!("operator-token: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// A fresh, migrated database: the store on it and its URL, for the binary.
async fn open(backend: Backend, test: &str) -> Res<Option<(Store, String)>> {
    let Some(db) = fresh_database_url(backend, test).await else { return Ok(None) };
    let store = Store::connect(&db, &ConnectOptions::default(), Arc::new(SystemClock)).await.map_err(err)?;
    store.migrate().await.map_err(err)?;
    Ok(Some((store, db)))
}

async fn wait_for(sink: &SmtpSink, n: usize) -> Res<Vec<pb_jobs::testing::Received>> {
    let got = sink.wait_for(n, Duration::from_secs(600)).await;
    if got.len() < n { Err(format!("only {} of {n} emails arrived", got.len())) } else { Ok(got) }
}

struct Latency {
    backend: &'static str,
    /// Where the events were committed: through this node's API, or by another process.
    source: &'static str,
    poll_ms: u64,
    events: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `events` link prompts, one every `gap`, each its own committed transaction: an operator
/// activating a partner account through the node's API (`via_api`), or another process committing
/// the same change straight to the database. The latency of each is the SMTP server's acceptance
/// time minus the time the commit returned.
async fn latency(backend: Backend, via_api: bool, poll_ms: u64, events: usize, gap: Duration) -> Res<Option<Latency>> {
    let Some((store, db)) = open(backend, "bench_outbox_latency").await? else { return Ok(None) };
    let Some(sink) = SmtpSink::start(&format!("bench-latency-{}-{via_api}-{poll_ms}", backend.as_str())) else { return Ok(None) };
    let mut tenants = Vec::new();
    for _ in 0..events {
        let (tenant, domain) = tenant_with_admins(&store, 1).await.map_err(err)?;
        put_partner(&store, tenant, PartnerAccountState::Suspended).await.map_err(err)?;
        tenants.push((tenant, domain));
    }
    let node = Node::start(&db, &sink.url(), poll_ms).await?;
    let http = reqwest::Client::new();
    let token = node.operator_token(&db)?;
    let mut committed = HashMap::new();
    for (tenant, domain) in &tenants {
        let next = Instant::now() + gap;
        if via_api {
            let r = http
                .patch(format!("{}/api/v1/tenants/{tenant}/partner-account", node.base))
                .bearer_auth(&token)
                .json(&serde_json::json!({"state": "active"}))
                .send()
                .await
                .map_err(err)?;
            if !r.status().is_success() {
                return Err(format!("activate: {}", r.status()));
            }
        } else {
            activate_partner(&store, *tenant).await.map_err(err)?;
        }
        committed.insert(format!("admin-0@{domain}"), unix_now());
        tokio::time::sleep_until(next.into()).await;
    }
    let got = wait_for(&sink, events).await?;
    let mut ms: Vec<f64> = got.iter().filter_map(|r| committed.get(r.to.first()?).map(|c| (r.at - c) * 1000.0)).collect();
    ms.sort_by(f64::total_cmp);
    store.close().await;
    Ok(Some(Latency {
        backend: backend.as_str(),
        source: if via_api { "this node's API" } else { "another process" },
        poll_ms,
        events,
        p50_ms: percentile(&ms, 0.50),
        p99_ms: percentile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or_default(),
    }))
}

struct Throughput {
    backend: &'static str,
    emails: usize,
    baseline: Duration,
    run: Duration,
    peak_rss_kib: u64,
}

/// The same `n` emails, composed and sent one at a time by the same transport, from memory.
async fn direct_smtp(n: usize) -> Res<Option<Duration>> {
    let Some(sink) = SmtpSink::start("bench-direct") else { return Ok(None) };
    let transport = Transport::smtp(&sink.url(), Duration::from_secs(30)).map_err(err)?;
    let letterhead = Letterhead::new(PUBLIC, None).map_err(err)?;
    let start = Instant::now();
    for i in 0..n {
        let m = OutboxMessage {
            id: format!("em_bench{i:06}"),
            tenant_id: "t".into(),
            to_address: format!("admin-{i}@bench.example"),
            subject: "Link a billing account and profile".into(),
            body: "Partner program purchases moved to the new commerce platform.".into(),
            action_url: Some("/account/billing-profile".into()),
            created_at: Ts(time::OffsetDateTime::now_utc()),
            attempts: 0,
        };
        let email = letterhead.compose(&m).map_err(err)?;
        transport.send(&m.id, email).await.map_err(err)?;
    }
    let took = start.elapsed();
    wait_for(&sink, n).await?;
    Ok(Some(took))
}

/// `n` emails committed at once while a node is up; from the commit to the last acceptance.
async fn throughput(backend: Backend, n: usize, baseline: Duration) -> Res<Option<Throughput>> {
    let Some((store, db)) = open(backend, "bench_outbox_throughput").await? else { return Ok(None) };
    let Some(sink) = SmtpSink::start(&format!("bench-throughput-{}-{n}", backend.as_str())) else { return Ok(None) };
    let (tenant, _) = tenant_with_admins(&store, n).await.map_err(err)?;
    let node = Node::start(&db, &sink.url(), 500).await?;
    let t0 = unix_now();
    activate_partner(&store, tenant).await.map_err(err)?;
    let got = wait_for(&sink, n).await?;
    let last = got.iter().map(|r| r.at).fold(0.0, f64::max);
    let peak = node.peak_rss_kib();
    store.close().await;
    Ok(Some(Throughput {
        backend: backend.as_str(),
        emails: n,
        baseline,
        run: Duration::from_secs_f64((last - t0).max(0.0)),
        peak_rss_kib: peak,
    }))
}

fn main() {
    let quick = std::env::var("PB_BENCH_SCALE").is_ok_and(|s| s == "quick");
    let (events, gap) = if quick { (20, Duration::from_millis(50)) } else { (300, Duration::from_millis(50)) };
    let bursts: &[usize] = if quick { &[100] } else { &[1_000, 5_000] };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no runtime: {e}");
            std::process::exit(1);
        }
    };
    let fail = |e: String| -> ! {
        eprintln!("outbox bench: {e}");
        std::process::exit(1);
    };
    let mut lat = Vec::new();
    let mut thr = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for (via_api, poll_ms) in [(true, 500), (false, 500), (false, 50)] {
            match rt.block_on(latency(backend, via_api, poll_ms, events, gap)) {
                Ok(Some(l)) => {
                    eprintln!("{} {} poll {poll_ms} ms: p50 {:.0} ms, p99 {:.0} ms", l.backend, l.source, l.p50_ms, l.p99_ms);
                    lat.push(l);
                }
                Ok(None) => eprintln!("{}: skipped (PostgreSQL or aiosmtpd missing)", backend.as_str()),
                Err(e) => fail(e),
            }
        }
        for &n in bursts {
            let baseline = match rt.block_on(direct_smtp(n)) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => fail(e),
            };
            match rt.block_on(throughput(backend, n, baseline)) {
                Ok(Some(t)) => {
                    eprintln!("{} {n} emails: {:.2?} (direct SMTP {:.2?})", t.backend, t.run, t.baseline);
                    thr.push(t);
                }
                Ok(None) => {}
                Err(e) => fail(e),
            }
        }
    }
    let mut md = String::new();
    let _ = writeln!(md, "# Outbox delivery benchmark\n\n{}\n", machine());
    let _ = writeln!(
        md,
        "The real `partner-billing serve` sending to a real SMTP server on loopback (aiosmtpd, `tests/smtp/sink.py`).\n\n\
         ## Latency: event committed → SMTP server accepted\n\n{events} link prompts, one every {} ms, each its own \
         transaction, committed either by an operator's request to the node's API (the node's own commit wakes its \
         dispatcher) or by another process (another node: found at the dispatcher's next poll, `--outbox-poll-ms`, default \
         500); measured from the moment the commit returned to the moment the server accepted the message.\n",
        gap.as_millis()
    );
    let _ = writeln!(md, "| database | committed by | poll | events | p50 | p99 | max |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
    for l in &lat {
        let _ = writeln!(
            md,
            "| {} | {} | {} ms | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
            l.backend, l.source, l.poll_ms, l.events, l.p50_ms, l.p99_ms, l.max_ms
        );
    }
    let _ = writeln!(
        md,
        "\n## Throughput: a burst\n\nOne transaction queues N emails (a partner account with N global admins becomes active); \
         measured from its commit to the last acceptance. The baseline, in the same run: the same number of emails composed \
         and sent one at a time by the same SMTP transport straight from memory, no database. Peak RSS: the serve process's VmHWM.\n"
    );
    let _ = writeln!(md, "| database | emails | baseline | run | run / baseline | emails/s | peak RSS |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for t in &thr {
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} s | {:.2} s | {:.2}× | {:.0} | {} MiB |",
            t.backend,
            t.emails,
            t.baseline.as_secs_f64(),
            t.run.as_secs_f64(),
            t.run.as_secs_f64() / t.baseline.as_secs_f64(),
            t.emails as f64 / t.run.as_secs_f64(),
            t.peak_rss_kib / 1024
        );
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/outbox-delivery.md");
    if !quick && let Err(e) = std::fs::write(&out, &md) {
        eprintln!("cannot write {}: {e}", out.display());
    }
    println!("{md}");
}
