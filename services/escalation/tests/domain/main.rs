//! Given/when/then tests of the escalation domain: every rule and every rejection of the
//! `Escalation` aggregate, the policy, and the scenarios S8 to S11 of domain research §6.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod escalation;
mod helpers;
mod policy;
mod scenarios;
mod schema;
