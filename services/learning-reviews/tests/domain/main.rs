//! Given/when/then tests of the learning-reviews domain: every rule and every rejection of the
//! `IncidentNotification` and `LearningReview` aggregates and of the copied facts, the policy,
//! scenario S13 of domain research §6, and the event schema's conventions.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod connections;
mod helpers;
mod incident;
mod policy;
mod register;
mod review;
mod scenarios;
mod schema;
