//! The invariants about the system staying alive and clean, beside the ones about data:
//!
//! * I9 recovery liveness ([`recovery`]): after each fault heals, the `ok` rate is back at
//!   90 % of the baseline within 10 s, and no call outlived its deadline by more than a second.
//! * I10 hygiene ([`hygiene`]): no `panicked` in any service process's output, no
//!   `permissions violation` in the NATS server's log unless the scenario provokes one on
//!   purpose, and every projection's lag metric back under 2 s within T_proj.
//!
//! Both read what the run left behind — the history, the fault log, the processes' logs and
//! their `/metrics` — never the harness's memory of what it did.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::checker::Verdict;
use crate::cluster::{Cluster, Fault};
use crate::history::{Entry, Outcome};
use crate::workload::DEADLINE;

/// How soon after a heal the `ok` rate must be back (I9).
pub const RECOVERY_WITHIN: Duration = Duration::from_secs(10);
/// The share of the baseline rate that counts as recovered (I9).
pub const RECOVERED_SHARE: f64 = 0.9;
/// How far past its deadline a call may end (I9).
pub const DEADLINE_SLACK: Duration = Duration::from_secs(1);
/// How long projections may take to be back under [`LAG_BOUND`] (T_proj, I10).
pub const T_PROJ: Duration = Duration::from_secs(30);
/// The projection lag every projection must be back under (I10).
pub const LAG_BOUND: Duration = Duration::from_secs(2);
/// The window the `ok` rate is measured over.
const WINDOW_MS: u64 = 3_000;
/// The metric I10 reads.
const LAG_METRIC: &str = "redress_projection_lag_seconds";

/// Fault log actions that end a fault.
fn heals(action: &str) -> bool {
    matches!(
        action,
        "start" | "resume" | "heal" | "store_freed" | "proxy_pass_through"
    )
}

/// Fault log actions that begin one (an injected message or a second instance disturbs
/// nothing).
fn breaks(action: &str) -> bool {
    !heals(action) && !matches!(action, "inject" | "start_second")
}

/// `ok` commands ending in `[from, to)` per second.
fn rate(ok_ends: &[u64], from: u64, to: u64) -> f64 {
    if to <= from {
        return 0.0;
    }
    let n = ok_ends.partition_point(|&t| t < to) - ok_ends.partition_point(|&t| t < from);
    n as f64 * 1_000.0 / (to - from) as f64
}

