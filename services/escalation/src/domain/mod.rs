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
//! * [`complaint_record`]: `ComplaintRecord`, the complaint facts copied from the complaints
//!   context, and the guard of one active escalation per complaint.
//! * [`policy`]: `Policy` and `PolicySet`, the application window and the closure rule.
//! * The categories (`Ground`, `OutOfRemitAsk`, `RefusalReason`, `RecommendationKind`,
//!   `ComplaintOutcome`, `Remit`, `DocumentKind`) are re-exported here.
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

pub mod complaint_record;
pub mod escalation;
pub mod policy;

mod categories;

pub use categories::*;
pub use platform::aggregate::{Actor, Reason, instant, timestamp};
pub(crate) use platform::calendar::local_date;
pub use platform::grpc::Role;
pub use proto::escalation::v1;

/// The opaque id under which the feed announces a case-file document and the case file returns
/// it: `doc-` and 16 hex digits of SHA-256 over the escalation id and the document reference.
/// Stable for one escalation, unlinkable across escalations, and no reference is revealed.
#[must_use]
pub fn document_id(escalation_id: uuid::Uuid, doc_ref: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(escalation_id.as_bytes());
    hash.update(doc_ref.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("doc-{hex}")
}

/// `Some(timestamp)` for an event field.
pub(crate) fn stamp(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

/// The last instant (23:59:59.999999999) of `date` in Europe/London; `None` at the edge of what
/// jiff represents.
pub(crate) fn end_of_day(date: Date) -> Option<Timestamp> {
    platform::calendar::end_of_day(date).ok()
}
