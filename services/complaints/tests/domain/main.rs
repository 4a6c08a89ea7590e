//! Given/when/then tests of the complaints domain: every rule and every rejection of the three
//! aggregates, the intake log, the record of forgotten data subjects, the policy, the scenarios
//! of domain research §6 with their real dates, and the event schema's privacy and versioning
//! conventions.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod complaint;
mod concern;
mod data_subject;
mod helpers;
mod inspection;
mod intake;
mod policy;
mod scenarios;
mod schema;
