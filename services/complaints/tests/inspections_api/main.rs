//! API tests of the `Inspections` service: a real server on port 0, a fresh PostgreSQL database
//! and a real NATS per test, through `complaints::testing::spawn_app`.
//!
//! * `appeals`: tribunal appeals lodged, shown on the case, concluded, repeated and retried.
//! * `concerns`: the day-after route (S1), too-early contacts (S2, S3), handlers.
//! * `facts`: inspection facts, the wellbeing contact, the publication-delay timer.
//! * `handling`: leaving unresolved, flagging a risk, withdrawing.
//! * `pauses`: the pause register and the pause-limit timer (S12).
//! * `publication`: the publication gate.
//! * `idempotency`: retried and reused request ids.
//! * `concurrency`: a command that loses every optimistic-concurrency race is `ABORTED`.
//! * `bad_inputs`: `INVALID_ARGUMENT` with field violations, and nothing written.
//! * `authorization`: unauthenticated, wrong roles, other providers.
//! * `read_your_writes`: queries at a receipt's position.

mod appeals;
mod authorization;
mod bad_inputs;
mod concerns;
mod concurrency;
mod facts;
mod handling;
mod helpers;
mod idempotency;
mod pauses;
mod publication;
#[path = "../support/race.rs"]
mod race;
mod read_your_writes;
