//! The one source of "now" for command handlers, so tests can put the server at any moment
//! (the day after an inspection, past a deadline) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// System time, or a settable instant in tests. Cloning shares the same clock.
#[derive(Clone, Debug)]
pub struct Clock {
    /// Nanoseconds added to system time; `None` means system time unchanged.
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { fixed: None }
    }

    /// A clock that reads `at` until moved with [`Clock::set`] or [`Clock::advance`].
    pub fn fixed(at: Timestamp) -> Self {
        Clock {
            fixed: Some(Arc::new(AtomicI64::new(nanos(at)))),
        }
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match &self.fixed {
            None => Timestamp::now(),
            Some(at) => Timestamp::from_nanosecond(i128::from(at.load(Ordering::SeqCst)))
                .unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }

    /// Moves a fixed clock to `at`; a system clock ignores it.
    pub fn set(&self, at: Timestamp) {
        if let Some(fixed) = &self.fixed {
            fixed.store(nanos(at), Ordering::SeqCst);
        }
    }

    /// Moves a fixed clock forward; a system clock ignores it.
    pub fn advance(&self, by: SignedDuration) {
        if let Some(fixed) = &self.fixed {
            let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
            fixed.fetch_add(by, Ordering::SeqCst);
        }
    }
}

/// Nanoseconds since the epoch, saturating outside ±292 years (never reached by real dates).
fn nanos(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(if at.as_second() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_reads_what_it_was_set_to_and_moves_when_told() {
        let at: Timestamp = "2025-06-12T08:30:00Z".parse().expect("valid timestamp");
        let clock = Clock::fixed(at);
        let shared = clock.clone();

        shared.advance(SignedDuration::from_hours(24));

        assert_eq!(
            clock.now(),
            "2025-06-13T08:30:00Z"
                .parse::<Timestamp>()
                .expect("valid timestamp")
        );
        clock.set(at);
        assert_eq!(shared.now(), at);
    }

    #[test]
    fn the_system_clock_ignores_being_set() {
        let clock = Clock::system();
        clock.set(Timestamp::UNIX_EPOCH);

        assert!(clock.now() > Timestamp::UNIX_EPOCH);
    }
}
