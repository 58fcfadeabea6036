//! The dispatcher against a real SMTP server on loopback (rule T4), on SQLite and PostgreSQL.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::collections::HashMap;
use std::time::Duration;

use pb_domain::{OutboxState, RetryPolicy};
use pb_jobs::testing::SmtpSink;
use pb_jobs::{DispatchSettings, Dispatcher, Letterhead, Transport};
use pb_store::testing::mail::{queue_link_prompts, tenant_with_admins};
use pb_store::{Backend, Ctx, Store};
use tokio::sync::watch;

const PUBLIC: &str = "https://billing.example.com";

fn settings(node: &str) -> DispatchSettings {
    DispatchSettings {
        node: node.to_owned(),
        poll: Duration::from_millis(50),
        retry: RetryPolicy { max_attempts: 1000, base: time::Duration::milliseconds(100), cap: time::Duration::milliseconds(400) },
        ..DispatchSettings::default()
    }
}

fn dispatcher(store: &Store, sink: &SmtpSink, s: DispatchSettings) -> Dispatcher {
    Dispatcher::new(store.clone(), Transport::smtp(&sink.url(), s.send_timeout).unwrap(), Letterhead::new(PUBLIC, None).unwrap(), s)
}

/// Runs `d` in the background until the returned sender is raised.
fn spawn(d: Dispatcher) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    (tx, tokio::spawn(d.run(rx)))
}

async fn stop(h: (watch::Sender<bool>, tokio::task::JoinHandle<()>)) {
    h.0.send(true).unwrap();
    h.1.await.unwrap();
}

async fn rule_t4_emails_reach_a_real_smtp_server(backend: Backend) {
    let test = "rule_t4_emails_reach_a_real_smtp_server";
    let Some(store) = pb_store::testing::store(backend, test).await else { return };
    let Some(sink) = SmtpSink::start(&format!("{test}-{}", backend.as_str())) else { return };
    let (tenant, domain) = tenant_with_admins(&store, 2).await.unwrap();
    pb_store::testing::mail::activate_partner(&store, tenant).await.unwrap();
    let run = spawn(dispatcher(&store, &sink, settings("a")));
    let got = sink.wait_for(2, Duration::from_secs(20)).await;
    stop(run).await;
    assert_eq!(got.len(), 2, "one email per global admin");
    let mut to: Vec<String> = got.iter().flat_map(|r| r.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec![format!("admin-0@{domain}"), format!("admin-1@{domain}")]);
    let sent = store.list_outbox(Some(OutboxState::Sent), None, None).await.unwrap().items;
    for r in &got {
        assert_eq!(r.subject, "Link a billing account and profile");
        let row = sent.iter().find(|e| e.to == r.to[0]).unwrap();
        assert_eq!(r.message_id, format!("<{}@billing.example.com>", row.id), "the Message-ID names the outbox row");
        let link = "https://billing.example.com/account/billing-profile";
        let text = r.text.as_deref().unwrap_or_else(|| panic!("a plain-text body: {}", r.raw));
        let html = r.html.as_deref().unwrap_or_else(|| panic!("an HTML body: {}", r.raw));
        assert!(text.contains(&format!("Go to billing profile: {link}")), "the link to act on (N1): {text}");
        assert!(html.contains(&format!("href=\"{link}\"")), "the link to act on (N1): {html}");
        for body in [text, html] {
            assert!(body.contains("To make membership purchases"), "the notification's words: {body}");
        }
    }
    assert_eq!(sent.len(), 2, "both marked sent");
}

