//! The reliability suite's harness: the real `redress` binary, PostgreSQL and NATS as child
//! processes, every connection between them through a fault proxy of ours, a recorded workload,
//! and a checker of the acceptance invariants of the reliability plan (§6.1). The scenarios are
//! the integration tests in `tests/scenarios`.
//!
//! # Layout
//! * [`cluster`]: the system under test and the faults a scenario injects (`kill9`, `pause`,
//!   `resume`, `restart` of a service, of NATS and of PostgreSQL, a NATS partition, and proxy
//!   modes). Start here.
//! * [`postgres`]: PostgreSQL 15 of the suite's own, with the plan's server settings.
//! * [`nats`]: the pinned nats-server with `sync_interval: always` and the deploy accounts.
//! * [`netns`]: a network namespace and veth pair where nftables partitions a port (S7).
//! * [`proxy`]: the TCP fault proxy: pass-through, latency, blackhole, bandwidth, reset.
//! * [`workload`]: concurrent clients writing realistic cases through the gRPC APIs, retrying
//!   unknown outcomes with the same idempotency key.
//! * [`history`]: what each client saw, one JSON line per command.
//! * [`checker`]: the invariants, decided from the history and the servers' state alone.
//! * [`report`]: the JSON line each scenario prints.
//! * [`signal`]: SIGKILL, SIGSTOP, SIGCONT and SIGTERM to child processes.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nats;
pub mod netns;
pub mod postgres;
pub mod proxy;
pub mod report;
pub mod signal;
pub mod workload;
