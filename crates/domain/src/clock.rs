//! Time, injectable so that cutover dates, invoice months and history spans are testable.

use std::sync::Mutex;

use time::OffsetDateTime;

/// The source of "now" for everything that stamps or compares times. Always UTC, truncated to
/// microseconds because that is what PostgreSQL keeps; a time read back equals the time written.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// Truncates to whole microseconds, in UTC.
pub fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.microsecond();
    t.replace_microsecond(micros).unwrap_or(t)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until told to move. Each `now()` still advances by one microsecond so
/// that successive events keep a strict order, as they would in real time.
#[derive(Debug)]
pub struct TestClock {
    at: Mutex<OffsetDateTime>,
}

impl TestClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self { at: Mutex::new(to_micros(at)) }
    }

    pub fn set(&self, at: OffsetDateTime) {
        if let Ok(mut g) = self.at.lock() {
            *g = to_micros(at);
        }
    }

    pub fn advance(&self, by: time::Duration) {
        if let Ok(mut g) = self.at.lock() {
            *g += by;
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        match self.at.lock() {
            Ok(mut g) => {
                let now = *g;
                *g += time::Duration::microseconds(1);
                now
            }
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_utc_and_whole_microseconds() {
        let t = SystemClock.now();
        assert_eq!(t.offset(), time::UtcOffset::UTC);
        assert_eq!(t.nanosecond() % 1000, 0);
    }

    #[test]
    fn test_clock_moves_forward() {
        let c = TestClock::new(time::macros::datetime!(2026-01-01 0:00 UTC));
        let a = c.now();
        let b = c.now();
        assert!(b > a);
        c.advance(time::Duration::days(1));
        assert!(c.now() >= a + time::Duration::days(1));
    }
}
