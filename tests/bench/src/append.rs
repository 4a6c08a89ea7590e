//! Part 1: appending one 500-byte event to a fresh stream through `EventStore::append` (with an
//! idempotency key: the real command path) next to `peer:sql_insert`, a bare one-row
//! autocommit INSERT, at the same concurrency, pool size and load loop.
//!
//! Every run gets fresh tables (a new schema), and a CHECKPOINT first, like the plan's
//! `TRUNCATE; CHECKPOINT` before each pgbench run. Rounds alternate which side goes first
//! (project, peer | peer, project | …) so neither always runs on a warmer disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use platform::event_store::{CommandKey, EventStore, ExpectedVersion};
use platform::migrate;
use platform::tail::Metadata;
use uuid::Uuid;

use crate::load;
use crate::report::{Enforced, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::workload;

const BENCH: &str = "append";
pub(crate) const PROJECT: &str = "project";
/// The bare one-row INSERT peer, also W1's.
pub(crate) const PEER: &str = "peer:sql_insert";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Side {
    Project,
    Peer,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Project => PROJECT,
            Side::Peer => PEER,
        }
    }
}

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let mut samples: BTreeMap<(usize, Side), Vec<Summary>> = BTreeMap::new();
    for round in 1..=s.rounds {
        for &c in &s.concurrency {
            let order = if round % 2 == 1 {
                [Side::Project, Side::Peer]
            } else {
                [Side::Peer, Side::Project]
            };
            for side in order {
                let summary = run_one(ctx, BENCH, side, c, round).await?;
                ctx.reporter
                    .sample(BENCH, side.name(), c, round, s.run_warmup, &summary);
                samples.entry((c, side)).or_default().push(summary);
            }
        }
    }
    for ((c, side), runs) in &samples {
        ctx.reporter.median(BENCH, side.name(), *c, runs);
    }
    for &c in &s.concurrency {
        let (Some(project), Some(peer)) = (
            samples.get(&(c, Side::Project)),
            samples.get(&(c, Side::Peer)),
        ) else {
            continue;
        };
        let informational = c == 1;
        let throughput: Vec<f64> = project
            .iter()
            .zip(peer)
            .map(|(a, b)| a.throughput() / b.throughput())
            .collect();
        let p99: Vec<f64> = project
            .iter()
            .zip(peer)
            .map(|(a, b)| match (a.latency, b.latency) {
                (Some(a), Some(b)) => a.p99 as f64 / b.p99 as f64,
                _ => f64::NAN,
            })
            .collect();
        ctx.reporter.ratio(&Ratio {
            name: format!("append_c{c}_throughput_vs_sql_insert"),
            bench: BENCH,
            concurrency: Some(c),
            numerator: PROJECT,
            denominator: Some(PEER),
            per_round: throughput,
            target: Some(if informational {
                (Target::AtLeast(0.50, ">=0.50"), Enforced::Informational)
            } else {
                (Target::AtLeast(0.60, ">=0.60"), Enforced::Yes)
            }),
        });
        ctx.reporter.ratio(&Ratio {
            name: format!("append_c{c}_p99_vs_sql_insert"),
            bench: BENCH,
            concurrency: Some(c),
            numerator: PROJECT,
            denominator: Some(PEER),
            per_round: p99,
            target: Some((
                Target::AtMost(3.0, "<=3.0"),
                if informational {
                    Enforced::Informational
                } else {
                    Enforced::Yes
                },
            )),
        });
    }
    Ok(())
}

