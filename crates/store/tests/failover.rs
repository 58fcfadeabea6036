//! PostgreSQL at several hosts (issue 12, failover): the store reads libpq's host lists with
//! `target_session_attrs=read-write`, passes over a host that does not answer, and says at once
//! that the database is unavailable when no host takes writes. The whole drill (a primary killed
//! and its replica promoted under load) is tests/reliability/failover.py.
// The plain `async fn` bodies that `both_backends!` wraps are not `#[test]`s to clippy.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pb_domain::{SystemClock, TestClock};
use pb_store::{Backend, ConnectOptions, INSTANCE_GONE_AFTER, IdempotencyClaim, Store, both_backends};
use time::macros::datetime;

/// `postgres://user@host:port/db?…` with a host that refuses connections put first.
fn with_dead_host_first(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let at = rest.find('@').map_or(0, |i| i + 1);
    let sep = if rest.contains('?') { '&' } else { '?' };
    format!("{scheme}://{}127.0.0.1:1,{}{sep}target_session_attrs=read-write", &rest[..at], &rest[at..])
}

#[tokio::test]
async fn failover_a_host_list_skips_a_host_that_refuses_and_writes_on_the_primary() {
    let Some((url, opts)) = pb_store::testing::fresh_database(Backend::Postgres, "failover_host_list").await else { return };
    let store = Store::connect(&with_dead_host_first(&url), &opts, Arc::new(SystemClock)).await.unwrap();
    store.migrate().await.unwrap();
    let ctx = pb_store::Ctx::system();
    let name = pb_domain::DisplayName::parse("Failover").unwrap();
    let t = store.create_tenant(&ctx, &name, "failover.example").await.unwrap();
    assert_eq!(store.find_tenant("failover.example").await.unwrap().id, t.id);
    store.close().await;
}

#[tokio::test]
async fn failover_no_host_taking_writes_is_unavailable_at_once() {
    let started = Instant::now();
    let url = "postgres://postgres@127.0.0.1:1,127.0.0.1:2/pb?target_session_attrs=read-write";
    let e = Store::connect(url, &ConnectOptions::default(), Arc::new(SystemClock)).await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    assert!(e.to_string().contains("127.0.0.1:1,127.0.0.1:2"), "names the hosts it tried: {e}");
    assert!(started.elapsed() < Duration::from_secs(5), "refused hosts are passed over at once");
    let e = Store::connect("postgres://postgres@h1,h2/pb?target_session_attrs=standby", &ConnectOptions::default(), Arc::new(SystemClock))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("target_session_attrs=standby is not supported"), "{e}");
}

/// A request that failed while the database was away releases its claim later; by then another
/// node may have taken the claim over (this one looked gone), and that claim is not this one's.
async fn failover_a_late_release_never_removes_another_instances_claim(s: Store) {
    let clock = Arc::new(TestClock::new(datetime!(2026-03-01 12:00 UTC)));
    let a = s.with_clock(clock.clone());
    let b = a.as_another_instance();
    a.heartbeat().await.unwrap();
    let claim = |st: &Store| {
        let st = st.clone();
        async move { st.claim_idempotency_key("tenant-a", "k", "hash", "POST", "/api/v1/billing-accounts").await.unwrap() }
    };
    assert_eq!(claim(&a).await, IdempotencyClaim::New);
    clock.advance(INSTANCE_GONE_AFTER + time::Duration::seconds(1));
    b.heartbeat().await.unwrap();
    assert_eq!(claim(&b).await, IdempotencyClaim::New, "a looked gone: b took the key over");
    a.release_idempotency_key("tenant-a", "k").await.unwrap();
    assert_eq!(claim(&a).await, IdempotencyClaim::InProgress, "b's claim stands");
    b.release_idempotency_key("tenant-a", "k").await.unwrap();
    assert_eq!(claim(&a).await, IdempotencyClaim::New, "its owner's release frees it");
}

both_backends!(failover_a_late_release_never_removes_another_instances_claim,);
