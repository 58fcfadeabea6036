//! The outbox's delivery bookkeeping (rule T4) and the link reminders (rule T1), at the store level
//! on SQLite and PostgreSQL, with a test clock so that leases, backoff and weeks are exact.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::collections::HashSet;
use std::sync::Arc;

use pb_domain::{Clock, OutboxState, ReminderPolicy, RetryPolicy, TestClock};
use pb_store::testing::mail::{activate_partner, queue_link_prompts, tenant_with_admins};
use pb_store::{Backend, Ctx, FailureOutcome, Store, StoreError};
use time::Duration;
use time::macros::datetime;

const LEASE: Duration = Duration::seconds(60);

async fn world(backend: Backend, test: &str) -> Option<(Store, Arc<TestClock>)> {
    let clock = Arc::new(TestClock::new(datetime!(2026-03-02 09:00 UTC)));
    let store = pb_store::testing::store_with_clock(backend, test, clock.clone()).await?;
    Some((store, clock))
}

async fn rule_t4_a_claimed_email_is_leased_to_one_node(backend: Backend) {
    let Some((store, clock)) = world(backend, "rule_t4_a_claimed_email_is_leased_to_one_node").await else { return };
    queue_link_prompts(&store, 1).await.unwrap();
    let a = store.claim_outbox("node-a", LEASE, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].action_url.as_deref(), Some("/account/billing-profile"), "the email knows the page to act on (N1)");
    assert_eq!(a[0].attempts, 0);
    assert!(store.claim_outbox("node-b", LEASE, 10).await.unwrap().is_empty(), "leased to node-a");
    clock.advance(LEASE + Duration::seconds(1));
    let b = store.claim_outbox("node-b", LEASE, 10).await.unwrap();
    assert_eq!(b.len(), 1, "a dead node's lease runs out and another node takes the email");
    assert!(store.mark_outbox_sent(&b[0].id).await.unwrap());
    assert!(!store.mark_outbox_sent(&b[0].id).await.unwrap(), "marking twice changes nothing");
    clock.advance(LEASE * 2);
    assert!(store.claim_outbox("node-a", LEASE, 10).await.unwrap().is_empty(), "a sent email is never claimed again");
    let e = store.get_outbox(&b[0].id).await.unwrap();
    assert_eq!((e.state, e.attempts), (OutboxState::Sent, 1));
    assert!(e.sent_at.is_some());
}

async fn rule_t4_released_claims_are_free_at_once(backend: Backend) {
    let Some((store, _clock)) = world(backend, "rule_t4_released_claims_are_free_at_once").await else { return };
    queue_link_prompts(&store, 3).await.unwrap();
    assert_eq!(store.claim_outbox("node-a", LEASE, 10).await.unwrap().len(), 3);
    assert_eq!(store.release_outbox("node-a").await.unwrap(), 3);
    assert_eq!(store.claim_outbox("node-b", LEASE, 10).await.unwrap().len(), 3, "a clean shutdown hands its claims back");
}

async fn rule_t4_concurrent_claims_never_overlap(backend: Backend) {
    let Some((store, _clock)) = world(backend, "rule_t4_concurrent_claims_never_overlap").await else { return };
    queue_link_prompts(&store, 300).await.unwrap();
    let mut tasks = Vec::new();
    for node in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_outbox(&format!("node-{node}"), LEASE, 7).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} was claimed by two nodes");
        }
    }
    assert_eq!(seen.len(), 300, "every email was claimed");
}

