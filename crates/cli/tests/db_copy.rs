//! `partner-billing db copy` on the real binary: a database with the demo (seeded by the real
//! `serve --demo`) and a tenant with rows in every table is copied SQLite → PostgreSQL,
//! PostgreSQL → SQLite and SQLite → SQLite; the copy reads the same through the store as its
//! source, serves, and numbers the next invoice after the copied ones. A target with rows, a source
//! at another schema version and a copy that fails half way are refused or rolled back, and the
//! source is never written. PostgreSQL cases skip loudly without `PB_TEST_DATABASE_URL`.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pb_domain::{Clock, OfferId, PaymentInstrumentInput, Period, SystemClock, TestClock};
use pb_store::testing::every_table::{EveryTable, row_counts, seed_every_table};
use pb_store::testing::{audit_trail, fresh_database_url};
use pb_store::{AuditQuery, Backend, ConnectOptions, Ctx, NewPurchase, PaymentChoice, Store};
use time::macros::datetime;

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-copy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bin(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("PB_AUTH_ISSUER").env_remove("PB_DATABASE_URL").env_remove("PB_COPY_FROM").env_remove("PB_COPY_TO");
    cmd
}

fn db_copy(from: &str, to: &str) -> Output {
    bin(&["db", "copy", "--from", from, "--to", to]).output().unwrap()
}

async fn open(url: &str, clock: Arc<dyn Clock>) -> Store {
    Store::connect(url, &ConnectOptions::default(), clock).await.unwrap()
}

/// `serve` on `db` until it is ready; killed when dropped.
struct Serve {
    child: std::process::Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(db: &str, dir: &Path, extra: &[&str]) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
    let (listen, data_dir) = (format!("127.0.0.1:{port}"), dir.display().to_string());
    let log = std::fs::File::create(dir.join(format!("serve-{port}.log"))).unwrap();
    let child = bin(&["serve", "--listen", &listen, "--data-dir", &data_dir, "--database", db])
        .args(extra)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let s = Serve { child, base: format!("http://{listen}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/readyz", s.base)).await.is_ok_and(|r| r.status() == 200) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serve on {db} did not become ready: {}", std::fs::read_to_string(dir.join(format!("serve-{port}.log"))).unwrap_or_default());
}

/// A database of `backend` (already made by the caller) with the demo, seeded by the real
/// `serve --demo` and stopped with SIGTERM, and a tenant with rows in every table.
async fn seed_source(url: &str, dir: &Path) -> EveryTable {
    let mut demo = serve(url, dir, &["--demo"]).await;
    let stopped = Command::new("kill").args(["-TERM", &demo.child.id().to_string()]).status().unwrap();
    assert!(stopped.success() && demo.child.wait().unwrap().success(), "serve stops cleanly");
    let clock = Arc::new(TestClock::new(datetime!(2026-01-15 09:00 UTC)));
    let store = open(url, clock.clone()).await;
    let seeded = seed_every_table(&store, &clock).await.unwrap();
    let empty: Vec<_> = row_counts(&store).await.unwrap().into_iter().filter(|(_, n)| *n == 0).collect();
    assert!(empty.is_empty(), "the source has rows in every table, so that every table's copy is tested: {empty:?} are empty");
    store.close().await;
    seeded
}

/// The bytes of a SQLite database and its write-ahead log: what "never written" means for a file.
fn sqlite_bytes(url: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let path = url.strip_prefix("sqlite://")?;
    Some((std::fs::read(path).unwrap(), std::fs::read(format!("{path}-wal")).unwrap_or_default()))
}

/// Reads `$read` (an expression over `$s: &Store`) from both stores and requires the same answer.
macro_rules! same {
    ($src:expr, $dst:expr, $s:ident => $read:expr) => {{
        let left = {
            let $s = &$src;
            format!("{:#?}", $read)
        };
        let right = {
            let $s = &$dst;
            format!("{:#?}", $read)
        };
        assert_eq!(left, right, "{} differs between the source and the copy", stringify!($read));
        left
    }};
}

