//! The stretches a fault lasted, from the fault log, and what succeeded inside them: S3, S7 and
//! S12 assert that commands, which need only PostgreSQL, went on while NATS was out.

use redress_reliability::cluster::Fault;
use redress_reliability::history::{Entry, Outcome};

/// Each `(from, to)` in milliseconds where a `begin` fault is followed directly by an `end`.
pub fn outages(faults: &[Fault], begin: &str, end: &str) -> Vec<(u64, u64)> {
    faults
        .windows(2)
        .filter(|w| w[0].action == begin && w[1].action == end)
        .map(|w| (w[0].at_ms, w[1].at_ms))
        .collect()
}

/// The `ok` commands that started and ended inside `(from, to)`.
pub fn ok_within(history: &[Entry], (from, to): (u64, u64)) -> usize {
    history
        .iter()
        .filter(|e| e.outcome == Outcome::Ok && e.start_ms >= from && e.end_ms <= to)
        .count()
}
