//! The operator's side: `redress healthcheck`, `redress streams`, `redress projections`,
//! `redress events`, `redress subjects`, the metrics and logs of `redress serve`, and the
//! PostgreSQL roles of `deploy/postgres`, each against real servers.
//!
//! # Layout
//! * `helpers`: the binary, child processes, a NATS server with `deploy/nats/accounts.conf`,
//!   and [`helpers::StackDb`], a test database set up by the deploy files with roles of its own.
//! * `workload`: `redress serve` of every service on a database and NATS server of its own, and
//!   realistic cases written through the gRPC APIs.
//! * `healthcheck`: exit codes against a serving `redress serve`, a NOT_SERVING endpoint,
//!   nothing listening and an endpoint that never answers.
//! * `streams`: `redress streams` run twice as `ops` creates, then leaves alone, every stream and
//!   consumer, with the reliability plan's settings, and puts back a setting changed by hand.
//! * `projections`: `redress projections list|rebuild` give back identical tables, also under
//!   load; the feed translator is refused; an unknown name lists the known ones.
//! * `events`: `redress events show` prints a stream's events with metadata and decoded payloads.
//! * `erasure`: `redress subjects find|show|forget` on a complainant and an inspection written
//!   through the API: unreadable records, the API's erased marker, no personal data in any read
//!   model, the log intact but for the erasure event, identical rebuilds, a second run that
//!   changes nothing, bad ids refused.
//! * `telemetry`: every metric family on `/metrics` with its labels; trace ids in JSON logs.
//! * `postgres_matrix`: role × table × operation as a literal table, every cell one statement
//!   rolled back: only what `grants.sql` lists, 42501 everywhere else, the log's owner stopped by
//!   the append-only trigger.
//! * `postgres_roles`: each service runs as its role; no role may drop or replace what its
//!   schema keeps or create tables in another service's schema; limits; files applied again.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod erasure;
mod events;
mod healthcheck;
mod helpers;
mod postgres_matrix;
mod postgres_roles;
mod projections;
mod streams;
mod telemetry;
mod workload;
