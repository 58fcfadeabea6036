//! The outbox through the real binary and a real SMTP server (rule T4): killed mid-dispatch and
//! restarted, every email arrives and at most the one in flight twice, with the same Message-ID;
//! two `serve` nodes on one PostgreSQL deliver 1 000 emails exactly once between them; SMTP without
//! a public URL is refused.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pb_domain::{OutboxState, SystemClock};
use pb_jobs::testing::{Received, SmtpSink, free_port};
use pb_store::testing::{fresh_database_url, mail::queue_link_prompts};
use pb_store::{Backend, ConnectOptions, Store};

const BIN: &str = env!("CARGO_BIN_EXE_partner-billing");

struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(dir: &Path, db: &str, smtp: &str, name: &str) -> Node {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir", &dir.display().to_string(), "--database", db])
            .args(["--smtp-url", smtp, "--public-url", "https://billing.example.com"])
            // A short lease, so that the emails of a killed node are taken up again within seconds.
            .args(["--outbox-lease-secs", "3", "--outbox-poll-ms", "50", "--outbox-backoff-secs", "1"])
            .env_remove("PB_AUTH_ISSUER")
            .env("PB_LOG", "info,sqlx=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Node { child, log }
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
    }

    /// Waits until the node logged that it listens (its dispatcher is running by then): under a
    /// loaded test run a node can take seconds to start, and then the other drains everything.
    async fn listening(&self) {
        for _ in 0..600 {
            if std::fs::read_to_string(&self.log).unwrap_or_default().contains("\"listening\"") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("node did not start: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    fn sent(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().filter(|l| l.contains("\"email sent\"")).count()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open(db: &str) -> Store {
    let store = Store::connect(db, &ConnectOptions::default(), Arc::new(SystemClock)).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn per_message_id(got: &[Received]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in got {
        *m.entry(r.message_id.clone()).or_default() += 1;
    }
    m
}

async fn distinct_within(sink: &SmtpSink, n: usize, timeout: Duration) -> Vec<Received> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = sink.received();
        if per_message_id(&got).len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn rule_t4_killed_mid_dispatch_then_restarted(backend: Backend) {
    let test = "rule_t4_killed_mid_dispatch_then_restarted";
    let Some(db) = fresh_database_url(backend, test).await else { return };
    let Some(mut sink) = SmtpSink::down(&format!("{test}-{}", backend.as_str())) else { return };
    // The server keeps each message 20 ms before it answers: the kill most likely lands in the
    // window where the server has the email and the node has not heard so.
    sink.delay = Duration::from_millis(20);
    sink.up();
    let dir = std::env::temp_dir().join(format!("pb-outbox-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = open(&db).await;
    queue_link_prompts(&store, 300).await.unwrap();

    let first = Node::start(&dir, &db, &sink.url(), "first");
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.received().len() < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.signal("-KILL");
    let at_kill = sink.received().len();
    let sent_rows = store.list_outbox(Some(OutboxState::Sent), None, Some(200)).await.unwrap().items.len();
    assert!((40..300).contains(&at_kill), "killed mid-dispatch: {at_kill} of 300 had arrived");
    drop(first);

    let second = Node::start(&dir, &db, &sink.url(), "second");
    let got = distinct_within(&sink, 300, Duration::from_secs(120)).await;
    // Let anything still on its way arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.signal("-TERM");
    let got_all = sink.received();
    let per_id = per_message_id(&got_all);
    eprintln!("killed with {at_kill} received and {sent_rows} marked sent; {} received in all", got_all.len());
    assert_eq!(per_id.len(), 300, "every email delivered: {} distinct of {}", per_id.len(), got.len());
    let resent: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(resent.len() <= 1 && resent.iter().all(|(_, n)| **n == 2), "at most the one in flight was sent again: {resent:?}");
    assert_eq!(got_all.len(), 300 + resent.len());
    let pending = store.list_outbox(Some(OutboxState::Pending), None, None).await.unwrap().items;
    assert!(pending.is_empty(), "all marked sent: {pending:?}");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rule_t4_killed_mid_dispatch_then_restarted() {
    rule_t4_killed_mid_dispatch_then_restarted(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rule_t4_killed_mid_dispatch_then_restarted() {
    rule_t4_killed_mid_dispatch_then_restarted(Backend::Postgres).await;
}

/// Two nodes on one PostgreSQL: 1 000 emails, each delivered exactly once, the work shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rule_t4_two_nodes_deliver_each_email_once() {
    let test = "rule_t4_two_nodes_deliver_each_email_once";
    let Some(db) = fresh_database_url(Backend::Postgres, test).await else { return };
    let Some(sink) = SmtpSink::start(test) else { return };
    let dir = std::env::temp_dir().join(format!("pb-outbox-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = open(&db).await;
    let a = Node::start(&dir, &db, &sink.url(), "a");
    let b = Node::start(&dir, &db, &sink.url(), "b");
    // Both nodes are up and polling before the emails appear, so that they race for them.
    a.listening().await;
    b.listening().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    queue_link_prompts(&store, 1000).await.unwrap();
    let got = distinct_within(&sink, 1000, Duration::from_secs(180)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.signal("-TERM");
    b.signal("-TERM");
    let got_all = sink.received();
    let per_id = per_message_id(&got_all);
    assert_eq!(per_id.len(), 1000, "all delivered ({} seen while waiting)", got.len());
    assert_eq!(got_all.len(), 1000, "none twice");
    let (sa, sb) = (a.sent(), b.sent());
    eprintln!("node a sent {sa}, node b sent {sb}");
    assert_eq!(sa + sb, 1000);
    assert!(sa > 0 && sb > 0, "both nodes took part: {sa} and {sb}");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smtp_without_a_public_url_is_refused() {
    let dir = std::env::temp_dir().join(format!("pb-outbox-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir", &dir.display().to_string()])
        .args(["--smtp-url", "smtp://user:secret@127.0.0.1:2525"])
        .env_remove("PB_PUBLIC_URL")
        .env_remove("PB_AUTH_ISSUER")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PB_PUBLIC_URL"), "{err}");
    let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("secret"), "credentials are never printed: {all}");
    let _ = std::fs::remove_dir_all(&dir);
}
