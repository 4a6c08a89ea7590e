//! Flows across the contexts through the `redress` binary on a real PostgreSQL and NATS.
//!
//! # Layout
//! * `stack`: the database, NATS, the binary serving every service, clients and a journey.
//! * `escalation`: S8–S11 across complaints, escalation and the independent body's feed,
//!   including a SIGKILL mid-flow.
//! * `learning_reviews`: S13 across learning reviews and complaints.

#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod escalation;
mod learning_reviews;
mod stack;
