//! Part 3: projections.
//!
//! * Lag: `ProjectionRunner::run()` keeps a read model (one row per stream, one UNNEST upsert
//!   per batch) while appends arrive at `--projection-rate` per second; the latency is from the
//!   append call returning to the runner's `applied()` watch passing the event's position.
//! * Rebuild: N stored events replayed by `ProjectionRunner::rebuild()` into fresh tables,
//!   next to `peer:projection_raw`, a bare loop reading the same events with one
//!   `SELECT … ORDER BY transaction_id, position` in pages of 5,000 and upserting each page
//!   with the same statement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use platform::event_store::EventStore;
use platform::migrate;
use platform::pg::Pool;
use platform::projection::ProjectionRunner;
use sqlx::AssertSqlSafe;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::append::{PROJECT, append_one};
use crate::load;
use crate::report::{Enforced, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::workload::{self, Batch, StreamSummary};

const PEER: &str = "peer:projection_raw";
/// Pool of the lag run: appenders and the runner.
const LAG_POOL: u32 = 8;
/// Page size of the raw peer (the runner's rebuild reads pages of 5,000 too).
const PAGE: usize = 5_000;

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let mut lags = Vec::new();
    for round in 1..=s.rounds {
        let summary = lag(ctx, round).await?;
        ctx.reporter.sample(
            "projection_lag",
            PROJECT,
            LAG_POOL as usize,
            round,
            s.run_warmup,
            &summary,
        );
        lags.push(summary);
    }
    ctx.reporter
        .median("projection_lag", PROJECT, LAG_POOL as usize, &lags);
    ctx.reporter.ratio(&Ratio {
        name: "projection_lag_p99_ms".to_owned(),
        bench: "projection_lag",
        concurrency: Some(LAG_POOL as usize),
        numerator: PROJECT,
        denominator: None,
        per_round: lags
            .iter()
            .map(|s| s.latency.map_or(f64::NAN, |l| l.p99 as f64 / 1000.0))
            .collect(),
        target: Some((Target::AtMost(50.0, "<=50"), Enforced::Yes)),
    });
    rebuild(ctx).await
}

async fn lag(ctx: &Ctx, round: u32) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let schema = format!("projection_lag_r{round}");
    let pool = ctx.db.pool(&schema, LAG_POOL).await?;
    migrate::apply(&pool, &schema, &[migrate::EVENT_STORE]).await?;
    let store = EventStore::new(pool.clone());
    let runner = ProjectionRunner::new(&store, &schema, StreamSummary)?;
    runner.init().await?;
    let applied = runner.applied();
    let shutdown = CancellationToken::new();
    let task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { runner.run(shutdown).await })
    };
    ctx.db.checkpoint().await;
    log!(
        "projection lag round {round}: {} appends/s for {:?}",
        s.projection_rate,
        s.duration
    );
    let events = Arc::new(vec![workload::opened_event()?]);
    let result = load::open_loop(
        "projection lag",
        s.projection_rate,
        s.run_warmup,
        s.duration,
        Duration::from_secs(10),
        |_| {
            let store = store.clone();
            let events = events.clone();
            let mut applied = applied.clone();
            async move {
                let appended = append_one(&store, Uuid::new_v4(), &events).await?;
                let returned = Instant::now();
                let position = appended
                    .position()
                    .ok_or_else(|| anyhow::anyhow!("the append returned no position"))?;
                let seen = tokio::time::timeout(
                    Duration::from_secs(10),
                    applied.wait_for(|p| *p >= position),
                )
                .await
                .map(|r| r.is_ok());
                match seen {
                    Ok(true) => Ok(returned.elapsed()),
                    Ok(false) => Err(anyhow::anyhow!("the runner stopped")),
                    Err(_) => Err(anyhow::anyhow!("event not visible within 10 s")),
                }
            }
        },
    )
    .await;
    shutdown.cancel();
    task.await??;
    let (events_stored, rows): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM bench_streams)",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    ctx.db.drop_schema(&schema).await;
    Ok(result?
        .with("rate_per_s", s.projection_rate)
        .with("appended", events_stored)
        .with("read_model_rows", rows))
}

