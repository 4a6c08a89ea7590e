//! The pure domain of the learning-reviews context: incident notifications, learning reviews, the
//! facts copied from the other contexts, and the commissioning policy.
//!
//! Nothing here reads a clock, a database or the network. Every command carries the time it
//! happened, the ids it creates, the [`policy::Policy`] it follows and the facts about other
//! aggregates its rules need: the incident's assessment and decision (from its
//! `IncidentNotification`), and the people connected with each related inspection (from the
//! `InspectionConnections` streams a policy consumer fills from the complaints context).
//!
//! # Layout
//! * [`incident`]: `IncidentNotification`, from the report to the decision whether to review.
//! * [`review`]: `LearningReview`, from the proposal to closure. Start here for invariant 9.
//! * [`connections`]: `InspectionConnections` and `CaseLink`, the complaints facts the
//!   independence check reads.
//! * [`register`]: `RegisterEntry`, the adjudicator's recommendations copied from the escalation
//!   context for the cross-context register.
//! * [`policy`]: `Policy` and `PolicySet`: approvers, triggers, conflicts and closure.
//! * The categories (`IncidentSource`, `IncidentCategory`, `Approver`, `ScopeItem`, `PriorRole`,
//!   `RecommendationResponse`, `Audience`, `RecommendationSource`, `RegisterDecision`,
//!   `Connection`) are re-exported here.
//!
//! # Conventions
//! * An event's timestamps and ids are always set by `decide`; `evolve` reads a missing or invalid
//!   timestamp as the Unix epoch (see [`instant`]) instead of failing, because a recorded event is
//!   a fact. A category this build does not know is dropped, never guessed.
//! * Every rejection has a stable machine-readable [`Reason::reason`] code for the gRPC
//!   `FAILED_PRECONDITION` detail.
//! * Personal data never enters an event: people, accounts, reasons, reports and responses are
//!   references into the learning-review vault or the document store (research §5.7).

use jiff::Timestamp;
use uuid::Uuid;

pub mod connections;
pub mod incident;
pub mod policy;
pub mod register;
pub mod review;

mod categories;

pub use categories::*;
pub use platform::aggregate::{Actor, Reason, instant, timestamp};
pub use platform::grpc::Role;
pub use proto::learning_reviews::v1;

/// `Some(timestamp)` for an event field.
pub(crate) fn stamp(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(timestamp(at))
}

/// An id as events carry it; an invalid one reads as the nil UUID.
pub(crate) fn parse_id(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or(Uuid::nil())
}

/// Ids as events carry them; invalid ones are dropped.
pub(crate) fn parse_ids(texts: &[String]) -> Vec<Uuid> {
    texts
        .iter()
        .filter_map(|t| Uuid::parse_str(t).ok())
        .collect()
}

/// The role rule of a command: `by` must hold one of `roles`.
pub(crate) fn require<R>(
    by: &Actor,
    roles: &[Role],
    refuse: impl FnOnce(Role) -> R,
) -> Result<(), R> {
    if roles.contains(&by.role) {
        Ok(())
    } else {
        Err(refuse(by.role))
    }
}