async fn carries_every_row_and_reads_the_same(from: Backend, to: Backend, test: &str) {
    // The PostgreSQL side first, so that a run without it skips before any work.
    let (src_url, dst_url) = if from == Backend::Postgres {
        let Some(src) = fresh_database_url(from, test).await else { return };
        (src, fresh_database_url(to, test).await.unwrap())
    } else {
        let Some(dst) = fresh_database_url(to, test).await else { return };
        (fresh_database_url(from, test).await.unwrap(), dst)
    };
    let dir = temp_dir();
    let w = seed_source(&src_url, &dir).await;
    let before = sqlite_bytes(&src_url);

    let started = Instant::now();
    let out = db_copy(&src_url, &dst_url);
    let took = started.elapsed();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    eprintln!("db copy {from:?} -> {to:?} took {took:?}:\n{stdout}");
    for t in pb_store::copy::TABLES {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{} ", t.name)) && l.ends_with("  ok")), "{} verified:\n{stdout}", t.name);
    }
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    assert_eq!(sqlite_bytes(&src_url), before, "the source file is never written");

    let (src, dst) = (open(&src_url, Arc::new(SystemClock)).await, open(&dst_url, Arc::new(SystemClock)).await);
    assert_eq!(row_counts(&src).await.unwrap(), row_counts(&dst).await.unwrap());
    // The same answers through the use cases: ids, times to the microsecond, booleans, NULLs, money.
    let ga = &w.ga;
    same!(src, dst, s => s.list_tenants().await.unwrap());
    same!(src, dst, s => s.partner_overview(w.tenant).await.unwrap());
    same!(src, dst, s => s.list_users(w.tenant).await.unwrap());
    same!(src, dst, s => s.current_link(ga).await.unwrap());
    same!(src, dst, s => s.link_history(ga, None).await.unwrap());
    let link = dst.current_link(ga).await.unwrap().0.unwrap();
    assert_eq!(link.billing_profile_id, w.linked_profile);
    let account = link.billing_account_id;
    same!(src, dst, s => s.agreement_acceptances(ga, account).await.unwrap());
    same!(src, dst, s => s.get_billing_account(ga, account).await.unwrap());
    let invoices = same!(src, dst, s => s.list_invoices(ga, w.invoiced_profile, None, None).await.unwrap());
    assert!(invoices.contains("PB-2026-000001"), "{invoices}");
    let invoice = src.list_invoices(ga, w.invoiced_profile, None, None).await.unwrap().items[0].id;
    same!(src, dst, s => s.get_invoice(ga, invoice).await.unwrap());
    same!(src, dst, s => s.list_purchases(ga, None, None, Some(200)).await.unwrap());
    same!(src, dst, s => s.list_invoice_runs(Some(50)).await.unwrap());
    let audit = same!(src, dst, s => audit_trail(s, w.tenant).await);
    assert!(audit.contains("req-copy-1"), "{audit}");
    same!(src, dst, s => s.list_audit(ga, &AuditQuery { limit: Some(200), ..Default::default() }).await.unwrap());
    same!(src, dst, s => s.list_notifications(ga, None, Some(200)).await.unwrap());
    let outbox = same!(src, dst, s => s.list_outbox(None, None, Some(200)).await.unwrap());
    assert!(outbox.contains("second line") && outbox.contains("Sent"), "{outbox}");
    same!(src, dst, s => s.web_session(&w.session_hash).await.unwrap());
    same!(src, dst, s => s.list_offers(false).await.unwrap());

    // New rows after the copy continue where the source stopped: the next invoice number follows.
    let clock = Arc::new(TestClock::new(datetime!(2026-02-10 10:00 UTC)));
    let dst = dst.with_clock(clock.clone());
    let card =
        PaymentInstrumentInput { kind: Some("card".into()), token: Some("tok_after".into()), display_hint: Some("Visa 1881".into()) };
    let payment = PaymentChoice::New(card.parse().unwrap());
    let buy = NewPurchase { offer_id: OfferId::parse("copy-designation").unwrap(), quantity: 1, invoice_section_id: None, payment };
    dst.create_purchase(ga, &buy).await.unwrap();
    clock.set(datetime!(2026-03-01 00:05 UTC));
    dst.run_invoices(&Ctx::system(), Period::parse("2026-02").unwrap(), &mut ()).await.unwrap();
    let next = dst.list_invoices(ga, w.linked_profile, None, None).await.unwrap();
    assert_eq!(next.items.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(), vec!["PB-2026-000002"]);
    src.close().await;
    dst.close().await;

    // And the copy serves: the seeded admin sees the link and the invoice, the demo admin signs in.
    let server = serve(&dst_url, &dir, &[]).await;
    let token = |tenant: &str, user: &str| {
        let out = bin(&["token", "--tenant", tenant, "--user", user, "--data-dir", &dir.display().to_string(), "--database", &dst_url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let get = |path: String, token: String| {
        let url = format!("{}{path}", server.base);
        async move {
            let r = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let ga_token = token(&w.domain, &w.ga_email);
    let (status, account) = get("/api/v1/partner-account".into(), ga_token.clone()).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["billing_link"]["billing_profile_id"], w.linked_profile.to_string());
    let (status, invoices) = get(format!("/api/v1/billing-profiles/{}/invoices", w.invoiced_profile), ga_token).await;
    assert_eq!((status, &invoices["items"][0]["number"]), (200, &serde_json::json!("PB-2026-000001")), "{invoices}");
    let (status, me) = get("/api/v1/me".into(), token("contoso.onmicrosoft.com", "admin@contoso.onmicrosoft.com")).await;
    assert_eq!((status, &me["tenant"]["domain"]), (200, &serde_json::json!("contoso.onmicrosoft.com")), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_db_copy_carries_every_row_and_reads_the_same() {
    carries_every_row_and_reads_the_same(Backend::Sqlite, Backend::Postgres, "sqlite_to_postgres_db_copy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_sqlite_db_copy_carries_every_row_and_reads_the_same() {
    carries_every_row_and_reads_the_same(Backend::Postgres, Backend::Sqlite, "postgres_to_sqlite_db_copy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_sqlite_db_copy_carries_every_row_and_reads_the_same() {
    carries_every_row_and_reads_the_same(Backend::Sqlite, Backend::Sqlite, "sqlite_to_sqlite_db_copy").await;
}

/// A migrated SQLite database with one tenant, made through the store.
async fn small_sqlite_source(dir: &Path) -> String {
    let url = format!("sqlite://{}/source.db", dir.display());
    let store = open(&url, Arc::new(SystemClock)).await;
    store.migrate().await.unwrap();
    store.create_tenant(&Ctx::operator("t", None), &pb_domain::DisplayName::parse("Source").unwrap(), "source.example").await.unwrap();
    store.close().await;
    url
}

async fn refuses_a_non_empty_target(to: Backend, test: &str) {
    let Some(dst_url) = fresh_database_url(to, test).await else { return };
    let dst = open(&dst_url, Arc::new(SystemClock)).await;
    dst.migrate().await.unwrap();
    dst.create_tenant(&Ctx::operator("t", None), &pb_domain::DisplayName::parse("Already").unwrap(), "already.example").await.unwrap();
    let before = row_counts(&dst).await.unwrap();
    let src_url = small_sqlite_source(&temp_dir()).await;
    let out = db_copy(&src_url, &dst_url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("is not empty, rows per table: tenants 1"), "{stderr}");
    assert_eq!(row_counts(&dst).await.unwrap(), before, "the target is left as it was");
    dst.close().await;
}

#[tokio::test]
async fn postgres_db_copy_refuses_a_non_empty_target() {
    refuses_a_non_empty_target(Backend::Postgres, "postgres_db_copy_refuses_a_non_empty_target").await;
}

#[tokio::test]
async fn sqlite_db_copy_refuses_a_non_empty_target() {
    refuses_a_non_empty_target(Backend::Sqlite, "sqlite_db_copy_refuses_a_non_empty_target").await;
}

/// A time the store cannot read, in the last table copied: every table before it was already
/// written in the target's transaction when the copy fails; it rolls back, and once the source is
/// mended the same target takes the copy.
async fn a_copy_that_fails_half_way_leaves_the_target_empty(to: Backend, test: &str) {
    let Some(dst_url) = fresh_database_url(to, test).await else { return };
    let src_url = small_sqlite_source(&temp_dir()).await;
    let src = open(&src_url, Arc::new(SystemClock)).await;
    let last = pb_store::copy::TABLES.last().unwrap().name;
    assert_eq!(last, "invoice_runs", "the test breaks the last table copied");
    let mut tx = src.db().begin_write().await.unwrap();
    tx.execute("INSERT INTO invoice_runs (id, period, started_by, started_at) VALUES ('run-1', '2026-01', 'op', 'yesterday')", vec![])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let out = db_copy(&src_url, &dst_url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("copying invoice_runs") && stderr.contains("started_at"), "{stderr}");
    assert!(stderr.contains("copied tenants: 1 rows"), "tenants were written before the failure: {stderr}");
    let dst = open(&dst_url, Arc::new(SystemClock)).await;
    let filled: Vec<_> = row_counts(&dst).await.unwrap().into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(filled.is_empty(), "rolled back: {filled:?}");
    let mut tx = src.db().begin_write().await.unwrap();
    tx.execute("UPDATE invoice_runs SET started_at = '2026-02-01T00:00:00.000000Z'", vec![]).await.unwrap();
    tx.commit().await.unwrap();
    let again = db_copy(&src_url, &dst_url);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(row_counts(&dst).await.unwrap(), row_counts(&src).await.unwrap());
    src.close().await;
    dst.close().await;
}

#[tokio::test]
async fn postgres_db_copy_that_fails_half_way_leaves_the_target_empty() {
    a_copy_that_fails_half_way_leaves_the_target_empty(Backend::Postgres, "postgres_db_copy_that_fails_half_way").await;
}

#[tokio::test]
async fn sqlite_db_copy_that_fails_half_way_leaves_the_target_empty() {
    a_copy_that_fails_half_way_leaves_the_target_empty(Backend::Sqlite, "sqlite_db_copy_that_fails_half_way").await;
}

/// The copy never migrates or creates its source: a source at another schema version, one that
/// does not exist and the target itself are refused before the target is touched.
#[tokio::test]
async fn db_copy_refuses_a_source_it_cannot_copy_and_never_writes_to_it() {
    let dir = temp_dir();
    let src_url = small_sqlite_source(&dir).await;
    let dst_path = dir.join("target.db");
    let dst_url = format!("sqlite://{}", dst_path.display());

    let src = open(&src_url, Arc::new(SystemClock)).await;
    let mut tx = src.db().begin_write().await.unwrap();
    tx.execute("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)", vec![]).await.unwrap();
    tx.commit().await.unwrap();
    src.close().await;
    let before = sqlite_bytes(&src_url);
    let out = db_copy(&src_url, &dst_url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is at schema version 9, this partner-billing's is 10: run `partner-billing migrate --database"), "{stderr}");
    assert_eq!(sqlite_bytes(&src_url), before, "not migrated by the copy");
    assert!(!dst_path.exists(), "the target is not touched");

    let missing = format!("sqlite://{}/nowhere.db", dir.display());
    let out = db_copy(&missing, &dst_url);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"), "{out:?}");
    assert!(!dir.join("nowhere.db").exists(), "a missing source is not created");

    let out = db_copy(&src_url, &src_url);
    assert!(String::from_utf8_lossy(&out.stderr).contains("the same database"), "{out:?}");
}

#[test]
fn db_copy_help_says_what_it_needs() {
    let out = bin(&["db", "copy", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needed in ["--from", "--to", "PB_COPY_FROM", "never written", "empty", "Stop every serve"] {
        assert!(help.contains(needed), "{needed}: {help}");
    }
}
