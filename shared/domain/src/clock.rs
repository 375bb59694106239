//! The time handlers and jobs decide by, injected rather than read from
//! the wall clock, so that tests of expiry (a session's end, a due face
//! check, a check-in code's window) move time forward instead of waiting.
//!
//! A [`Clock`] is a cheap handle: clones share one time. In production it is
//! [`Clock::system`]. A test makes [`Clock::adjustable`], hands clones to the
//! services it starts, and calls [`Clock::advance`]: time keeps flowing
//! from there, so timeouts and Redis expiries still behave.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// How far this clock runs ahead of the wall clock; `None` for the
    /// system clock, so production pays one branch and no atomic read.
    ahead_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self { ahead_ms: None }
    }

    /// The wall clock, until [`Clock::advance`] moves it (and its clones) ahead.
    pub fn adjustable() -> Self {
        Self { ahead_ms: Some(Arc::new(AtomicI64::new(0))) }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let wall = chrono::Utc::now().timestamp_millis();
        match &self.ahead_ms {
            None => wall,
            Some(ahead) => wall.saturating_add(ahead.load(Ordering::Relaxed)),
        }
    }

    /// Now, as a date and time in UTC.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }

    /// Moves an adjustable clock, and every clone of it, `by` ahead.
    ///
    /// # Panics
    /// On the system clock: a test that thinks it moved time but did not
    /// would prove nothing.
    pub fn advance(&self, by: Duration) {
        let ahead = self.ahead_ms.as_ref().expect("only an adjustable clock can be moved");
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        ahead.fetch_add(by, Ordering::Relaxed);
    }

    pub fn is_adjustable(&self) -> bool {
        self.ahead_ms.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_the_wall_clock() {
        let before = chrono::Utc::now().timestamp_millis();
        let now = Clock::system().now_ms();
        assert!(now >= before && now - before < 1_000, "{now} against {before}");
        assert!(!Clock::system().is_adjustable());
    }

    #[test]
    fn advancing_moves_every_clone_and_time_keeps_flowing() {
        let clock = Clock::adjustable();
        let clone = clock.clone();
        let before = clone.now_ms();
        clock.advance(Duration::from_secs(3_600));
        let after = clone.now_ms();
        assert!(after - before >= 3_600_000, "{after} against {before}");
        assert!(after - before < 3_601_000, "{after} against {before}");
        assert!(clone.now_ms() >= after, "never goes back");
    }

    #[test]
    #[should_panic(expected = "only an adjustable clock")]
    fn the_system_clock_cannot_be_moved() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
