//! W3: projection lag at half load. How long after a command's reply (its transaction has
//! committed) a read over gRPC shows its effect, while commands arrive at a fixed rate.
//!
//! * `project`: `Inspections.RecordInspectionNotified` (the W1 command, 500 bytes, a new
//!   inspection each) sent open loop to `redress serve complaints` at half of W1's peak
//!   throughput in the same run. As soon as a reply arrives, `Inspections.GetInspectionCase`
//!   asks for the new case with `consistency.at_least` = the receipt's position: the service
//!   holds the read until its inspections read models have applied that position (the
//!   platform's `wait_for_position`, woken by the runner's own commit), then selects the row
//!   and answers. The lag is from the command's reply arriving to the read's reply arriving,
//!   and the read must show the case at the receipt's version. Commands and reads go over
//!   [`CONNECTIONS`] HTTP/2 connections each, taken in turn: the service serves at most 32
//!   requests at once per connection, and held reads must not queue behind each other or
//!   behind commands, or the bench would time its own queue.
//! * `peer:floor`: the plan's floor, a JetStream publish, one delivery and one read-model
//!   upsert commit, at c=1: publish a 500-byte message and await its acknowledgement, to a fresh
//!   stream (file, R1, the same server and so the same `sync_interval`); a pull consumer
//!   receives it, runs one autocommit `INSERT … ON CONFLICT DO UPDATE` into a table shaped like
//!   the plan's `complaints_rm`, signals, and acknowledges. Timed from the publish call to the
//!   signal after the commit.
//!
//! The rate: `--w3-rate` when given, else half of W1's peak (the highest median throughput over
//! its concurrencies), else half of a short closed-loop c=32 burst of the same command measured
//! first. Every sample says which (`rate_source`).
//!
//! Counting, after each project run has settled: `lost` is the commands acknowledged whose case
//! is not in the read model, plus any shortfall of events applied; `duplicated` is the events the
//! inspections projection applied beyond the events in the log (its
//! `redress_projection_events_applied_total`, scraped from the service), plus events beyond one
//! per acknowledged command. The floor counts the same way: messages acknowledged without a row,
//! and rows upserted more than once. Any non-zero count fails the part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer};
use bytes::Bytes;
use futures_util::StreamExt;
use platform::grpc::Role;
use platform::pg::Pool;
use platform::testing::NatsServer;
use proto::common::v1::ReadConsistency;
use proto::complaints::v1 as pb;
use proto::complaints::v1::inspections_client::InspectionsClient;
use serde_json::json;
use tokio::sync::oneshot;
use tonic::metadata::{Ascii, MetadataValue};
use uuid::Uuid;

use crate::append::PROJECT;
use crate::command;
use crate::load;
use crate::relay;
use crate::report::{Enforced, Latency, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::served::{self, Served};
use crate::workload;

const BENCH: &str = "w3_projection_lag";
const FLOOR: &str = "peer:floor";
/// The schema of the floor's table.
const FLOOR_SCHEMA: &str = "w3_floor";
/// Commands in flight during the burst that stands in for W1's peak, as W1 at c=32.
const BURST_CONCURRENCY: usize = 32;
/// The burst's measured length (after the run's own warm-up).
const BURST: Duration = Duration::from_secs(3);
/// HTTP/2 connections for commands, and as many for reads.
const CONNECTIONS: usize = 4;
/// How long a read asks to be held for its position; the service caps it (`--max-read-wait`,
/// 5 s by default) and answers UNAVAILABLE after.
const READ_WAIT_MS: u32 = 5_000;
/// How long the open loop waits for the last commands and reads after the measured window.
const DRAIN: Duration = Duration::from_secs(15);
/// How long the floor waits for its consumer's commit before calling the message lost.
const FLOOR_TIMEOUT: Duration = Duration::from_secs(10);

/// Where W3's command rate came from.
#[derive(Clone, Copy, Debug)]
struct Rate {
    per_s: u64,
    /// `flag`, `w1_peak` or `burst_c32`.
    source: &'static str,
    /// The throughput it is half of (none when given by flag).
    peak_per_s: Option<f64>,
}

/// What a run's counting found.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    lost: u64,
    duplicated: u64,
}

