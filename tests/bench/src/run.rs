//! The whole run: sentinel, database, warm-up, the parts, sentinel, exit code.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{Part, Settings};
use crate::db::{self, BenchDb};
use crate::load;
use crate::report::{Common, Reporter, log, round_to};
use crate::workload;

/// What every part needs.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) settings: Settings,
    pub(crate) db: BenchDb,
    pub(crate) reporter: Reporter,
    /// W1's median c=32 throughput of the project, once W1 has run (W8 runs at half of it).
    pub(crate) w1_c32_throughput: std::sync::OnceLock<f64>,
}

pub(crate) async fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    log!("settings: {settings:?}");
    let start = crate::sentinel::measure("start").await;
    let db = BenchDb::create(&settings.database_url).await?;
    let common = common_fields(&db, &settings).await;
    let ctx = Ctx {
        settings,
        db,
        reporter: Reporter::new(common),
        w1_c32_throughput: std::sync::OnceLock::new(),
    };
    let outcome = tokio::select! {
        failed = run_parts(&ctx) => Some(failed),
        _ = tokio::signal::ctrl_c() => {
            log!("interrupted; cleaning up");
            None
        }
    };
    let Ctx {
        settings,
        db,
        reporter,
        ..
    } = ctx;
    db.drop_database().await;
    let Some(failed_parts) = outcome else {
        return Ok(ExitCode::from(130));
    };
    let end = crate::sentinel::measure("end").await;
    reporter.other(
        "sentinel",
        "disk",
        None,
        None,
        crate::sentinel::fields(start, end),
    );
    if !failed_parts.is_empty() {
        log!("parts that failed: {failed_parts:?}");
        return Ok(ExitCode::from(2));
    }
    let failed = reporter.failed();
    if failed.is_empty() {
        log!("done; every enforced target passed");
        Ok(ExitCode::SUCCESS)
    } else if settings.enforce {
        log!("done; enforced targets failed: {failed:?}");
        Ok(ExitCode::from(1))
    } else {
        log!("done; targets failed (not enforced): {failed:?}");
        Ok(ExitCode::SUCCESS)
    }
}

/// Runs the warm-up and every selected part; returns the parts that failed.
async fn run_parts(ctx: &Ctx) -> Vec<&'static str> {
    let mut failed = Vec::new();
    if let Err(e) = warmup(ctx).await {
        log!("warm-up failed: {e:#}");
        failed.push("warmup");
        return failed;
    }
    if ctx.settings.runs(Part::Append)
        && let Err(e) = crate::append::run(ctx).await
    {
        log!("append part failed: {e:#}");
        failed.push("append");
    }
    // W7 is the relay part's throughput; `relay` adds the relay's latency.
    if (ctx.settings.runs(Part::Relay) || ctx.settings.runs(Part::W7))
        && let Err(e) = crate::relay::run(ctx, ctx.settings.runs(Part::Relay)).await
    {
        log!("relay part failed: {e:#}");
        failed.push("relay");
    }
    if ctx.settings.runs(Part::Projection)
        && let Err(e) = crate::projection::run(ctx).await
    {
        log!("projection part failed: {e:#}");
        failed.push("projection");
    }
    let mut w1_peak = None;
    if ctx.settings.runs(Part::W1) {
        match crate::command::run(ctx).await {
            Ok(peak) => w1_peak = peak,
            Err(e) => {
                log!("w1 part failed: {e:#}");
                failed.push("w1");
            }
        }
    }
    if ctx.settings.runs(Part::W3)
        && let Err(e) = crate::lag::run(ctx, w1_peak).await
    {
        log!("w3 part failed: {e:#}");
        failed.push("w3");
    }
    if ctx.settings.runs(Part::W6)
        && let Err(e) = crate::overhead::run(ctx).await
    {
        log!("w6 part failed: {e:#}");
        failed.push("w6");
    }
    if ctx.settings.runs(Part::W2)
        && let Err(e) = crate::execute::run(ctx).await
    {
        log!("w2 part failed: {e:#}");
        failed.push("w2");
    }
    if ctx.settings.runs(Part::W5)
        && let Err(e) = crate::query::run(ctx).await
    {
        log!("w5 part failed: {e:#}");
        failed.push("w5");
    }
    if ctx.settings.runs(Part::Memory)
        && let Err(e) = crate::memory::run(ctx).await
    {
        log!("memory part failed: {e:#}");
        failed.push("memory");
    }
    if ctx.settings.runs(Part::W8)
        && let Err(e) = crate::feed::run(ctx).await
    {
        log!("w8 part failed: {e:#}");
        failed.push("w8");
    }
    failed
}

