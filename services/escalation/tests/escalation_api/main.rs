//! API tests through the real server, PostgreSQL and NATS: the scenarios S8–S11, one active
//! escalation per complaint, idempotency, the complaints policy and its inbox, the case file, the
//! independent body's feed and its allow-list, bad inputs and the role rules.

#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod authorization;
mod bad_inputs;
mod feed;
mod helpers;
mod policy;
mod requests;
mod scenarios;