async fn rule_t4_an_smtp_outage_delays_emails_and_loses_none(backend: Backend) {
    let test = "rule_t4_an_smtp_outage_delays_emails_and_loses_none";
    let Some(store) = pb_store::testing::store(backend, test).await else { return };
    let Some(mut sink) = SmtpSink::down(&format!("{test}-{}", backend.as_str())) else { return };
    let run = spawn(dispatcher(&store, &sink, settings("a")));
    queue_link_prompts(&store, 100).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let failing = store.list_outbox(Some(OutboxState::Pending), None, Some(200)).await.unwrap().items;
    assert_eq!(failing.len(), 100, "all wait while SMTP is down");
    assert!(failing.iter().any(|e| e.attempts > 0 && e.last_error.is_some()), "attempts were made and failed");
    sink.up();
    let got = sink.wait_for(100, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(run).await;
    let got_after = sink.received();
    assert_eq!(got_after.len(), 100, "all 100 delivered, none twice: {}", got.len());
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for r in &got_after {
        *per_id.entry(r.message_id.as_str()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 100);
    assert!(per_id.values().all(|&n| n == 1));
    assert!(store.list_outbox(Some(OutboxState::Pending), None, None).await.unwrap().items.is_empty());
}

async fn rule_t4_a_dead_email_waits_for_an_operator(backend: Backend) {
    let test = "rule_t4_a_dead_email_waits_for_an_operator";
    let Some(store) = pb_store::testing::store(backend, test).await else { return };
    let Some(mut sink) = SmtpSink::down(&format!("{test}-{}", backend.as_str())) else { return };
    queue_link_prompts(&store, 1).await.unwrap();
    let mut s = settings("a");
    s.retry.max_attempts = 2;
    let d = dispatcher(&store, &sink, s);
    let (_tx, rx) = watch::channel(false);
    d.round(&rx).await.unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    d.round(&rx).await.unwrap();
    let dead = store.list_outbox(Some(OutboxState::Dead), None, None).await.unwrap().items;
    assert_eq!(dead.len(), 1, "given up after two attempts");
    sink.up();
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(d.round(&rx).await.unwrap().claimed, 0, "dead stays dead");
    store.retry_outbox(&Ctx::operator("op", None), &dead[0].id).await.unwrap();
    assert_eq!(d.round(&rx).await.unwrap().sent, 1);
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

async fn rule_t4_a_stop_finishes_the_email_in_flight_and_hands_back_the_rest(backend: Backend) {
    let test = "rule_t4_a_stop_finishes_the_email_in_flight_and_hands_back_the_rest";
    let Some(store) = pb_store::testing::store(backend, test).await else { return };
    let Some(sink) = SmtpSink::start(&format!("{test}-{}", backend.as_str())) else { return };
    queue_link_prompts(&store, 5).await.unwrap();
    let (tx, rx) = watch::channel(true);
    let round = dispatcher(&store, &sink, settings("a")).round(&rx).await.unwrap();
    drop(tx);
    assert_eq!((round.claimed, round.sent), (5, 0), "stopped before the first send");
    let other = store.claim_outbox("b", time::Duration::seconds(60), 10).await.unwrap();
    assert_eq!(other.len(), 5, "the claims were handed back at once");
}

async fn emails_go_to_files_without_an_smtp_server(backend: Backend) {
    let Some(store) = pb_store::testing::store(backend, "emails_go_to_files_without_an_smtp_server").await else { return };
    queue_link_prompts(&store, 3).await.unwrap();
    let dir = std::env::temp_dir().join(format!("pb-eml-{}", uuid::Uuid::new_v4().simple()));
    let d = Dispatcher::new(
        store.clone(),
        Transport::files(&dir).unwrap(),
        Letterhead::new("http://127.0.0.1:8080", None).unwrap(),
        settings("a"),
    );
    let (_tx, rx) = watch::channel(false);
    assert_eq!(d.round(&rx).await.unwrap().sent, 3);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok).collect();
    assert_eq!(files.len(), 3, "one .eml per email");
    let raw = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(raw.contains("Message-ID: <em_"), "{raw}");
    assert!(raw.contains("http://127.0.0.1:8080/account/billing-p"), "{raw}");
    let _ = std::fs::remove_dir_all(&dir);
}

pb_store::by_backend!(
    rule_t4_emails_reach_a_real_smtp_server,
    rule_t4_an_smtp_outage_delays_emails_and_loses_none,
    rule_t4_a_dead_email_waits_for_an_operator,
    rule_t4_a_stop_finishes_the_email_in_flight_and_hands_back_the_rest,
    emails_go_to_files_without_an_smtp_server,
);

/// An outbox email made up for tests of the transport alone.
fn message(id: &str) -> pb_store::OutboxMessage {
    pb_store::OutboxMessage {
        id: id.into(),
        tenant_id: "t".into(),
        to_address: "ga@contoso.example".into(),
        subject: "s".into(),
        body: "b".into(),
        action_url: None,
        created_at: pb_store::Ts(time::OffsetDateTime::now_utc()),
        attempts: 0,
    }
}

/// Encryption that was asked for is never dropped: a server without TLS fails the send (and the
/// email is retried later), it is not sent in the clear.
#[tokio::test]
async fn asked_for_tls_is_never_skipped() {
    let Some(sink) = SmtpSink::start("asked_for_tls_is_never_skipped") else { return };
    let letterhead = Letterhead::new(PUBLIC, None).unwrap();
    let m = message("em_tls");
    for (url, says) in [
        (format!("smtp://user:secret@127.0.0.1:{}?tls=required", sink.port), "STARTTLS"),
        (format!("smtps://user:secret@127.0.0.1:{}", sink.port), "TLS"),
    ] {
        let t = Transport::smtp(&url, Duration::from_secs(2)).unwrap();
        let e = t.send(&m.id, letterhead.compose(&m).unwrap()).await.unwrap_err();
        assert!(matches!(e, pb_jobs::MailError::Transient(_)), "{e:?}");
        assert!(e.to_string().contains(says), "{url}: {e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    assert!(sink.received().is_empty(), "nothing went out in the clear");
    let plain = Transport::smtp(&format!("smtp://127.0.0.1:{}?tls=opportunistic", sink.port), Duration::from_secs(2)).unwrap();
    plain.send(&m.id, letterhead.compose(&m).unwrap()).await.unwrap();
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1, "opportunistic: sent, unencrypted, when TLS is not offered");
}

/// A server that accepts the connection and then says nothing fails the send within the timeout,
/// so a stalled server can never hold an email past its claim.
#[tokio::test]
async fn a_silent_server_fails_the_send_within_the_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let t = Transport::smtp(&format!("smtp://127.0.0.1:{port}"), Duration::from_millis(300)).unwrap();
    let letterhead = Letterhead::new(PUBLIC, None).unwrap();
    let m = message("em_silent");
    let started = std::time::Instant::now();
    let e = t.send(&m.id, letterhead.compose(&m).unwrap()).await.unwrap_err();
    assert!(matches!(e, pb_jobs::MailError::Transient(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "bounded by the timeout: {:?}", started.elapsed());
    drop(silent);
}
