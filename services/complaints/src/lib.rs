//! Complaints context: what happens after an inspection when a provider has a concern — the
//! inspection facts and the publication gate, informal concerns on site, on the helpline and the
//! day after, and formal complaints from submission to the escalation rights that follow the
//! response, the escalation's outcome and closure: the pure domain, its two gRPC services, their
//! read models and timers, the policies that apply the escalation context's events and flag the
//! complaints a learning review's incident touches, and the wiring that runs them with the relay
//! that publishes the context's events.
//!
//! # Layout
//! * [`domain`]: the rules. Start here.
//!   * [`domain::inspection`]: `InspectionCase` — upstream inspection facts, pauses, the windows
//!     that open when on-site work ends, the publication gate (and the complaints that held it),
//!     and the tribunal appeals that bar formal complaints while pending.
//!   * [`domain::concern`]: `Concern` — informal concerns and the unconnected senior inspector.
//!   * [`domain::complaint`]: `FormalComplaint` — the draft-stage window, out-of-time discretion,
//!     one open complaint per inspection, the response and escalation rights, the escalation in
//!     progress, reconsideration, closure and review, and the sensitive-case flag on an open
//!     complaint.
//!   * [`domain::intake`]: `IntakeLog` — refused submissions, which create no stream of their own.
//!   * [`domain::data_subject`]: `DataSubject` — the record that a data subject was forgotten.
//!   * [`domain::policy`]: `Policy` and `PolicySet` — every window and target, versioned by the
//!     day it took effect; the embedded set is `policy/default.json`.
//!
//! * [`app`]: the shared `Context` and the run loop: gRPC, relay, read models, timers, the
//!   escalation and learning-reviews policies.
//! * [`config`]: the service's settings.
//! * [`erasure`]: forgetting a data subject — their vault key destroyed and `DataSubjectForgotten`
//!   recorded in one transaction — and what the vault and the log know about a subject.
//! * [`testing`]: `spawn_app()` — the whole service in-process for API tests.
//! * [`formal_complaints`]: the `Complaints` gRPC service — submission with its publication hold,
//!   acknowledgement, investigation, response, withdrawal — its read models, the response-overdue
//!   and escalation-window timers, [`formal_complaints::escalation_policy`], the durable
//!   consumer of the escalation context's stream, and
//!   [`formal_complaints::learning_reviews_policy`], the durable consumer of the learning-reviews
//!   context's `IncidentReported`.
//! * [`projections`]: every projection by name, listed and rebuilt for `redress projections`.
//! * [`inspections`]: the `Inspections` gRPC service — inspection facts, pauses and the pause
//!   register, the publication gate, concerns and the day-after route, the wellbeing contact,
//!   tribunal appeals — its read models and the pause-limit and publication-delay timers.
//!
//! # How the application drives it
//! A command carries its time, its new ids, the calendar and the policy, and the facts about
//! other aggregates its rules need, each documented on the command. The process manager that
//! ties the aggregates together reacts to complaint events:
//! * `ComplaintSubmitted` → `inspection::Command::PlacePublicationHold` (refused with
//!   `ALREADY_PUBLISHED` for a complaint accepted after publication: no hold is needed);
//! * `ComplaintResponseIssued` / `ComplaintWithdrawn` → `inspection::Command::ReleasePublicationHold`
//!   (when the complaint holds publication: a reconsidered response holds nothing).
//!
//! The escalation policy reacts to the escalation context's integration events, each command in
//! the consumer's transaction with its inbox record:
//! * `EscalationRequested` → `complaint::Command::RecordEscalationRequested`;
//! * `EscalationClosed` / `EscalationDeclinedByIndependentBody` → `complaint::Command::CloseComplaint`
//!   (`Closure::EscalationConcluded`);
//! * `EscalationWithdrawn` → `complaint::Command::RecordEscalationWithdrawn`;
//! * `RecommendationAccepted` ("reconsider the complaint") →
//!   `complaint::Command::ReopenForReconsideration`.
//!
//! The learning-reviews policy reacts to `IncidentReported`: for each related inspection it takes
//! the complaints `InspectionCase::formal_complaints` knows and those the `complaints` read model
//! lists, and runs `complaint::Command::FlagSensitiveCase` on each in the consumer's transaction;
//! a withdrawn or closed complaint refuses it and is left alone.
//!
//! The escalation-window timer runs `complaint::Command::CloseComplaint`
//! (`Closure::EscalationWindowLapsed`), refused while an escalation is in progress.
//!
//! A submission (and a decision maker's out-of-time acceptance) reads whether a tribunal appeal
//! is pending from `InspectionCase::complaint_intake`, in the same load as the rest of the
//! inspection's facts; the hold it stages expects that version of the inspection, so an appeal
//! lodged meanwhile makes the unit of work decide again.
//!
//! A refused complaint or concern submission is recorded in the intake log
//! (`complaint::rejected_submission`, `concern::rejected_concern`) and answered with
//! `FAILED_PRECONDITION` carrying the rejection's reason code.

pub mod app;
pub mod config;
pub mod domain;
pub mod erasure;
pub mod formal_complaints;
pub mod inspections;
pub mod projections;
pub mod testing;
