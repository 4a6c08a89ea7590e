//! The pure domain of the complaints context: three aggregates, the intake log and the policy.
//!
//! Nothing here reads a clock, a database or the network. Every command carries the time it
//! happened, the ids it creates, the working-day [`Calendar`] and the [`policy::Policy`] its
//! deadlines follow, and the facts about other aggregates its rules need (each command documents
//! which and where the application gets them). Deadlines are computed once, in `decide`, and
//! recorded in the event with the policy and calendar versions; `evolve` only ever reads them back.
//!
//! # Layout
//! * [`inspection`]: `InspectionCase`, the upstream inspection facts and the publication gate.
//! * [`concern`]: `Concern`, informal concerns on site, on the helpline and the day after.
//! * [`complaint`]: `FormalComplaint`, from submission to closure and periodic review.
//! * [`intake`]: `IntakeLog`, the record of refused submissions.
//! * [`policy`]: `Policy` and `PolicySet`, every window and target, versioned and dated.
//! * The categories (`Remit`, `ConcernChannel`, `Remedy`, …) are re-exported here.
//!
//! # Conventions
//! * An event's timestamps and ids are always set by `decide`; `evolve` reads a missing or invalid
//!   timestamp as the Unix epoch and an invalid id as the nil UUID instead of failing, because a
//!   recorded event is a fact (see [`instant`]). A category this build does not know (a newer
//!   writer's) never becomes a guessed one: a notification with an unknown remit leaves the case
//!   unknown, so later commands are refused rather than run under the wrong pause limit.
//! * Timer commands refuse a `now` at or before the deadline they act on: a deadline is the last
//!   instant (23:59:59.999999999 Europe/London) that is still in time.
//! * Commands a timer or a process manager repeats (deeming incomplete, marking overdue, placing
//!   and releasing holds, closing on a lapsed window, flagging a sensitive case) produce no events
//!   when their effect is already recorded, so a redelivery is harmless.
//! * Every rejection has a stable machine-readable [`Reason::reason`] code for the gRPC
//!   `FAILED_PRECONDITION` detail.

use std::sync::LazyLock;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use platform::calendar::{Calendar, CalendarError};

pub mod complaint;
pub mod concern;
pub mod inspection;
pub mod intake;
pub mod policy;

mod categories;

pub use categories::*;
pub use platform::grpc::Role;
pub use proto::complaints::v1;

/// Someone acting, identified by an opaque reference (never a name), with the role the rules
/// look at. The application sets the role from the authenticated caller or, for a person other
/// than the caller (a handler, an investigator), from the staff directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub actor_ref: String,
    pub role: Role,
}

impl Actor {
    /// An actor with `role`.
    pub fn new(actor_ref: impl Into<String>, role: Role) -> Actor {
        Actor {
            actor_ref: actor_ref.into(),
            role,
        }
    }
}

/// The machine-readable code of a broken rule, e.g. `OUT_OF_TIME`: stable across releases, used as
/// the `ErrorInfo.reason` of a gRPC `FAILED_PRECONDITION`.
pub trait Reason {
    /// The code, in SCREAMING_SNAKE_CASE.
    fn reason(&self) -> &'static str;
}

/// The protobuf form of `at`. Nanoseconds are normalised to `0..1_000_000_000`, as the
/// well-known type requires, also before 1970.
pub fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    let mut seconds = at.as_second();
    let mut nanos = at.subsec_nanosecond();
    if nanos < 0 {
        seconds -= 1;
        nanos += 1_000_000_000;
    }
    prost_types::Timestamp { seconds, nanos }
}

/// The instant a stored timestamp field holds. A missing or out-of-range value reads as the Unix
/// epoch: only `decide` writes these fields and it always sets them, and `evolve` must not fail.
pub fn instant(at: Option<&prost_types::Timestamp>) -> Timestamp {
    at.and_then(|t| Timestamp::new(t.seconds, t.nanos).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `Some(timestamp)` for an event field.
pub(crate) fn stamp(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

/// A calendar date as events carry it: `YYYY-MM-DD`.
pub(crate) fn date_text(date: Date) -> String {
    date.to_string()
}

static LONDON: LazyLock<TimeZone> = LazyLock::new(|| {
    // Cannot fail: the workspace builds jiff with `tzdb-bundle-always`, so Europe/London is
    // compiled into the binary and never looked up on the host.
    TimeZone::get("Europe/London").expect("Europe/London is in the bundled tz database")
});

/// The first instant of `date` in Europe/London.
///
/// # Errors
/// Only for dates at the edge of what jiff represents (year 9999), reported as out of range.
pub(crate) fn start_of_day(date: Date) -> Result<Timestamp, CalendarError> {
    date.to_zoned(LONDON.clone())
        .and_then(|zoned| zoned.start_of_day())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| CalendarError::OutOfRange { date })
}

/// The last instant (23:59:59.999999999) of `date` in Europe/London: the next day's first instant
/// minus one nanosecond, because days on which the clocks change last 23 or 25 hours. The same
/// rule as the platform calendar's deadlines.
///
/// # Errors
/// As [`start_of_day`].
pub(crate) fn end_of_day(date: Date) -> Result<Timestamp, CalendarError> {
    let next = date
        .tomorrow()
        .map_err(|_| CalendarError::OutOfRange { date })?;
    start_of_day(next)?
        .checked_sub(SignedDuration::from_nanos(1))
        .map_err(|_| CalendarError::OutOfRange { date })
}

/// The date a calendar error is about, for a rejection; `fallback` for the errors that only
/// building a calendar can produce.
pub(crate) fn uncovered_date(error: &CalendarError, fallback: Date) -> Date {
    match error {
        CalendarError::OutOfRange { date } => *date,
        _ => fallback,
    }
}

/// The calendar every deadline-computing command carries. A `&'static` reference because the
/// service builds its calendar once at start (the embedded table, or an operator extension leaked
/// for the life of the process) and commands must be cheap to clone.
pub type CalendarRef = &'static Calendar;