/// I9, from the history and the fault log alone.
///
/// The baseline is the `ok` rate (commands per second, by the end of their last attempt) over
/// the stretches of the load that no fault touched: outside every span from a fault's onset to
/// 10 s after its heal (the whole load when those stretches add up to less than 3 s). A heal
/// counts as recovered when some 3 s window starting within 10 s of it reaches 90 % of the
/// baseline, or of the rate in the 3 s before the fault began when that was lower: the mix
/// changes as the cases age (their later steps wait on other services), so the rate the load
/// had at its start is not the rate it had when the fault came. Heals too close to the end of
/// the load for a window are counted in `figures.unchecked`, not judged. Every attempt must end
/// within its deadline plus 1 s.
pub fn recovery(history: &[Entry], faults: &[Fault]) -> Verdict {
    let mut verdict = Verdict::new("I9");
    let Some(load_start) = history.iter().map(|e| e.start_ms).min() else {
        return verdict;
    };
    let load_end = history
        .iter()
        .map(|e| e.start_ms)
        .max()
        .unwrap_or(load_start);
    let mut ok_ends: Vec<u64> = history
        .iter()
        .filter(|e| e.outcome == Outcome::Ok)
        .map(|e| e.end_ms)
        .collect();
    ok_ends.sort_unstable();

    // Spans a fault touched: from its onset (or the heal itself if none) to 10 s after.
    let within = u64::try_from(RECOVERY_WITHIN.as_millis()).unwrap_or(u64::MAX);
    let mut onset = None;
    let mut touched = Vec::new();
    let mut healed = Vec::new();
    for fault in faults {
        if breaks(&fault.action) {
            onset.get_or_insert(fault.at_ms);
        } else if heals(&fault.action) {
            let from = onset.take().unwrap_or(fault.at_ms);
            touched.push((from, fault.at_ms + within));
            healed.push((fault, from));
        }
    }
    if let Some(from) = onset {
        touched.push((from, u64::MAX));
    }
    let mut quiet_ms = 0;
    let mut quiet_ok = 0;
    let mut at = load_start;
    for (from, to) in touched.iter().copied().chain([(load_end, load_end)]) {
        if from > at {
            let end = from.min(load_end);
            if end > at {
                quiet_ms += end - at;
                quiet_ok +=
                    ok_ends.partition_point(|&t| t < end) - ok_ends.partition_point(|&t| t < at);
            }
        }
        at = at.max(to);
    }
    let baseline = if quiet_ms >= WINDOW_MS {
        quiet_ok as f64 * 1_000.0 / quiet_ms as f64
    } else {
        rate(&ok_ends, load_start, load_end)
    };
    verdict
        .figures
        .insert("baseline_ok_per_s_x100", (baseline * 100.0) as u64);

    let mut slowest = 0;
    for (fault, onset) in healed {
        if fault.at_ms + within + WINDOW_MS > load_end {
            *verdict.figures.entry("unchecked").or_default() += 1;
            continue;
        }
        let reference = if onset >= load_start + WINDOW_MS {
            baseline.min(rate(&ok_ends, onset - WINDOW_MS, onset))
        } else {
            baseline
        };
        // Windows starting every 250 ms from the heal to 10 s after it.
        let back = (0..=within / 250)
            .map(|k| fault.at_ms + k * 250)
            .find(|&from| rate(&ok_ends, from, from + WINDOW_MS) >= RECOVERED_SHARE * reference);
        if let Some(from) = back {
            slowest = slowest.max(from - fault.at_ms);
        }
        verdict.check(back.is_some(), || {
            format!(
                "{} {} at {} ms: the ok rate stayed under {:.0} % of {reference:.1}/s for 10 s",
                fault.action,
                fault.target,
                fault.at_ms,
                RECOVERED_SHARE * 100.0
            )
        });
    }
    verdict.figures.insert("slowest_recovery_ms", slowest);

    let bound = u64::try_from((DEADLINE + DEADLINE_SLACK).as_millis()).unwrap_or(u64::MAX);
    let mut longest = 0;
    for entry in history {
        for attempt in &entry.attempts {
            let took = attempt.end_ms.saturating_sub(attempt.start_ms);
            longest = longest.max(took);
            verdict.check(took <= bound, || {
                format!(
                    "{} {}: an attempt took {took} ms, past its deadline and 1 s",
                    entry.rpc, entry.idempotency_key
                )
            });
        }
    }
    verdict.figures.insert("longest_attempt_ms", longest);
    verdict
}

