//! The learning-reviews context: when a tragic incident is reported, the decision whether to
//! review it is on record, and a review — commissioned with the approvals the policy names, by a
//! reviewer independent of the related inspections — runs from its terms of reference to the
//! response to every recommendation and the dissemination of its lessons (domain research §3,
//! §5.5, invariant 9). It exists because the coroner found that no learning review followed a
//! headteacher's death after an inspection, and that no policy required one.
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
//! * [`grpc`]: `LearningReviewsService` — parse, execute, reply — and the role rules.
//! * [`policy`]: the links to the other contexts: durable consumers of `COMPLAINTS` and
//!   `ESCALATION` (with the inbox).
//! * [`read_models`]: incidents, reviews with their recommendations, and the recommendation
//!   register across contexts.
//! * [`projections`]: every projection by name, listed and rebuilt for `redress projections`.
//! * [`app`]: the shared `Context` and the run loop; [`config`]: the settings.
//! * [`testing`]: `spawn_app()` — the whole service in-process for API tests.
//!
//! # How the application drives it
//! A report records the incident and the relay publishes `IncidentReported` on
//! `LEARNING_REVIEWS` (the complaints context flags the related inspections' complaints as
//! sensitive). The incident is assessed under the policy in force, which the review proposed for
//! it then follows. A commission commits the review's `LearningReviewCommissioned` and the
//! incident's `LearningReviewCommissioningDecided` in one unit of work. An appointment is
//! decided against the connections the complaints link recorded for every related inspection.
//! Nothing from this context reaches the independent body's feed.

pub mod app;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod policy;
pub mod projections;
pub mod read_models;
pub mod testing;
