//! The pure domain of the complaints context: three aggregates, the intake log, the record of
//! forgotten data subjects and the policy.
//!
//! Nothing here reads a clock, a database or the network. Every command carries the time it
//! happened, the ids it creates, the working-day [`Calendar`] and the [`policy::Policy`] its
//! deadlines follow, and the facts about other aggregates its rules need (each command documents
//! which and where the application gets them). Deadlines are computed once, in `decide`, and
//! recorded in the event with the policy and calendar versions; `evolve` only ever reads them back.
//!
//! # Layout
//! * [`inspection`]: `InspectionCase`, the upstream inspection facts, the publication gate and
//!   tribunal appeals.
//! * [`concern`]: `Concern`, informal concerns on site, on the helpline and the day after.
//! * [`complaint`]: `FormalComplaint`, from submission to closure and periodic review.
//! * [`intake`]: `IntakeLog`, the record of refused submissions.
//! * [`data_subject`]: `DataSubject`, the record that a person the vault holds data about was
//!   forgotten.
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
//! * Commands a timer, a process manager or a policy repeats (deeming incomplete, marking overdue,
//!   placing and releasing holds, closing, recording an escalation or its withdrawal, reopening
//!   for reconsideration, flagging a sensitive case) produce no events when their effect is
//!   already recorded, so a redelivery is harmless.
//! * Every rejection has a stable machine-readable [`Reason::reason`] code for the gRPC
//!   `FAILED_PRECONDITION` detail.

use jiff::Timestamp;
use jiff::civil::Date;
use platform::calendar::{Calendar, CalendarError};

pub mod complaint;
pub mod concern;
pub mod data_subject;
pub mod inspection;
pub mod intake;
pub mod policy;

mod categories;

pub use categories::*;
pub use platform::aggregate::{Actor, Reason, instant, timestamp};
pub(crate) use platform::calendar::{end_of_day, start_of_day};
pub use platform::grpc::Role;
pub use proto::complaints::v1;

/// `Some(timestamp)` for an event field.
pub(crate) fn stamp(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

/// A calendar date as events carry it: `YYYY-MM-DD`.
pub(crate) fn date_text(date: Date) -> String {
    date.to_string()
}

/// The date a stored `YYYY-MM-DD` field holds. An unreadable value reads as the Unix epoch's
/// date, as [`instant`] does for timestamps: only `decide` writes these fields, and `evolve` must
/// not fail.
pub(crate) fn recorded_date(text: &str) -> Date {
    text.parse().unwrap_or(jiff::civil::date(1970, 1, 1))
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