/// Runs W3's rounds, then prints the medians and ratio lines. `w1_peak` is W1's peak throughput
/// in this run, when W1 ran.
pub(crate) async fn run(ctx: &Ctx, w1_peak: Option<f64>) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let nats = NatsServer::start().await?;
    log!("w3: nats-server at {}", nats.url());
    let client = platform::nats::connect(nats.url(), "redress-bench").await?;
    let js = jetstream::new(client.clone());
    let mut rate = match (s.w3_rate, w1_peak) {
        (Some(per_s), _) => Some(Rate {
            per_s,
            source: "flag",
            peak_per_s: None,
        }),
        (None, Some(peak)) => Some(half_of(peak, "w1_peak")),
        (None, None) => None,
    };
    let mut project = Vec::new();
    let mut floor = Vec::new();
    let mut counts = Counts::default();
    for round in 1..=s.rounds {
        let served = Served::start(&ctx.db, nats.url(), &format!("w3r{round}")).await?;
        let service_pool = ctx.db.pool(served::SERVICE, 2).await?;
        let rate = match rate {
            Some(rate) => rate,
            None => {
                let measured = burst(ctx, &served, &service_pool).await?;
                rate = Some(measured);
                measured
            }
        };
        for is_project in crate::run::project_first(round) {
            let (summary, found) = if is_project {
                lag(ctx, &served, &service_pool, rate).await?
            } else {
                floor_run(ctx, &js, round).await?
            };
            let (imp, c) = if is_project {
                (PROJECT, CONNECTIONS)
            } else {
                (FLOOR, 1)
            };
            ctx.reporter
                .sample(BENCH, imp, c, round, s.run_warmup, &summary);
            if found.lost + found.duplicated > 0 {
                log!(
                    "{BENCH} {imp} round {round}: {} lost, {} duplicated",
                    found.lost,
                    found.duplicated
                );
            }
            counts.lost += found.lost;
            counts.duplicated += found.duplicated;
            if is_project {
                project.push(summary);
            } else {
                floor.push(summary);
            }
        }
        service_pool.close().await;
        served.stop();
    }
    ctx.reporter.median(BENCH, PROJECT, CONNECTIONS, &project);
    ctx.reporter.median(BENCH, FLOOR, 1, &floor);
    let p50 = |s: &Summary| s.latency.map_or(f64::NAN, |l| l.p50 as f64);
    ctx.reporter.ratio(&Ratio {
        name: "w3_lag_p50_vs_floor".to_owned(),
        bench: BENCH,
        concurrency: None,
        numerator: PROJECT,
        denominator: Some(FLOOR),
        per_round: project
            .iter()
            .zip(&floor)
            .map(|(p, f)| p50(p) / p50(f))
            .collect(),
        target: Some((Target::AtMost(4.0, "<=4.0"), Enforced::Yes)),
    });
    ctx.reporter.ratio(&Ratio {
        name: "w3_lag_p99_ms".to_owned(),
        bench: BENCH,
        concurrency: None,
        numerator: PROJECT,
        denominator: None,
        per_round: project
            .iter()
            .map(|s| s.latency.map_or(f64::NAN, |l| l.p99 as f64 / 1000.0))
            .collect(),
        target: Some((Target::AtMost(10.0, "<=10"), Enforced::Yes)),
    });
    ctx.db.drop_schema(FLOOR_SCHEMA).await;
    drop(client);
    drop(nats);
    anyhow::ensure!(
        counts.lost == 0 && counts.duplicated == 0,
        "{} effects lost and {} duplicated",
        counts.lost,
        counts.duplicated
    );
    Ok(())
}

fn half_of(peak: f64, source: &'static str) -> Rate {
    Rate {
        per_s: ((peak / 2.0).round() as u64).max(1),
        source,
        peak_per_s: Some(peak),
    }
}

