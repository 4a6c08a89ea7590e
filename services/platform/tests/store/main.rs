//! Event store, tail, relay, projection and consumer tests against real PostgreSQL and NATS.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod consumer;
mod event_store;
mod helpers;
mod migrate;
mod pool;
mod projection;
mod relay;
mod starting_streams;
mod tail;
mod timer;
mod vault;
