//! How notifications reach people (rules T1, T4): when a failed email is tried again, when it is
//! given up on, and when an unlinked partner is reminded. Pure arithmetic; the store and the
//! dispatcher only carry these answers out.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Where an outbox email stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent, or to be tried again after a failure.
    Pending,
    /// The SMTP server accepted it (or it was written to the outbox folder).
    Sent,
    /// Given up on after too many failures, until an operator retries it.
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<OutboxState> {
        match raw {
            "pending" => Some(OutboxState::Pending),
            "sent" => Some(OutboxState::Sent),
            "dead" => Some(OutboxState::Dead),
            _ => None,
        }
    }
}

/// What becomes of an email after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(OffsetDateTime),
    /// Move it to `dead`.
    GiveUp,
}

/// Retry with exponential backoff and jitter, up to a number of attempts (rule T4: an outage delays
/// an email, it does not lose it; a message that can never go is parked where operators see it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included, before an email is `dead`.
    pub max_attempts: u32,
    /// The wait after the first failure; each further failure doubles it.
    pub base: Duration,
    /// No wait is longer than this.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts over about two hours: 30 s, 1, 2, 4, 8, 16, 32 min, then dead.
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, base: Duration::seconds(30), cap: Duration::hours(1) }
    }
}

impl RetryPolicy {
    /// The fate of an email whose attempt number `attempts` (1 for the first) just failed at `now`.
    /// `jitter` in `[0, 1)` spreads the retries of many emails that failed together over the upper
    /// half of the wait ("equal jitter"), so that they do not all come back at once.
    pub fn after_failure(&self, attempts: u32, now: OffsetDateTime, jitter: f64) -> AfterFailure {
        if attempts >= self.max_attempts.max(1) {
            return AfterFailure::GiveUp;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self.base.checked_mul(1 << doublings).unwrap_or(self.cap).min(self.cap).max(Duration::ZERO);
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        let wait = wait / 2 + (wait / 2) * jitter;
        AfterFailure::RetryAt(now + wait)
    }
}

/// Rule T1: how often the global admins of an active, unlinked partner account are reminded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderPolicy {
    pub every: Duration,
}

impl Default for ReminderPolicy {
    fn default() -> Self {
        ReminderPolicy { every: Duration::days(7) }
    }
}

impl ReminderPolicy {
    /// Whether an account last prompted at `last` (never: `None`) is due a reminder at `now`.
    pub fn is_due(&self, last: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        last.is_none_or(|l| now - l >= self.every)
    }

    /// Prompts at or before this time are old enough for a reminder at `now`.
    pub fn due_before(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.every
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn wait(p: &RetryPolicy, attempts: u32, jitter: f64) -> Duration {
        match p.after_failure(attempts, NOW, jitter) {
            AfterFailure::RetryAt(at) => at - NOW,
            AfterFailure::GiveUp => panic!("gave up after {attempts}"),
        }
    }

    #[test]
    fn rule_t4_backoff_doubles_up_to_the_cap_then_gives_up() {
        let p = RetryPolicy::default();
        assert_eq!(wait(&p, 1, 1.0), Duration::seconds(30));
        assert_eq!(wait(&p, 2, 1.0), Duration::minutes(1));
        assert_eq!(wait(&p, 3, 1.0), Duration::minutes(2));
        assert_eq!(wait(&p, 7, 1.0), Duration::minutes(32));
        assert_eq!(wait(&p, 1, 0.0), Duration::seconds(15), "jitter keeps at least half the wait");
        assert_eq!(p.after_failure(8, NOW, 0.5), AfterFailure::GiveUp);
        let long = RetryPolicy { max_attempts: 100, ..p };
        assert_eq!(wait(&long, 60, 1.0), Duration::hours(1), "capped, and no overflow");
    }

    proptest! {
        #[test]
        fn rule_t4_retry_waits_grow_and_stay_within_bounds(attempts in 1u32..40, j1 in 0.0f64..1.0, j2 in 0.0f64..1.0) {
            let p = RetryPolicy { max_attempts: 41, ..RetryPolicy::default() };
            let a = wait(&p, attempts, j1);
            prop_assert!(a >= p.base / 2 && a <= p.cap);
            let b = wait(&p, attempts + 1, j2);
            // The next wait's floor is never below this wait's floor.
            prop_assert!(wait(&p, attempts + 1, 0.0) >= wait(&p, attempts, 0.0));
            prop_assert!(b <= p.cap);
        }
    }

    #[test]
    fn rule_t1_reminders_at_most_once_per_period() {
        let p = ReminderPolicy::default();
        assert!(p.is_due(None, NOW));
        assert!(!p.is_due(Some(NOW - Duration::days(6)), NOW));
        assert!(p.is_due(Some(NOW - Duration::days(7)), NOW));
        assert_eq!(p.due_before(NOW), NOW - Duration::days(7));
    }

    #[test]
    fn outbox_states_round_trip() {
        for s in [OutboxState::Pending, OutboxState::Sent, OutboxState::Dead] {
            assert_eq!(OutboxState::parse(s.as_str()), Some(s));
        }
        assert_eq!(OutboxState::parse("lost"), None);
    }
}