/// The command of every W3 op: the W1 request with a fresh idempotency key and inspection id.
fn notified(
    template: &pb::RecordInspectionNotifiedRequest,
    bearer: &MetadataValue<Ascii>,
    inspection_id: Uuid,
) -> tonic::Request<pb::RecordInspectionNotifiedRequest> {
    let mut message = template.clone();
    message.request_id = Uuid::new_v4().to_string();
    message.inspection_id = inspection_id.to_string();
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

/// W1's peak stand-in: the command closed loop at c=32 over one connection for [`BURST`];
/// then waits for the read models, so the backlog does not spill into the measured runs.
async fn burst(ctx: &Ctx, served: &Served, service_pool: &Pool) -> anyhow::Result<Rate> {
    let what = format!("{BENCH} rate burst c={BURST_CONCURRENCY}");
    log!("{what}: W1 did not run, so W3's rate is half of this burst");
    let client = InspectionsClient::new(served.channel().await?);
    let bearer = served.bearer("bench:partner-system", Role::InspectionSystem)?;
    let template = Arc::new(command::notified_request()?);
    let summary = load::closed_loop(
        &what,
        BURST_CONCURRENCY,
        ctx.settings.run_warmup,
        BURST,
        move || {
            let mut client = client.clone();
            let request = notified(&template, &bearer, Uuid::new_v4());
            async move {
                client.record_inspection_notified(request).await?;
                Ok(())
            }
        },
    )
    .await?;
    command::settle(service_pool).await?;
    anyhow::ensure!(summary.ops > 0, "no command succeeded in the rate burst");
    log!("{what}: {:.1} commands/s", summary.throughput());
    Ok(half_of(summary.throughput(), "burst_c32"))
}

/// Commands at `rate` per second, each followed by a read held until its effect is visible.
async fn lag(
    ctx: &Ctx,
    served: &Served,
    service_pool: &Pool,
    rate: Rate,
) -> anyhow::Result<(Summary, Counts)> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {PROJECT} at {}/s", rate.per_s);
    log!("{what} for {:?}", s.duration);
    let mut commands = Vec::with_capacity(CONNECTIONS);
    let mut reads = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        commands.push(InspectionsClient::new(served.channel().await?));
        reads.push(InspectionsClient::new(served.channel().await?));
    }
    let bearer = served.bearer("bench:partner-system", Role::InspectionSystem)?;
    let template = Arc::new(command::notified_request()?);
    let acknowledged: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let command_latency = Arc::new(Mutex::new(load::histogram()));
    // The open loop counts op `i` when it is due after the warm-up (see `load::open_loop`).
    let first_counted = (s.run_warmup.as_secs_f64() * rate.per_s as f64).ceil() as u64;
    let events_before = command::count_events(service_pool).await?;
    ctx.db.checkpoint().await;
    let summary = load::open_loop(&what, rate.per_s, s.run_warmup, s.duration, DRAIN, |i| {
        // `i % CONNECTIONS` is below the length of both.
        let connection = usize::try_from(i).unwrap_or_default() % CONNECTIONS;
        let mut commands = commands[connection].clone();
        let mut reads = reads[connection].clone();
        let bearer = bearer.clone();
        let id = Uuid::new_v4();
        let request = notified(&template, &bearer, id);
        let acknowledged = acknowledged.clone();
        let command_latency = command_latency.clone();
        async move {
            let sent = Instant::now();
            let reply = commands.record_inspection_notified(request).await?;
            let committed = Instant::now();
            acknowledged
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(id);
            if i >= first_counted {
                command_latency
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .saturating_record(load::micros(committed - sent));
            }
            let receipt = reply
                .into_inner()
                .receipt
                .ok_or_else(|| anyhow::anyhow!("the command answered without a receipt"))?;
            let mut read = tonic::Request::new(pb::GetInspectionCaseRequest {
                inspection_id: id.to_string(),
                consistency: Some(ReadConsistency {
                    at_least: receipt.position,
                    max_wait_ms: READ_WAIT_MS,
                }),
            });
            read.metadata_mut().insert("authorization", bearer);
            let view = reads.get_inspection_case(read).await?.into_inner();
            let visible = Instant::now();
            anyhow::ensure!(
                view.version == receipt.version
                    && view.stage == pb::InspectionCaseStage::Notified as i32,
                "the read showed version {} at stage {}, not the command's version {}",
                view.version,
                view.stage,
                receipt.version
            );
            Ok(visible - committed)
        }
    })
    .await?;
    let settle_ms = command::settle(service_pool).await?;
    let acknowledged =
        std::mem::take(&mut *acknowledged.lock().unwrap_or_else(PoisonError::into_inner));
    let appended = command::count_events(service_pool).await? - events_before;
    let (counts, fields) = count_project(served, service_pool, &acknowledged).await?;
    let commanded = Latency::from_histogram(
        &command_latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let mut summary = summary
        .with("rate_per_s", rate.per_s)
        .with("rate_source", rate.source)
        .with(
            "rate_peak_per_s",
            rate.peak_per_s.map(|p| crate::report::round_to(p, 1)),
        )
        .with("command_p50_us", commanded.map(|l| l.p50))
        .with("command_p99_us", commanded.map(|l| l.p99))
        .with("acknowledged", acknowledged.len())
        .with("events_appended", appended)
        .with("settle_ms", settle_ms);
    summary.extra.extend(fields);
    Ok((summary, counts))
}

