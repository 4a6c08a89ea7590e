//! The learning-reviews context: when a tragic incident is reported, the decision whether to
//! review it is on record, and a review — commissioned with the approvals the policy names, by a
//! reviewer independent of the related inspections — runs from its terms of reference to the
//! response to every recommendation and the dissemination of its lessons (domain research §3,
//! §5.5, invariant 9).
//!
//! # Layout
//! * [`domain`]: the rules. Start here.
//!   * [`domain::incident`]: the `IncidentNotification` aggregate, from the report to the
//!     decision whether to review.
//!   * [`domain::review`]: the `LearningReview` aggregate, from the proposal to closure.
//!   * [`domain::connections`]: the people connected with each inspection and the cases about
//!     it, copied from the complaints context for the independence check.
//!   * [`domain::register`]: the adjudicator's recommendations, copied from the escalation
//!     context for the register.
//!   * [`domain::policy`]: the commissioning policy, versioned and dated, with its embedded
//!     default.

pub mod domain;
