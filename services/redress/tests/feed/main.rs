//! The independent body's side of NATS: what its user (and each service user) may do on a
//! server started with `deploy/nats/accounts.conf`, and `redress feed tail` reading the feed
//! as the body would.
//!
//! # Layout
//! * `helpers`: the server with `deploy/nats/accounts.conf`, logged-in users that record the
//!   server's permission reports, the feed as the escalation user creates it, feed messages.
//! * `nats_matrix`: every user × action as a literal table, one case per cell on one server;
//!   each denial proven by the server's permissions violation for the exact subject, each allowed
//!   cell by the action succeeding.
//! * `nats_permissions`: the feed's settings, the body reading the whole feed, direct gets,
//!   credentials in a URL.
//! * `services`: the complaints and escalation services start under their own users.
//! * `tail`: `redress::feed_tail::run` and the binary: decoding, resuming, redeliveries, gaps.
//! * `contract`: `docs/feed/asyncapi.yaml` describes every message of `redress.feed.v1`.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod contract;
mod helpers;
mod nats_matrix;
mod nats_permissions;
mod services;
mod tail;
