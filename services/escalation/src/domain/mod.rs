//! The pure domain of the escalation context: the `Escalation` aggregate and its policy.
//!
//! Nothing here reads a clock, a database or the network. Every command carries the time it
//! happened, the ids it creates, the [`policy::Policy`] it follows and the facts about other
//! aggregates its rules need: whether Ofsted has responded to the complaint, whether it was
//! withdrawn, when the escalation window closes (all copied from the complaints context's events
//! by a policy consumer, see [`escalation::ComplaintFacts`]) and whether another escalation of the
//! same complaint is active (from the escalation read model).
//!
//! # Layout
//! * [`escalation`]: `Escalation`, from the request to closure or withdrawal.
//! * [`policy`]: `Policy` and `PolicySet`, the application window and the closure rule.
//! * The categories (`Ground`, `OutOfRemitAsk`, `RefusalReason`, `RecommendationKind`,
//!   `ComplaintOutcome`) are re-exported here.
//!
//! # Conventions
//! * An event's timestamps and ids are always set by `decide`; `evolve` reads a missing or invalid
//!   timestamp as the Unix epoch (see [`instant`]) instead of failing, because a recorded event is
//!   a fact. A category this build does not know is dropped, never guessed.
//! * A request that the rules refuse is recorded (`EscalationRefused`), so the complainant and the
//!   auditors can see it; a command that makes no sense in the current state is rejected.
//! * Every rejection has a stable machine-readable [`Reason::reason`] code for the gRPC
//!   `FAILED_PRECONDITION` detail.

use jiff::Timestamp;
use jiff::civil::Date;

pub mod escalation;
pub mod policy;

mod categories;

pub use categories::*;
pub use platform::aggregate::{Actor, Reason, instant, timestamp};
pub(crate) use platform::calendar::local_date;
pub use platform::grpc::Role;
pub use proto::escalation::v1;

/// `Some(timestamp)` for an event field.
pub(crate) fn stamp(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

/// The last instant (23:59:59.999999999) of `date` in Europe/London; `None` at the edge of what
/// jiff represents.
pub(crate) fn end_of_day(date: Date) -> Option<Timestamp> {
    platform::calendar::end_of_day(date).ok()
}
