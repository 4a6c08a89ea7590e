//! The escalation context: a complainant who is not satisfied with Ofsted's response asks the
//! independent body (ICASO) to review how the complaint was handled (domain research §1.5,
//! §5.4): the pure domain, the `Escalations` gRPC service, the policy that copies complaint
//! facts from the complaints stream, the read models, and the independent body's minimised feed.
//!
//! # Layout
//! * [`domain`]: the rules. Start here.
//!   * [`domain::escalation`]: the `Escalation` aggregate, from the request to closure.
//!   * [`domain::complaint_record`]: the complaint facts escalation keeps, and the guard of one
//!     active escalation per complaint.
//!   * [`domain::policy`]: the escalation policy, versioned and dated, with its embedded default.
//! * [`grpc`]: `EscalationsService` — parse, execute, reply — and the role rules.
//! * [`policy`]: the durable consumer of the complaints stream (with its inbox).
//! * [`read_models`]: the escalations, the independent body's queue and the recommendation
//!   register.
//! * [`feed`]: the translator into `redress.feed.v1`, its gap-free positions and its relay.
//! * [`projections`]: every projection by name, listed and rebuilt for `redress projections`.
//! * [`app`]: the shared `Context` and the run loop; [`config`]: the settings.
//! * [`testing`]: `spawn_app()` — the whole service in-process for API tests.
//!
//! # How the application drives it
//! A request loads the complaint record (NOT_FOUND for another provider's complaint), decides
//! the request against its facts and whether another escalation of the complaint is active, and
//! commits the record's `EscalationOpened` and the escalation's `EscalationRequested` and
//! `EscalationReferred` in one unit of work. A refused request is recorded as
//! `EscalationRefused` and answered `FAILED_PRECONDITION` with the reason (`NOT_EXHAUSTED`, …).
//! The complaints context reads the escalation events from the `ESCALATION` stream: closure and
//! declines close the complaint, an accepted "reconsider the complaint" recommendation reopens it.

pub mod app;
pub mod config;
pub mod domain;
pub mod feed;
pub mod grpc;
pub mod policy;
pub mod projections;
pub mod read_models;
pub mod testing;
