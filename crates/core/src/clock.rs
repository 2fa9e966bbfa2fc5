//! Unix time in whole seconds, and a clock that tests can fix.
//!
//! All of jwtd reasons in integer seconds since the epoch, as JWT NumericDate
//! values and the SPEC's JSON timestamps are.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch from the system clock.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A source of the current time: the system clock, or a fixed one in tests.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None` reads the system clock; `Some` holds a time set by a test.
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock stopped at `now` until [`Clock::set`] moves it.
    pub fn fixed(now: i64) -> Self {
        Self {
            fixed: Some(Arc::new(AtomicI64::new(now))),
        }
    }

    /// The current time in seconds since the epoch.
    pub fn now(&self) -> i64 {
        match &self.fixed {
            Some(t) => t.load(Ordering::Relaxed),
            None => unix_now(),
        }
    }

    /// The current time in milliseconds since the epoch; a fixed clock
    /// is at the start of its second.
    pub fn now_ms(&self) -> i64 {
        match &self.fixed {
            Some(t) => t.load(Ordering::Relaxed).saturating_mul(1000),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }

    /// Moves a fixed clock; does nothing to the system clock.
    pub fn set(&self, now: i64) {
        if let Some(t) = &self.fixed {
            t.store(now, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_set() {
        let c = Clock::fixed(100);
        assert_eq!(c.now(), 100);
        c.set(250);
        assert_eq!(c.now(), 250);
        assert_eq!(c.now_ms(), 250_000);
        assert!(Clock::system().now() > 1_600_000_000);
    }
}
