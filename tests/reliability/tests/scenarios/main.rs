//! The reliability scenarios of `reliability-plan.md` §6.2, each against a system of its own:
//! PostgreSQL, NATS and the three services as child processes, every connection through a fault
//! proxy. Each prints one JSON line with its result. `REDRESS_RELIABILITY_LONG=1` runs the long
//! variants.
//!
//! # Layout
//! * `run`: starts the system, runs the load and the fault schedule side by side, settles,
//!   checks I1–I5, I7, I9 and I10, prints the report. Start here.
//! * `steady`: S0, the paced load with no fault.
//! * `zombie`: S5, a consumer paused past its ack wait beside a second instance.
//! * `gap_race`: S9, a reader against two transactions committing out of order.
//! * `poison`: S11, an undecodable event and one of an unknown version.
//! * `disk_full`: S12, NATS's store filled until JetStream refuses, then freed.
//! * `drain`: waiting for every relay to publish what was committed before a fault ended.
//! * `durability`: S13, the durability settings of NATS and PostgreSQL.
//! * `service_crash`: S1-lite, a service SIGKILLed and restarted again and again.
//! * `nats_crash`: S3-lite, nats-server SIGKILLed and restarted.
//! * `postgres_crash`: S4-lite, PostgreSQL stopped immediately and restarted.
//! * `failpoints`: S2, crashes at the relay's, a projection's and a command's failpoints.
//! * `network`: S6, latency, a PostgreSQL blackhole, NATS resets and thin links via the proxy.
//! * `outages`: the stretches a fault lasted and the commands that succeeded inside them.
//! * `partition`: S7, NATS in a namespace of its own, partitioned by nftables twice.
//! * `long_transaction`: S8, an open write transaction holding the read horizon mid-load.
//! * `contention`: S10, 32 clients writing one aggregate at once.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod contention;
mod disk_full;
mod drain;
mod durability;
mod failpoints;
mod gap_race;
mod long_transaction;
mod nats_crash;
mod network;
mod outages;
mod partition;
mod poison;
mod postgres_crash;
mod run;
mod service_crash;
mod steady;
mod zombie;