async fn rebuild(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let n = s.rebuild_events;
    let schema = "projection_rebuild";
    let peer_schema = "projection_rebuild_peer";
    let pool = ctx.db.pool(schema, 4).await?;
    migrate::apply(&pool, schema, &[migrate::EVENT_STORE]).await?;
    log!("projection rebuild: storing {n} events");
    let seeding = Instant::now();
    workload::seed_events(&pool, n, 250_000).await?;
    log!(
        "projection rebuild: stored {n} events in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    ctx.db
        .execute(format!("CREATE SCHEMA {peer_schema}"))
        .await?;
    let peer_pool = ctx.db.pool(peer_schema, 2).await?;
    let store = EventStore::new(pool.clone());
    let runner = ProjectionRunner::new(&store, schema, StreamSummary)?;
    let mut project = Vec::new();
    let mut peer = Vec::new();
    for round in 1..=s.rounds {
        let order = crate::run::project_first(round);
        for is_project in order {
            if is_project {
                ctx.db.checkpoint().await;
                log!("projection rebuild project round {round}");
                let started = Instant::now();
                let mut next_log = 250_000;
                let done = runner
                    .rebuild(|p| {
                        if p.done >= next_log {
                            log!("  rebuilt {} of {}", p.done, p.total);
                            next_log += 250_000;
                        }
                    })
                    .await?;
                let elapsed = started.elapsed();
                let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_streams")
                    .fetch_one(&pool)
                    .await?;
                anyhow::ensure!(
                    done == n && u64::try_from(rows)? == n,
                    "the rebuild replayed {done} events into {rows} rows, of {n}"
                );
                let summary = rebuilt(done, elapsed);
                ctx.reporter.sample(
                    "projection_rebuild",
                    PROJECT,
                    1,
                    round,
                    Duration::ZERO,
                    &summary,
                );
                project.push(summary);
            } else {
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP TABLE IF EXISTS bench_streams; {}",
                    workload::read_model_sql()
                )))
                .execute(&peer_pool)
                .await?;
                ctx.db.checkpoint().await;
                log!("projection rebuild peer round {round}");
                let started = Instant::now();
                let done = raw_rebuild(&peer_pool, schema).await?;
                let elapsed = started.elapsed();
                let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_streams")
                    .fetch_one(&peer_pool)
                    .await?;
                anyhow::ensure!(
                    done == n && u64::try_from(rows)? == n,
                    "the raw loop read {done} events into {rows} rows, of {n}"
                );
                let summary = rebuilt(done, elapsed);
                ctx.reporter.sample(
                    "projection_rebuild",
                    PEER,
                    1,
                    round,
                    Duration::ZERO,
                    &summary,
                );
                peer.push(summary);
            }
        }
    }
    ctx.reporter
        .median("projection_rebuild", PROJECT, 1, &project);
    ctx.reporter.median("projection_rebuild", PEER, 1, &peer);
    ctx.reporter.ratio(&Ratio {
        name: "projection_rebuild_events_per_s".to_owned(),
        bench: "projection_rebuild",
        concurrency: Some(1),
        numerator: PROJECT,
        denominator: None,
        per_round: project.iter().map(Summary::throughput).collect(),
        target: Some((Target::AtLeast(50_000.0, ">=50000"), Enforced::Yes)),
    });
    ctx.reporter.ratio(&Ratio {
        name: "projection_rebuild_vs_raw".to_owned(),
        bench: "projection_rebuild",
        concurrency: Some(1),
        numerator: PROJECT,
        denominator: Some(PEER),
        per_round: project
            .iter()
            .zip(&peer)
            .map(|(a, b)| a.throughput() / b.throughput())
            .collect(),
        // W4 of the targets.
        target: Some((Target::AtLeast(0.70, ">=0.70"), Enforced::Yes)),
    });
    peer_pool.close().await;
    pool.close().await;
    ctx.db.drop_schema(peer_schema).await;
    ctx.db.drop_schema(schema).await;
    Ok(())
}

fn rebuilt(done: u64, elapsed: Duration) -> Summary {
    Summary {
        ops: done,
        errors: 0,
        elapsed,
        latency: None,
        extra: Vec::new(),
    }
}

/// The raw peer: one streaming SELECT in log order on one connection, an UNNEST upsert per
/// 5,000 events on another.
async fn raw_rebuild(pool: &Pool, events_schema: &str) -> anyhow::Result<u64> {
    let mut reader = pool.acquire().await?;
    let mut writer = pool.acquire().await?;
    let sql = format!(
        "SELECT stream_id, version, event_type, payload, position FROM {events_schema}.events
         ORDER BY transaction_id, position"
    );
    let mut rows = sqlx::query_as::<_, (Uuid, i32, String, Vec<u8>, i64)>(AssertSqlSafe(sql))
        .fetch(&mut *reader);
    let mut batch = Batch::with_capacity(PAGE);
    let mut pending = 0usize;
    let mut done = 0u64;
    while let Some((stream_id, version, event_type, payload, position)) = rows.try_next().await? {
        batch.push(stream_id, version, &event_type, &payload, position)?;
        pending += 1;
        if pending == PAGE {
            batch.upsert(&mut writer).await?;
            done += pending as u64;
            pending = 0;
        }
    }
    batch.upsert(&mut writer).await?;
    done += pending as u64;
    Ok(done)
}
