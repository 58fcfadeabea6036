//! Idempotency claims across instances (issue 12): a retry after the claiming process died takes
//! the key over as soon as that process is known gone, not a minute later; a live instance's claim
//! is never taken over.
// The plain `async fn` bodies that `both_backends!` wraps are not `#[test]`s to clippy.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::sync::Arc;

use pb_domain::TestClock;
use pb_store::{INSTANCE_GONE_AFTER, IdempotencyClaim, Store, both_backends};
use time::macros::datetime;

const SCOPE: &str = "tenant-a";

async fn claim(s: &Store, key: &str) -> IdempotencyClaim {
    s.claim_idempotency_key(SCOPE, key, "hash", "POST", "/api/v1/billing-link/setup").await.unwrap()
}

async fn crash_safety_a_gone_instances_claim_is_taken_over_within_seconds(s: Store) {
    let clock = Arc::new(TestClock::new(datetime!(2026-03-01 12:00 UTC)));
    let a = s.with_clock(clock.clone());
    let b = a.as_another_instance();
    a.heartbeat().await.unwrap();
    b.heartbeat().await.unwrap();
    assert_eq!(claim(&a, "k1").await, IdempotencyClaim::New);

    // While `a` keeps saying it is alive, its claim stands (the request may still be running).
    clock.advance(time::Duration::seconds(8));
    a.heartbeat().await.unwrap();
    clock.advance(time::Duration::seconds(8));
    assert_eq!(claim(&b, "k1").await, IdempotencyClaim::InProgress, "a live instance's claim is never taken over");

    // `a` dies: no more heartbeats. Once it is gone, a retry on `b` runs the request.
    clock.advance(INSTANCE_GONE_AFTER - time::Duration::seconds(7));
    assert_eq!(claim(&b, "k1").await, IdempotencyClaim::New, "taken over long before the minute");
    b.heartbeat().await.unwrap();
    assert_eq!(claim(&a, "k1").await, IdempotencyClaim::InProgress, "and now it is b's");
}

async fn crash_safety_a_claim_of_an_instance_that_never_said_it_was_alive_waits_the_minute(s: Store) {
    let clock = Arc::new(TestClock::new(datetime!(2026-03-01 12:00 UTC)));
    let quiet = s.with_clock(clock.clone());
    let other = quiet.as_another_instance();
    assert_eq!(claim(&quiet, "k2").await, IdempotencyClaim::New);
    clock.advance(time::Duration::seconds(59));
    assert_eq!(claim(&other, "k2").await, IdempotencyClaim::InProgress);
    clock.advance(time::Duration::seconds(1));
    assert_eq!(claim(&other, "k2").await, IdempotencyClaim::New);
}

both_backends!(
    crash_safety_a_gone_instances_claim_is_taken_over_within_seconds,
    crash_safety_a_claim_of_an_instance_that_never_said_it_was_alive_waits_the_minute,
);