/// One measured run of `side` at `c` writers, in a fresh schema `<bench>_r<round>_c<c>_<side>`.
pub(crate) async fn run_one(
    ctx: &Ctx,
    bench: &str,
    side: Side,
    c: usize,
    round: u32,
) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let pool_size = u32::try_from(c.max(2))?;
    let schema = format!(
        "{bench}_r{round}_c{c}_{}",
        match side {
            Side::Project => "project",
            Side::Peer => "peer",
        }
    );
    log!("{bench} {} c={c} round {round}", side.name());
    if side == Side::Peer {
        ctx.db.execute(workload::peer_table_sql(&schema)).await?;
    }
    let pool = ctx.db.pool(&schema, pool_size).await?;
    if side == Side::Project {
        migrate::apply(&pool, &schema, &[migrate::EVENT_STORE]).await?;
    }
    ctx.db.checkpoint().await;
    let what = format!("{bench} {} c={c}", side.name());
    let load = async {
        match side {
            Side::Project => {
                let store = EventStore::new(pool.clone());
                let events = Arc::new(vec![workload::opened_event()?]);
                load::closed_loop(&what, c, s.run_warmup, s.duration, move || {
                    let store = store.clone();
                    let events = events.clone();
                    async move {
                        append_one(&store, Uuid::new_v4(), &events)
                            .await
                            .map(|_| ())
                    }
                })
                .await
            }
            Side::Peer => {
                let payload = Arc::new(workload::peer_payload());
                let event_type = workload::opened_type();
                let pool = pool.clone();
                load::closed_loop(&what, c, s.run_warmup, s.duration, move || {
                    let pool = pool.clone();
                    let payload = payload.clone();
                    async move {
                        sqlx::query(workload::PEER_INSERT)
                            .bind(Uuid::new_v4())
                            .bind(event_type)
                            .bind(payload.as_str())
                            .execute(&pool)
                            .await?;
                        Ok(())
                    }
                })
                .await
            }
        }
    };
    let result = metered_with_wal(ctx, load).await;
    pool.close().await;
    ctx.db.drop_schema(&schema).await;
    result
}

/// [`load::metered`] of an in-process load on the bench database (client and PostgreSQL CPU),
/// plus `wal_bytes_per_op`: the WAL written during the measured window, per op, what each side
/// costs the disk.
pub(crate) async fn metered_with_wal<L>(ctx: &Ctx, load: L) -> anyhow::Result<Summary>
where
    L: std::future::Future<Output = anyhow::Result<Summary>>,
{
    let s = &ctx.settings;
    let window_start = tokio::time::Instant::now() + s.run_warmup;
    let window_end = window_start + s.duration;
    let wal = async {
        tokio::time::sleep_until(window_start).await;
        let before = ctx.db.wal_lsn().await;
        tokio::time::sleep_until(window_end).await;
        let after = ctx.db.wal_lsn().await;
        before.zip(after).map(|(a, b)| b - a)
    };
    let (result, wal_bytes) = tokio::join!(load::metered(ctx, load, None, true), wal);
    result.map(|summary| {
        let per_op = wal_bytes
            .filter(|_| summary.ops > 0)
            .map(|b| (b as f64 / summary.ops as f64).round() as i64);
        summary.with("wal_bytes_per_op", per_op)
    })
}

/// One command's append: a fresh stream, `NoStream`, its own idempotency key and metadata.
pub(crate) async fn append_one(
    store: &EventStore,
    stream_id: Uuid,
    events: &[platform::event_store::NewEvent],
) -> anyhow::Result<platform::event_store::Appended> {
    let first = events
        .first()
        .ok_or_else(|| anyhow::anyhow!("no event to append"))?;
    let key = CommandKey::new(
        "bench",
        &stream_id.simple().to_string(),
        "redress.bench.v1.Bench/Open",
        &first.payload,
    )
    .map_err(|e| anyhow::anyhow!("invalid idempotency key: {e}"))?;
    let metadata = Metadata {
        correlation_id: Uuid::now_v7(),
        actor: "bench".to_owned(),
        ..Metadata::default()
    };
    let appended = store
        .append(
            workload::STREAM_TYPE,
            stream_id,
            ExpectedVersion::NoStream,
            events,
            &metadata,
            Some(&key),
        )
        .await?;
    Ok(appended)
}