async fn common_fields(db: &BenchDb, settings: &Settings) -> Common {
    let pg_version = db
        .show("server_version")
        .await
        .map(|v| v.split_whitespace().next().unwrap_or_default().to_owned());
    let config = json!({
        "pg_synchronous_commit": db.show("synchronous_commit").await,
        "pg_fsync": db.show("fsync").await,
        "pg_shared_buffers": db.show("shared_buffers").await,
        "pg_max_wal_size": db.show("max_wal_size").await,
        "js_sync_interval": "always",
        "js_storage": "file",
        "replicas": 1,
        "quick": settings.quick,
        "rounds": settings.rounds,
    });
    let versions = json!({
        "postgres": pg_version,
        "nats_server": db::nats_server_version().await,
    });
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    Common {
        config,
        versions,
        host: json!({ "cpus": cpus }),
        git_sha: json!(db::git_sha().await),
        git_dirty: json!(db::git_dirty().await),
    }
}

/// A bare-insert load at c=8 for `--warmup-secs`, so the disk and WAL reach their steady
/// state before anything is measured (the plan asks for more than `max_wal_size` of WAL).
async fn warmup(ctx: &Ctx) -> anyhow::Result<()> {
    let secs = ctx.settings.warmup;
    if secs.is_zero() {
        return Ok(());
    }
    let schema = "warmup";
    ctx.db.execute(workload::peer_table_sql(schema)).await?;
    let pool = ctx.db.pool(schema, 8).await?;
    let wal_before = ctx.db.wal_lsn().await;
    log!("warm-up: bare INSERT at c=8 for {secs:?}");
    let payload = std::sync::Arc::new(workload::peer_payload());
    let event_type = workload::opened_type();
    let summary = load::closed_loop("warmup", 8, std::time::Duration::ZERO, secs, {
        let pool = pool.clone();
        move || {
            let pool = pool.clone();
            let payload = payload.clone();
            async move {
                sqlx::query(workload::PEER_INSERT)
                    .bind(uuid::Uuid::new_v4())
                    .bind(event_type)
                    .bind(payload.as_str())
                    .execute(&pool)
                    .await?;
                Ok(())
            }
        }
    })
    .await?;
    let wal_bytes = match (wal_before, ctx.db.wal_lsn().await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    pool.close().await;
    ctx.db.drop_schema(schema).await;
    log!(
        "warm-up: {} inserts, {:.0}/s, {} MB of WAL",
        summary.ops,
        summary.throughput(),
        wal_bytes.map_or(-1, |b| b / 1_000_000)
    );
    ctx.reporter.other(
        "warmup",
        "warmup",
        Some("peer:sql_insert"),
        Some(8),
        vec![
            ("payload_bytes", json!(crate::report::PAYLOAD_BYTES)),
            ("duration_s", json!(round_to(secs.as_secs_f64(), 3))),
            ("ops", json!(summary.ops)),
            ("errors", json!(summary.errors)),
            ("throughput_per_s", json!(round_to(summary.throughput(), 1))),
            ("wal_bytes", json!(wal_bytes)),
        ],
    );
    Ok(())
}

/// Whether the project runs before its peer, per side, in `round`: first in odd rounds, second
/// in even ones, so neither side always meets a warmer or a colder machine.
pub(crate) fn project_first(round: u32) -> [bool; 2] {
    if round % 2 == 1 {
        [true, false]
    } else {
        [false, true]
    }
}
