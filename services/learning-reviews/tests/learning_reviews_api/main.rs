//! API tests through the real server, PostgreSQL and NATS: S13 end to end, the decision not to
//! review, the commission's unit of work, the recommendation register across contexts and its
//! rebuild, idempotency, read-your-writes, the links to complaints and escalation with their
//! inbox and parking, what is published (and that nothing reaches the feed), bad inputs and the
//! role rules.

#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod authorization;
mod bad_inputs;
mod helpers;
mod links;
mod register;
mod requests;
mod scenarios;
mod streams;
