//! API tests of the `redress.complaints.v1.Complaints` service, through the real server on port
//! 0 with a fresh PostgreSQL database and NATS namespace per test (`complaints::testing`).
//! Arrange/Act/Assert; inspection facts are arranged with the `InspectionCase` domain commands.
//!
//! # Layout
//! * `helpers`: the client, tokens, London instants, arranged inspections, status assertions.
//! * `submission`: scenarios S2, S4, S5, S6, S7, S14; personal data; read-your-writes.
//! * `lifecycle`: acknowledgement to response and withdrawal (S8), the overdue timer, the
//!   integration events on NATS, periodic review samples.
//! * `escalation`: the escalation context's events on its stream applied by the escalation
//!   policy (escalated, declined, closed, withdrawn, reconsideration), the escalation-window
//!   timer, redelivery through the inbox and parking.
//! * `learning_reviews`: `IncidentReported` on the learning-reviews stream applied by the
//!   learning-reviews policy: open complaints about the incident's inspections flagged sensitive
//!   with their status and deadlines unchanged, ended ones left alone, redelivery, parking, and
//!   who sees the flag.
//! * `tribunal`: submissions and out-of-time acceptance refused while a tribunal appeal the
//!   partner system lodged is pending, and accepted once it concluded.
//! * `concurrency`: a submission that loses every race for its inspection is `ABORTED`.
//! * `bad_inputs`: INVALID_ARGUMENT with field violations and no event, per RPC.
//! * `authorization`: UNAUTHENTICATED, PERMISSION_DENIED and another provider's NOT_FOUND.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod authorization;
mod bad_inputs;
mod concurrency;
mod escalation;
mod helpers;
mod learning_reviews;
mod lifecycle;
#[path = "../support/race.rs"]
mod race;
mod submission;
mod tribunal;