async fn rule_t4_failures_back_off_then_die_and_operators_retry(backend: Backend) {
    let Some((store, clock)) = world(backend, "rule_t4_failures_back_off_then_die_and_operators_retry").await else { return };
    let tenant = queue_link_prompts(&store, 1).await.unwrap();
    let policy = RetryPolicy { max_attempts: 3, base: Duration::seconds(10), cap: Duration::minutes(5) };
    let id = store.claim_outbox("n", LEASE, 1).await.unwrap()[0].id.clone();
    let FailureOutcome::RetryAt(at) = store.mark_outbox_failed(&id, "421 try later", &policy, 1.0).await.unwrap() else {
        panic!("the first failure is retried")
    };
    let wait = at - clock.now();
    assert!(wait > Duration::seconds(9) && wait <= Duration::seconds(10), "full jitter waits the base: {wait}");
    assert!(store.claim_outbox("n", LEASE, 1).await.unwrap().is_empty(), "not due before its backoff");
    clock.advance(Duration::seconds(10));
    let m = store.claim_outbox("n", LEASE, 1).await.unwrap();
    assert_eq!((m.len(), m[0].attempts), (1, 1));
    assert!(matches!(store.mark_outbox_failed(&id, "421 again", &policy, 1.0).await.unwrap(), FailureOutcome::RetryAt(_)));
    clock.advance(Duration::seconds(20));
    store.claim_outbox("n", LEASE, 1).await.unwrap();
    let long = "x".repeat(2000);
    assert_eq!(store.mark_outbox_failed(&id, &long, &policy, 1.0).await.unwrap(), FailureOutcome::Dead);
    let dead = store.list_outbox(Some(OutboxState::Dead), None, None).await.unwrap();
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].attempts, 3);
    assert_eq!(dead.items[0].last_error.as_ref().map(String::len), Some(500), "long SMTP replies are cut");
    clock.advance(Duration::days(1));
    assert!(store.claim_outbox("n", LEASE, 1).await.unwrap().is_empty(), "a dead email waits for an operator");

    let op = Ctx::operator("op", Some("req-1".into()));
    let back = store.retry_outbox(&op, &id).await.unwrap();
    assert_eq!((back.state, back.attempts), (OutboxState::Pending, 0));
    assert_eq!(store.retry_outbox(&op, &id).await.unwrap().state, OutboxState::Pending, "retrying a pending one is a no-op");
    let audit = pb_store::testing::audit_trail(&store, tenant).await;
    assert_eq!(audit.iter().filter(|r| r.action == "email.retry").count(), 1, "the retry is audited once");
    let m = store.claim_outbox("n", LEASE, 1).await.unwrap();
    assert_eq!(m.len(), 1, "retried: due at once");
    store.mark_outbox_sent(&id).await.unwrap();
    let err = store.retry_outbox(&op, &id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { code: "email_already_sent", .. }), "{err:?}");
    assert!(matches!(store.retry_outbox(&op, "em_nope").await.unwrap_err(), StoreError::NotFound(_)));
    assert!(store.list_outbox(Some(OutboxState::Dead), None, None).await.unwrap().items.is_empty());
    assert_eq!(store.list_outbox(Some(OutboxState::Sent), None, None).await.unwrap().items.len(), 1);
}

async fn outbox_list_pages_oldest_first(backend: Backend) {
    let Some((store, _clock)) = world(backend, "outbox_list_pages_oldest_first").await else { return };
    queue_link_prompts(&store, 5).await.unwrap();
    let first = store.list_outbox(None, None, Some(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = store.list_outbox(Some(OutboxState::Pending), first.next_cursor.as_deref(), Some(10)).await.unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.next_cursor.is_none());
    assert!(first.items[1].id < rest.items[0].id);
}

async fn rule_t1_unlinked_partners_are_reminded_weekly_until_linked(backend: Backend) {
    let Some((store, clock)) = world(backend, "rule_t1_unlinked_partners_are_reminded_weekly_until_linked").await else { return };
    let policy = ReminderPolicy::default();
    let (tenant, _) = tenant_with_admins(&store, 2).await.unwrap();
    let (inactive, _) = tenant_with_admins(&store, 1).await.unwrap();
    activate_partner(&store, tenant).await.unwrap();
    let emails = || async { store.pending_emails(tenant).await.unwrap().len() };
    assert_eq!(emails().await, 2, "the first prompt, one per global admin");
    assert_eq!(store.remind_unlinked(&policy).await.unwrap(), 0, "prompted just now");
    clock.advance(Duration::days(6));
    assert_eq!(store.remind_unlinked(&policy).await.unwrap(), 0, "not within the week");
    clock.advance(Duration::days(1));
    let (a, b) = tokio::join!(store.remind_unlinked(&policy), store.remind_unlinked(&policy));
    assert_eq!(a.unwrap() + b.unwrap(), 1, "two sweeps at once remind the account once");
    assert_eq!(emails().await, 4);
    assert_eq!(store.pending_emails(inactive).await.unwrap().len(), 0, "no partner account, no reminder");
    let subjects: Vec<String> = store.pending_emails(tenant).await.unwrap().into_iter().map(|e| e.subject).collect();
    assert!(subjects.iter().any(|s| s.starts_with("Reminder:")), "{subjects:?}");
    let short = ReminderPolicy { every: Duration::days(1) };
    clock.advance(Duration::days(1));
    assert_eq!(store.remind_unlinked(&short).await.unwrap(), 1, "the period is configurable");
    assert_eq!(emails().await, 6);
}

pb_store::by_backend!(
    rule_t4_a_claimed_email_is_leased_to_one_node,
    rule_t4_released_claims_are_free_at_once,
    rule_t4_concurrent_claims_never_overlap,
    rule_t4_failures_back_off_then_die_and_operators_retry,
    outbox_list_pages_oldest_first,
    rule_t1_unlinked_partners_are_reminded_weekly_until_linked,
);
