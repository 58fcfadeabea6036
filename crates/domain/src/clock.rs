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

/// The system clock moved forward by an offset that may only grow: `serve --test-clock` lets an
/// operator jump to the end of a month and watch it close, while time still runs.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset: Mutex<time::Duration>,
}

/// Why the clock was not moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the clock only moves forward: it is already {now}")]
pub struct ClockBackwards {
    pub now: OffsetDateTime,
}

impl AdjustableClock {
    /// Moves the clock to `to`, which must not be before now.
    pub fn set(&self, to: OffsetDateTime) -> Result<OffsetDateTime, ClockBackwards> {
        let mut offset = match self.offset.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let real = OffsetDateTime::now_utc();
        let now = to_micros(real + *offset);
        if to < now {
            return Err(ClockBackwards { now });
        }
        *offset = to - real;
        Ok(to_micros(to))
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> OffsetDateTime {
        let offset = match self.offset.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        };
        to_micros(OffsetDateTime::now_utc() + offset)
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
    fn adjustable_clock_only_moves_forward() {
        let c = AdjustableClock::default();
        let later = c.now() + time::Duration::days(40);
        assert!(c.set(later).is_ok());
        assert!(c.now() >= later);
        assert!(c.set(later - time::Duration::days(1)).is_err(), "never backwards");
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
