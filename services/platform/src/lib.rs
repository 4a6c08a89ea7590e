//! The platform every Redress service stands on: the event-sourcing core, the gRPC plumbing,
//! telemetry and the working-day calendar. It is a library, not a service; nothing here knows
//! about complaints, escalation or learning reviews.
//!
//! # Layout
//! * [`aggregate`]: the pure `decide` / `evolve` contract and given/when/then test support. Start here.
//! * [`event_store`]: appends with expected version and idempotency keys, in one statement; loads
//!   and executes commands.
//! * [`tail`]: reading the whole log gap-free, by transaction horizon; [`tail::Position`].
//! * [`relay`]: the events table as outbox, copied to JetStream with acknowledged checkpoints.
//! * [`projection`]: read models applied exactly once, rebuilt into fresh tables, read-your-writes.
//! * [`consumer`]: durable JetStream consumers for cross-context policies, with inbox and parking.
//! * [`nats`]: stream names, subjects, stream settings and the published headers.
//! * [`grpc`]: the server every service uses: limits, health, reflection, JWT authentication,
//!   deny-by-default authorization, rich errors, request validation, graceful shutdown.
//! * [`telemetry`]: JSON logs, OpenTelemetry traces and propagation, Prometheus metrics.
//! * [`clock`]: the one source of "now" for handlers; settable in tests.
//! * [`calendar`]: England and Wales working days, in Europe/London, with versioned bank holidays.
//! * [`migrate`]: versioned, checksummed migrations per component and schema.
//! * [`pg`]: the per-service [`pg::Pool`], which checks only connections that sat idle and
//!   gives one whose statement completed straight to the next, and the `xid8` and
//!   `timestamptz` codecs.
//! * [`timer`]: durable timers that fire deadline-driven commands once, across restarts.
//! * [`vault`]: per-subject encrypted personal data, erased by destroying the subject's key.
//! * [`testing`]: a fresh database and a private NATS server per test, and a small aggregate.

pub mod aggregate;
pub mod calendar;
pub mod clock;
pub mod consumer;
pub mod event_store;
pub mod grpc;
pub mod migrate;
pub mod nats;
pub mod pg;
pub mod projection;
pub mod relay;
pub mod tail;
pub mod telemetry;
pub mod testing;
pub mod timer;
pub mod vault;