/// I10: reads every service process's log in the run directory and the NATS server's log,
/// then polls each running service's `/metrics` for up to [`T_PROJ`] until every projection's
/// lag is under [`LAG_BOUND`]. `violations_expected` is for negative tests that provoke
/// permission violations on purpose: they are then counted, not judged.
///
/// # Errors
/// When the run directory or a log cannot be read.
pub async fn hygiene(cluster: &Cluster, violations_expected: bool) -> anyhow::Result<Verdict> {
    let mut verdict = Verdict::new("I10");
    for entry in std::fs::read_dir(cluster.dir())? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let panics: Vec<&str> = text.lines().filter(|l| l.contains("panicked")).collect();
        verdict.check(panics.is_empty(), || {
            format!(
                "{name}: {} panics, the first: {}",
                panics.len(),
                excerpt(panics[0])
            )
        });
    }
    let nats_log = cluster.nats().await.log().to_owned();
    let text = std::fs::read_to_string(&nats_log)?;
    let denied: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("permissions violation"))
        .collect();
    verdict
        .figures
        .insert("permissions_violations", denied.len() as u64);
    if !violations_expected {
        verdict.check(denied.is_empty(), || {
            format!(
                "NATS: {} permissions violations, the first: {}",
                denied.len(),
                excerpt(denied[0])
            )
        });
    }

    let started = Instant::now();
    loop {
        let lags = projection_lags(cluster).await;
        let worst = lags.values().copied().fold(0.0, f64::max);
        if (!lags.is_empty() && worst < LAG_BOUND.as_secs_f64()) || started.elapsed() >= T_PROJ {
            verdict.check(!lags.is_empty(), || {
                format!("no service reports {LAG_METRIC}")
            });
            for (series, lag) in &lags {
                verdict.check(*lag < LAG_BOUND.as_secs_f64(), || {
                    format!(
                        "{series}: projection lag {lag:.1} s after {} s",
                        T_PROJ.as_secs()
                    )
                });
            }
            verdict.figures.insert("projections", lags.len() as u64);
            verdict
                .figures
                .insert("max_lag_ms", (worst * 1_000.0) as u64);
            verdict.figures.insert(
                "lag_waited_ms",
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
            return Ok(verdict);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every projection's `redress_projection_lag_seconds`, by `<process> <labels>`, from each
/// running service process's `/metrics`. A process that does not answer is left out.
pub async fn projection_lags(cluster: &Cluster) -> BTreeMap<String, f64> {
    let mut lags = BTreeMap::new();
    for (process, addr) in cluster.metrics_addrs().await {
        for (labels, value) in scrape(addr, LAG_METRIC).await.unwrap_or_default() {
            lags.insert(format!("{process} {labels}"), value);
        }
    }
    lags
}

/// The samples of one metric on a Prometheus text endpoint: its labels and its value.
///
/// # Errors
/// When the endpoint does not answer.
pub async fn scrape(addr: SocketAddr, metric: &str) -> anyhow::Result<Vec<(String, f64)>> {
    let body = crate::nats::http_get(addr, "/metrics").await?;
    Ok(body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            if !(labels.is_empty() || labels.starts_with('{')) {
                return None;
            }
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        .collect())
}

fn excerpt(line: &str) -> String {
    line.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Intent;

    fn ok_at(end_ms: u64) -> Entry {
        Entry {
            client: 0,
            idempotency_key: format!("k{end_ms}"),
            rpc: "/x/Y".into(),
            schema: "complaints".into(),
            scope: "s".into(),
            request_hash: String::new(),
            intent: Intent::Accept,
            start_ms: end_ms.saturating_sub(20),
            end_ms,
            outcome: Outcome::Ok,
            code: "OK".into(),
            attempts: vec![crate::history::Attempt {
                start_ms: end_ms.saturating_sub(20),
                end_ms,
                code: "OK".into(),
                event_ids: vec![],
            }],
            stream_id: None,
            version: None,
            returned_event_ids: vec![],
            created_id: None,
        }
    }

    fn fault(at_ms: u64, action: &str) -> Fault {
        Fault {
            at_ms,
            action: action.into(),
            target: "complaints".into(),
        }
    }

    #[test]
    fn a_rate_that_comes_back_after_the_heal_holds() {
        // 10 ok/s for 60 s, nothing from 20 s to 25 s, a heal at 25 s.
        let history: Vec<Entry> = (0..600)
            .map(|n| n * 100)
            .filter(|t| !(20_000..25_000).contains(t))
            .map(ok_at)
            .collect();
        let verdict = recovery(&history, &[fault(20_000, "kill9"), fault(25_000, "start")]);
        assert!(verdict.held, "{verdict:?}");
        assert_eq!(verdict.checked, 550 + 1, "every attempt and the one heal");
    }

    #[test]
    fn a_rate_that_stays_down_after_the_heal_is_a_violation() {
        // 10 ok/s until 20 s, then 1 ok/s though the fault healed at 25 s.
        let history: Vec<Entry> = (0..600)
            .map(|n| n * 100)
            .filter(|t| *t < 20_000 || t % 1_000 == 0)
            .map(ok_at)
            .collect();
        let verdict = recovery(&history, &[fault(20_000, "kill9"), fault(25_000, "start")]);
        assert!(!verdict.held);
        assert_eq!(verdict.violations, 1);
    }

    #[test]
    fn a_rate_that_comes_back_to_where_it_was_before_the_fault_holds_though_the_start_was_faster() {
        // 20 ok/s for the first 10 s, then 10 ok/s; nothing from 30 s to 32 s, a heal at 32 s,
        // then 10 ok/s again: back where it was, though under 90 % of the quiet stretches' rate.
        let history: Vec<Entry> = (0..1_200)
            .map(|n| n * 50)
            .filter(|t| *t < 10_000 || t % 100 == 0)
            .filter(|t| !(30_000..32_000).contains(t))
            .map(ok_at)
            .collect();
        let verdict = recovery(&history, &[fault(30_000, "kill9"), fault(32_000, "start")]);
        assert!(verdict.held, "{verdict:?}");
        assert!(
            verdict.figures["baseline_ok_per_s_x100"] > 1_111,
            "{verdict:?}"
        );
    }

    #[test]
    fn an_attempt_past_its_deadline_and_a_second_is_a_violation() {
        let mut history: Vec<Entry> = (0..100).map(|n| ok_at(n * 100)).collect();
        history[5].attempts[0].start_ms = 0;
        history[5].attempts[0].end_ms = 6_001;
        let verdict = recovery(&history, &[]);
        assert!(!verdict.held);
        assert_eq!(verdict.figures["longest_attempt_ms"], 6_001);
    }
}