/// Counts the project's effects once the read models have settled (see the module docs).
async fn count_project(
    served: &Served,
    pool: &Pool,
    acknowledged: &[Uuid],
) -> anyhow::Result<(Counts, Vec<(&'static str, serde_json::Value)>)> {
    let (missing, extra_events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM unnest($1::uuid[]) AS a(id)
                 WHERE NOT EXISTS (SELECT FROM inspection_cases c WHERE c.inspection_id = a.id)),
                (SELECT count(*) - count(DISTINCT stream_id) FROM events WHERE stream_id = ANY($1))",
    )
    .bind(acknowledged)
    .fetch_one(pool)
    .await?;
    let in_log: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let applied = match served.metrics().await {
        Ok(text) => events_applied(&text, complaints::inspections::read_models::NAME),
        Err(e) => {
            log!("{BENCH}: cannot scrape the service's metrics: {e:#}");
            None
        }
    };
    // Without the counter only the read model and the log are counted.
    let applied_minus_log = applied.map_or(0, |a| a as i64 - in_log);
    let counts = Counts {
        lost: (missing + (-applied_minus_log).max(0)).unsigned_abs(),
        duplicated: (extra_events + applied_minus_log.max(0)).unsigned_abs(),
    };
    let fields = vec![
        ("events_in_log", json!(in_log)),
        ("events_applied", json!(applied)),
        ("lost", json!(counts.lost)),
        ("duplicated", json!(counts.duplicated)),
    ];
    Ok((counts, fields))
}

