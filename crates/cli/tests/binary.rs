//! The real binary: serve --demo, token, operator-token, migrate, graceful shutdown; on SQLite and,
//! when configured, PostgreSQL.
// Helpers and the plain `async fn` test bodies that `both_backends!` wraps are not `#[test]`s, so
// clippy's `allow-unwrap-in-tests` cannot see that they are test code.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pb_store::Backend;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");

struct Server {
    child: Child,
    base: String,
    dir: PathBuf,
    db: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18099)
}

fn cli(dir: &Path, db: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .args(["--data-dir", &dir.display().to_string(), "--database", db])
        .env_remove("PB_AUTH_ISSUER")
        .output()
        .unwrap()
}

async fn start(db: String, demo: bool) -> Server {
    start_with(db, demo, &[]).await
}

async fn start_with(db: String, demo: bool, extra: &[&str]) -> Server {
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir", &dir.display().to_string(), "--database", &db]);
    if demo {
        cmd.arg("--demo");
    }
    cmd.args(extra);
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = cmd.stdout(Stdio::from(log.try_clone().unwrap())).stderr(Stdio::from(log)).spawn().unwrap();
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), dir, db };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await
            && r.status() == 200
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become healthy: {}", std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default());
}

async fn call(method: reqwest::Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn token_of(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn demo_then_token_then_me(backend: Backend) {
    let Some(db) = pb_store::testing::fresh_database_url(backend, "binary_demo").await else { return };
    let mut s = start(db.clone(), true).await;
    let token = token_of(cli(&s.dir, &s.db, &["token", "--tenant", "contoso.onmicrosoft.com", "--user", "admin@contoso.onmicrosoft.com"]));
    let (status, me) = call(reqwest::Method::GET, format!("{}/api/v1/me", s.base), &token, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["global_admin"], true);
    assert_eq!(me["tenant"]["domain"], "contoso.onmicrosoft.com");
    let (_, pa) = call(reqwest::Method::GET, format!("{}/api/v1/partner-account", s.base), &token, None).await;
    assert_eq!(pa["state"], "active");

    // The operator provisions a new tenant that then works the same way.
    let op = token_of(cli(&s.dir, &s.db, &["operator-token"]));
    let (st, t) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/tenants", s.base),
        &op,
        Some(json!({"name": "Tailspin", "domain": "tailspin.example"})),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    let tid = t["id"].as_str().unwrap_or_default().to_owned();
    let (st, _) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/tenants/{tid}/users", s.base),
        &op,
        Some(json!({"email": "boss@tailspin.example", "display_name": "Boss", "directory_roles": ["global_admin"]})),
    )
    .await;
    assert_eq!(st, 201);
    let user_token = token_of(cli(&s.dir, &s.db, &["token", "--tenant", &tid, "--user", "boss@tailspin.example", "--ttl", "10m"]));
    let (st, me) = call(reqwest::Method::GET, format!("{}/api/v1/me", s.base), &user_token, None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["tenant"]["id"], tid.as_str());

    // A restart with --demo duplicates nothing.
    let (_, before) = call(reqwest::Method::GET, format!("{}/api/v1/tenants", s.base), &op, None).await;
    #[cfg(unix)]
    {
        let pid = s.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().map(|s| s.success()).unwrap_or(false);
        assert!(killed);
        let status = s.child.wait().unwrap();
        assert!(status.success(), "SIGTERM is a graceful, successful stop: {status:?}");
    }
    let s2 = start(db, true).await;
    let op2 = token_of(cli(&s2.dir, &s2.db, &["operator-token"]));
    let (_, after) = call(reqwest::Method::GET, format!("{}/api/v1/tenants", s2.base), &op2, None).await;
    assert_eq!(before["items"].as_array().map(Vec::len), after["items"].as_array().map(Vec::len));
    assert_eq!(after["items"].as_array().map(Vec::len), Some(4));
    // A token of another data dir's dev issuer is refused.
    let (st, _) = call(reqwest::Method::GET, format!("{}/api/v1/me", s2.base), &token, None).await;
    assert_eq!(st, 401);
    let log = std::fs::read_to_string(s.dir.join("server.log")).unwrap_or_default();
    assert!(!log.contains(&token), "tokens never reach the log");
}

#[tokio::test]
async fn sqlite_demo_then_token_then_me() {
    demo_then_token_then_me(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_demo_then_token_then_me() {
    demo_then_token_then_me(Backend::Postgres).await;
}

#[test]
fn token_is_refused_with_an_external_issuer() {
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(BIN)
        .args(["token", "--tenant", "x", "--user", "y", "--data-dir", &dir.display().to_string()])
        .env("PB_AUTH_ISSUER", "https://login.example.com")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("external issuer"));
}

#[test]
fn unsupported_database_scheme_is_refused_clearly() {
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    let out = cli(&dir, "mysql://root@localhost/x", &["migrate"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use sqlite://PATH or postgres://"), "{err}");
}

#[test]
fn migrate_applies_and_is_repeatable() {
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/m.db", dir.display());
    for _ in 0..2 {
        let out = cli(&dir, &db, &["migrate"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Found on the running binary: the data directory (signing key, sessions, every tenant's data) and
/// the SQLite file were created world-readable under the usual umask.
#[tokio::test]
async fn hardening_the_data_dir_is_0700_and_the_database_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir", &dir.display().to_string()])
        .env_remove("PB_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.map(|r| r.status() != 200).unwrap_or(true)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    let (dir_mode, db_mode) = (mode(&dir), mode(&dir.join("partner-billing.db")));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(dir_mode, 0o700, "data dir");
    assert_eq!(db_mode, 0o600, "database file");
}

/// `--demo` signs anyone in as anyone: on an address other hosts reach it needs an explicit second flag.
#[test]
fn hardening_demo_on_a_public_address_needs_an_explicit_flag() {
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(BIN)
        .args(["serve", "--demo", "--listen", &format!("0.0.0.0:{}", free_port()), "--data-dir", &dir.display().to_string()])
        .env_remove("PB_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--demo-on-public-address"), "{err}");
}

/// Found on the running binary: 2 000 connections that sent half a request header were all held
/// open indefinitely. Now a header has a deadline, and one address holds a bounded number of
/// connections.
#[tokio::test]
async fn hardening_slow_clients_are_cut_off_and_connections_capped_per_address() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("pb-bin-{}", uuid::Uuid::new_v4().simple()));
    let db = format!("sqlite://{}/slow.db", dir.display());
    std::fs::create_dir_all(&dir).unwrap();
    let s = start_with(db, false, &["--header-read-timeout", "1", "--max-connections-per-ip", "4"]).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // The readiness check's keep-alive connection must be gone first, or it holds one of the four.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        slow.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth connection from the same address is closed at once.
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), fifth.read(&mut buf)).await.expect("closed, not left hanging").unwrap_or(0);
    let log = std::fs::read_to_string(s.dir.join("server.log")).unwrap_or_default();
    assert_eq!(n, 0, "over the cap: {:?}\n{log}", String::from_utf8_lossy(&buf[..n]));
    // The slow ones are cut off once their header is late.
    for c in &mut slow {
        let r = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
        assert!(r.is_ok(), "a half-sent header is not held open");
    }
    drop(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Their slots are free again: an ordinary request goes through.
    let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
}
