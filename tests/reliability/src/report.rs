//! A scenario's result as one JSON line on stdout: the scenario id, the commands and their
//! outcomes, the faults injected, each invariant's verdict, and the recovery times.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checker::Verdict;
use crate::cluster::{Fault, Service};
use crate::history::{Entry, Outcome};

/// Counts of the history's commands.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Commands {
    pub total: u64,
    pub ok: u64,
    pub fail: u64,
    pub unknown: u64,
    /// Commands that needed more than one attempt.
    pub retried: u64,
    pub attempts: u64,
}

impl Commands {
    pub fn of(history: &[Entry]) -> Commands {
        let mut commands = Commands::default();
        for entry in history {
            commands.total += 1;
            commands.attempts += entry.attempts.len() as u64;
            if entry.attempts.len() > 1 {
                commands.retried += 1;
            }
            match entry.outcome {
                Outcome::Ok => commands.ok += 1,
                Outcome::Fail => commands.fail += 1,
                Outcome::Unknown => commands.unknown += 1,
            }
        }
        commands
    }
}

/// How long the system took to answer `ok` again after a fault healed: from the heal to the
/// end of the first attempt that started after it and succeeded, among the commands of the
/// healed service (any command, after NATS, PostgreSQL or a proxy healed).
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    pub healed: String,
    pub at_ms: u64,
    /// `None` when no command succeeded after it.
    pub first_ok_after_ms: Option<u64>,
}

/// The recoveries after every `start` and `resume` fault in the log.
pub fn recoveries(faults: &[Fault], history: &[Entry]) -> Vec<Recovery> {
    faults
        .iter()
        .filter(|f| {
            matches!(f.action.as_str(), "start" | "resume") || f.action == "proxy_pass_through"
        })
        .map(|fault| {
            let schema = Service::ALL
                .into_iter()
                .find(|s| s.name() == fault.target)
                .map(Service::schema);
            let first = history
                .iter()
                .filter(|e| schema.is_none_or(|schema| e.schema == schema))
                .flat_map(|e| &e.attempts)
                .filter(|a| a.start_ms >= fault.at_ms && a.code == "OK")
                .map(|a| a.end_ms)
                .min();
            Recovery {
                healed: format!("{} {}", fault.action, fault.target),
                at_ms: fault.at_ms,
                first_ok_after_ms: first.map(|end| end - fault.at_ms),
            }
        })
        .collect()
}

/// The one line a scenario prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub duration_ms: u64,
    pub commands: Commands,
    pub faults: Vec<Fault>,
    pub invariants: Vec<Verdict>,
    pub recovery: Vec<Recovery>,
    /// Time from the end of the load until every reader had caught up.
    pub settle_ms: u64,
    /// Where the history file was written.
    pub history: String,
    /// Figures a scenario adds (latencies, lags, counts), reported but not judged.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, serde_json::Value>,
}

/// p50, p99 and the maximum of the `ok` commands' latency (first attempt to answer, retries
/// included), in milliseconds.
pub fn latency(history: &[Entry]) -> serde_json::Value {
    let mut took: Vec<u64> = history
        .iter()
        .filter(|e| e.outcome == Outcome::Ok)
        .map(|e| e.end_ms.saturating_sub(e.start_ms))
        .collect();
    took.sort_unstable();
    let at = |q: f64| {
        took.get(((took.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
    };
    serde_json::json!({"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": took.last()})
}

/// The share of commands per service schema, in percent, and per second over the load.
pub fn mix(history: &[Entry]) -> serde_json::Value {
    let mut by_schema: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in history {
        *by_schema.entry(entry.schema.as_str()).or_default() += 1;
    }
    let total = history.len().max(1) as f64;
    let span = history
        .iter()
        .map(|e| e.start_ms)
        .max()
        .unwrap_or(0)
        .saturating_sub(history.iter().map(|e| e.start_ms).min().unwrap_or(0))
        .max(1);
    let mut mix: serde_json::Map<String, serde_json::Value> = by_schema
        .into_iter()
        .map(|(schema, n)| {
            (
                format!("{schema}_pct"),
                ((n as f64 * 100.0 / total).round()).into(),
            )
        })
        .collect();
    mix.insert(
        "commands_per_s".into(),
        ((history.len() as f64 * 1_000.0 / span as f64 * 10.0).round() / 10.0).into(),
    );
    serde_json::Value::Object(mix)
}

impl Report {
    /// Prints the report as one JSON line on stdout.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("the report could not be written: {e}"),
        }
    }

    /// Whether every invariant held.
    pub fn held(&self) -> bool {
        self.invariants.iter().all(|v| v.held)
    }
}