/// The value of `redress_projection_events_applied_total` for `projection`, from a Prometheus
/// text exposition.
fn events_applied(exposition: &str, projection: &str) -> Option<u64> {
    let label = format!("projection=\"{projection}\"");
    exposition
        .lines()
        .filter(|line| line.starts_with("redress_projection_events_applied_total{"))
        .filter(|line| line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .reduce(|a, b| a + b)
}

type Waiting = Arc<Mutex<HashMap<Uuid, oneshot::Sender<()>>>>;

/// The floor at c=1: publish, delivery, one upsert commit, per op.
async fn floor_run(
    ctx: &Ctx,
    js: &jetstream::Context,
    round: u32,
) -> anyhow::Result<(Summary, Counts)> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {FLOOR}");
    log!("{what}");
    ctx.db
        .execute(format!(
            "DROP SCHEMA IF EXISTS {FLOOR_SCHEMA} CASCADE; CREATE SCHEMA {FLOOR_SCHEMA};
             CREATE TABLE {FLOOR_SCHEMA}.complaints_rm (id uuid PRIMARY KEY, status text NOT NULL,
               body bytea NOT NULL, version integer NOT NULL,
               updated_at timestamptz NOT NULL DEFAULT now());"
        ))
        .await?;
    let pool = ctx.db.pool(FLOOR_SCHEMA, 2).await?;
    let (ns, stream_name) = relay::fresh_stream(js, &format!("w3floor{round}")).await?;
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| anyhow::anyhow!("no stream {stream_name}: {e}"))?;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create a pull consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("cannot consume: {e}"))?;
    let waiting: Waiting = Arc::default();
    let consumer_task = tokio::spawn({
        let waiting = waiting.clone();
        let pool = pool.clone();
        async move {
            while let Some(message) = messages.next().await {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        log!("{BENCH} {FLOOR}: consumer error: {e}");
                        continue;
                    }
                };
                let Some(id) = message
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .and_then(|t| Uuid::parse_str(t).ok())
                else {
                    let _ = message.ack_with(AckKind::Term).await;
                    continue;
                };
                let upserted = sqlx::query(
                    "INSERT INTO complaints_rm (id, status, body, version) VALUES ($1, 'OPEN', $2, 1)
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body,
                         version = complaints_rm.version + 1, updated_at = now()",
                )
                .bind(id)
                .bind(message.payload.as_ref())
                .execute(&pool)
                .await;
                if let Err(e) = upserted {
                    log!("{BENCH} {FLOOR}: upsert failed: {e}");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_millis(10))))
                        .await;
                    continue;
                }
                let sender = waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                if let Some(sender) = sender {
                    let _ = sender.send(());
                }
                if let Err(e) = message.ack().await {
                    log!("{BENCH} {FLOOR}: ack failed: {e}");
                }
            }
        }
    });
    let payload: Bytes = workload::opened_event()?.payload.into();
    let event_type = workload::opened_type();
    let acknowledged: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    ctx.db.checkpoint().await;
    let result = load::closed_loop(&what, 1, s.run_warmup, s.duration, {
        let js = js.clone();
        let waiting = waiting.clone();
        let acknowledged = acknowledged.clone();
        move || {
            let js = js.clone();
            let payload = payload.clone();
            let waiting = waiting.clone();
            let acknowledged = acknowledged.clone();
            let id = Uuid::new_v4();
            let subject = ns.event_subject(relay::SERVICE, event_type, &id);
            async move {
                let (tx, rx) = oneshot::channel();
                waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, tx);
                js.publish(subject, payload)
                    .await
                    .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?
                    .await
                    .map_err(|e| anyhow::anyhow!("publish not acknowledged: {e}"))?;
                acknowledged
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(id);
                tokio::time::timeout(FLOOR_TIMEOUT, rx)
                    .await
                    .map_err(|_| anyhow::anyhow!("not upserted within {FLOOR_TIMEOUT:?}"))?
                    .map_err(|_| anyhow::anyhow!("the consumer stopped"))?;
                Ok(())
            }
        }
    })
    .await;
    consumer_task.abort();
    let acknowledged =
        std::mem::take(&mut *acknowledged.lock().unwrap_or_else(PoisonError::into_inner));
    let (missing, duplicated): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM unnest($1::uuid[]) AS a(id)
                 WHERE NOT EXISTS (SELECT FROM complaints_rm r WHERE r.id = a.id)),
                (SELECT coalesce(sum(version - 1), 0)::bigint FROM complaints_rm)",
    )
    .bind(&acknowledged)
    .fetch_one(&pool)
    .await?;
    let stored = relay::stored_messages(js, &stream_name).await.unwrap_or(0);
    relay::delete_stream(js, &stream_name).await;
    pool.close().await;
    let counts = Counts {
        lost: missing.unsigned_abs(),
        duplicated: duplicated.unsigned_abs(),
    };
    Ok((
        result?
            .with("acknowledged", acknowledged.len())
            .with("stored", stored)
            .with("lost", counts.lost)
            .with("duplicated", counts.duplicated),
        counts,
    ))
}

#[cfg(test)]
mod tests {
    use super::events_applied;

    #[test]
    fn the_applied_counter_is_read_for_one_projection() {
        let text = "# TYPE redress_projection_events_applied_total counter
redress_projection_events_applied_total{service=\"complaints\",projection=\"inspections\"} 1042
redress_projection_events_applied_total{service=\"complaints\",projection=\"inspection_timers\"} 1042
redress_projection_events_applied_total_other{projection=\"inspections\"} 7
";
        assert_eq!(events_applied(text, "inspections"), Some(1042));
        assert_eq!(events_applied(text, "complaints"), None);
    }
}
