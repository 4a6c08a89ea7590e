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

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub mod escalation;
pub mod policy;

mod categories;

pub use categories::*;
pub use platform::grpc::Role;
pub use proto::escalation::v1;

/// Someone acting, identified by an opaque reference (never a name), with the role the rules
/// look at.
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

/// The machine-readable code of a broken rule, e.g. `OUT_OF_REMIT`: stable across releases, used
/// as the `ErrorInfo.reason` of a gRPC `FAILED_PRECONDITION`.
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

/// Europe/London, where every date of the domain is read.
pub(crate) fn london() -> TimeZone {
    // Cannot fail: the workspace builds jiff with `tzdb-bundle-always`, so Europe/London is
    // compiled into the binary and never looked up on the host.
    TimeZone::get("Europe/London").expect("Europe/London is in the bundled tz database")
}

/// The date of `at` in Europe/London.
pub(crate) fn local_date(at: Timestamp) -> Date {
    at.to_zoned(london()).date()
}

/// The last instant (23:59:59.999999999) of `date` in Europe/London; `None` at the edge of what
/// jiff represents.
pub(crate) fn end_of_day(date: Date) -> Option<Timestamp> {
    let next = date.tomorrow().ok()?;
    let start = next.to_zoned(london()).ok()?.start_of_day().ok()?;
    start
        .timestamp()
        .checked_sub(SignedDuration::from_nanos(1))
        .ok()
}
