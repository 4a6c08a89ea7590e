//! W1: a real command end to end over gRPC, next to the floors it is made of.
//!
//! * `project`: `Inspections.RecordInspectionNotified` sent to `redress serve complaints` (see
//!   `served`) as role `inspection_system`, each call with a fresh `request_id` and a fresh
//!   inspection id, so each creates a new aggregate: bearer token checked, request parsed,
//!   `decide`, one append with its idempotency record, the reply. The relay, the read models
//!   and the policies run in the same process meanwhile, as deployed. The request encodes to
//!   500 bytes (padded with team inspector references).
//! * `peer:sql_insert`: the bare one-row INSERT of the append part, at the same concurrency.
//! * `peer:tonic_echo`: the bare tonic echo (see `echo`), 500 bytes each way.
//! * `peer:jetstream_raw_sync`: `publish(..).await?.await?` of a 500-byte message per op to a
//!   fresh stream (file, R1, `sync_interval: always`). The project does not wait for JetStream
//!   (the relay publishes after the commit), so this peer is reported but not in the c=1 sum.
//!
//! Closed loops at each `--concurrency`, one HTTP/2 connection per gRPC run. Every round gets
//! a fresh `complaints` schema and service process; rounds alternate which side goes first.
//! After each project run the bench waits until the relay and every read model have caught
//! up (`settle_ms`), so their backlog never runs during a peer's measurement.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use platform::pg::Pool;
use platform::testing::NatsServer;
use prost::Message as _;
use proto::complaints::v1 as complaints;
use proto::complaints::v1::inspections_client::InspectionsClient;
use uuid::Uuid;

use crate::append::{self, PROJECT};
use crate::echo::{self, EchoServer};
use crate::load;
use crate::relay;
use crate::report::{self, Enforced, PAYLOAD_BYTES, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::served::{self, Served};
use crate::workload;

const BENCH: &str = "w1_command";
const JS_SYNC: &str = "peer:jetstream_raw_sync";
/// The longest the bench waits for the relay and read models after a run.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Project,
    SqlInsert,
    Echo,
    JetStreamSync,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Project => PROJECT,
            Side::SqlInsert => append::PEER,
            Side::Echo => echo::PEER,
            Side::JetStreamSync => JS_SYNC,
        }
    }
}

type Samples = BTreeMap<(usize, Side), Vec<Summary>>;

/// Runs W1's rounds, then prints the medians and ratio lines. Returns the project's peak: the
/// highest of its median throughputs over the concurrencies (W3 loads the service at half of it).
pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<Option<f64>> {
    let s = &ctx.settings;
    let nats = NatsServer::start().await?;
    log!("w1: nats-server at {}", nats.url());
    let client = platform::nats::connect(nats.url(), "redress-bench").await?;
    let js = jetstream::new(client.clone());
    let echo = EchoServer::start().await?;
    let mut samples = Samples::new();
    for round in 1..=s.rounds {
        let served = Served::start(&ctx.db, nats.url(), &format!("w1r{round}")).await?;
        let service_pool = ctx.db.pool(served::SERVICE, 2).await?;
        for &c in &s.concurrency {
            let mut order = [
                Side::Project,
                Side::SqlInsert,
                Side::Echo,
                Side::JetStreamSync,
            ];
            if round % 2 == 0 {
                order.reverse();
            }
            for side in order {
                let summary = match side {
                    Side::Project => project(ctx, &served, &service_pool, c).await?,
                    Side::SqlInsert => {
                        append::run_one(ctx, "w1", append::Side::Peer, c, round).await?
                    }
                    Side::Echo => echo::closed_loop(ctx, &echo, BENCH, c).await?,
                    Side::JetStreamSync => js_sync(ctx, &js, c, round).await?,
                };
                ctx.reporter
                    .sample(BENCH, side.name(), c, round, s.run_warmup, &summary);
                samples.entry((c, side)).or_default().push(summary);
            }
        }
        service_pool.close().await;
        served.stop();
    }
    for ((c, side), runs) in &samples {
        ctx.reporter.median(BENCH, side.name(), *c, runs);
    }
    ratios(ctx, &samples);
    if let Some(runs) = samples.get(&(32, Side::Project)) {
        let throughput: Vec<f64> = runs.iter().map(Summary::throughput).collect();
        let _ = ctx
            .w1_c32_throughput
            .set(crate::report::median(&throughput));
    }
    drop(client);
    drop(nats);
    Ok(peak(&samples))
}

/// The highest median throughput of the project over the concurrencies.
fn peak(samples: &Samples) -> Option<f64> {
    samples
        .iter()
        .filter(|((_, side), _)| *side == Side::Project)
        .map(|(_, runs)| {
            let throughput: Vec<f64> = runs.iter().map(Summary::throughput).collect();
            crate::report::median(&throughput)
        })
        .filter(|t| t.is_finite())
        .reduce(f64::max)
}

fn ratios(ctx: &Ctx, samples: &Samples) {
    let runs = |c: usize, side: Side| samples.get(&(c, side)).map_or(&[][..], Vec::as_slice);
    let p50 = |s: &Summary| s.latency.map_or(f64::NAN, |l| l.p50 as f64);
    let p99 = |s: &Summary| s.latency.map_or(f64::NAN, |l| l.p99 as f64);
    let (project, insert, echo, sync) = (
        runs(1, Side::Project),
        runs(1, Side::SqlInsert),
        runs(1, Side::Echo),
        runs(1, Side::JetStreamSync),
    );
    if !project.is_empty() {
        ctx.reporter.ratio(&Ratio {
            name: "w1_c1_p50_vs_echo_plus_insert".to_owned(),
            bench: BENCH,
            concurrency: Some(1),
            numerator: PROJECT,
            denominator: Some("peer:tonic_echo+peer:sql_insert"),
            per_round: project
                .iter()
                .zip(echo)
                .zip(insert)
                .map(|((p, e), i)| p50(p) / (p50(e) + p50(i)))
                .collect(),
            target: Some((Target::AtMost(1.3, "<=1.3"), Enforced::Yes)),
        });
        // The plan's sum with the synchronous publish (P2), for reference only: the command
        // does not wait for JetStream.
        ctx.reporter.ratio(&Ratio {
            name: "w1_c1_p50_vs_echo_plus_insert_plus_sync_publish".to_owned(),
            bench: BENCH,
            concurrency: Some(1),
            numerator: PROJECT,
            denominator: Some("peer:tonic_echo+peer:sql_insert+peer:jetstream_raw_sync"),
            per_round: project
                .iter()
                .zip(echo)
                .zip(insert)
                .zip(sync)
                .map(|(((p, e), i), j)| p50(p) / (p50(e) + p50(i) + p50(j)))
                .collect(),
            target: None,
        });
    }
    let (project, insert) = (runs(32, Side::Project), runs(32, Side::SqlInsert));
    if !project.is_empty() {
        ctx.reporter.ratio(&Ratio {
            name: "w1_c32_throughput_vs_sql_insert".to_owned(),
            bench: BENCH,
            concurrency: Some(32),
            numerator: PROJECT,
            denominator: Some(append::PEER),
            per_round: report::per_round(project, insert, |p, i| p.throughput() / i.throughput()),
            target: Some((Target::AtLeast(0.50, ">=0.50"), Enforced::Yes)),
        });
        ctx.reporter.ratio(&Ratio {
            name: "w1_c32_p99_vs_sql_insert".to_owned(),
            bench: BENCH,
            concurrency: Some(32),
            numerator: PROJECT,
            denominator: Some(append::PEER),
            per_round: report::per_round(project, insert, |p, i| p99(p) / p99(i)),
            target: Some((Target::AtMost(3.0, "<=3.0"), Enforced::Yes)),
        });
    }
}

/// One closed-loop run of the real command at `c` in flight over one connection.
async fn project(
    ctx: &Ctx,
    served: &Served,
    service_pool: &Pool,
    c: usize,
) -> anyhow::Result<Summary> {
    let what = format!("{BENCH} {PROJECT} c={c}");
    log!("{what}");
    ctx.db.checkpoint().await;
    let bearer = served.bearer("bench:partner-system", Role::InspectionSystem)?;
    let events_before = count_events(service_pool).await?;
    let log_before = served.log_bytes();
    let load = notified_load(
        ctx,
        &what,
        served.channel().await?,
        bearer,
        c,
        ctx.settings.duration,
    );
    let summary = load::metered(ctx, load, Some(&|| served.cpu_seconds()), true).await?;
    let appended = count_events(service_pool).await? - events_before;
    let logged = served.log_bytes().saturating_sub(log_before);
    let settle_ms = settle(service_pool).await?;
    Ok(summary
        .with("request_bytes", PAYLOAD_BYTES)
        .with("events_appended", appended)
        .with("log_bytes", logged)
        .with("settle_ms", settle_ms))
}

/// W1's load: `c` closed-loop callers of `RecordInspectionNotified` over `channel` with
/// `bearer` (role `inspection_system`), each call with a fresh `request_id` and inspection id,
/// measured for `measure` after the run's warm-up.
pub(crate) async fn notified_load(
    ctx: &Ctx,
    what: &str,
    channel: tonic::transport::Channel,
    bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    c: usize,
    measure: std::time::Duration,
) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let client = InspectionsClient::new(channel);
    let template = Arc::new(notified_request()?);
    load::closed_loop(what, c, s.run_warmup, measure, move || {
        let mut client = client.clone();
        let mut message = (*template).clone();
        message.request_id = Uuid::new_v4().to_string();
        message.inspection_id = Uuid::new_v4().to_string();
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        async move {
            client.record_inspection_notified(request).await?;
            Ok(())
        }
    })
    .await
}

/// A `RecordInspectionNotified` whose encoding is exactly [`PAYLOAD_BYTES`] long once its
/// `request_id` and `inspection_id` hold UUIDs: on site a week from now, notified an hour ago.
pub(crate) fn notified_request() -> anyhow::Result<complaints::RecordInspectionNotifiedRequest> {
    let now = Timestamp::now();
    let mut request = complaints::RecordInspectionNotifiedRequest {
        request_id: Uuid::nil().to_string(),
        inspection_id: Uuid::nil().to_string(),
        provider_id: "URN-100001".to_owned(),
        remit: complaints::Remit::Schools as i32,
        lead_inspector_ref: "staff:lead-1".to_owned(),
        team_inspector_refs: Vec::new(),
        on_site_starts_on: platform::calendar::local_date(now + SignedDuration::from_hours(7 * 24))
            .to_string(),
        occurred_at: Some(platform::aggregate::timestamp(
            now - SignedDuration::from_hours(1),
        )),
    };
    // Each reference costs its length plus a tag and a one-byte length (they stay under 128).
    while let Some(missing) = PAYLOAD_BYTES.checked_sub(request.encoded_len()) {
        match missing {
            0 => break,
            1 | 2 => match request.team_inspector_refs.last_mut() {
                Some(last) => last.push_str(&"x".repeat(missing)),
                None => anyhow::bail!("the request cannot be padded to {PAYLOAD_BYTES} bytes"),
            },
            _ => {
                let n = request.team_inspector_refs.len();
                let mut reference = format!("staff:team-{n}-");
                let len = (missing - 2).clamp(reference.len(), 100);
                reference.push_str(&"x".repeat(len - reference.len()));
                request.team_inspector_refs.push(reference);
            }
        }
    }
    anyhow::ensure!(
        request.encoded_len() == PAYLOAD_BYTES,
        "the command encodes to {} bytes, not {PAYLOAD_BYTES}",
        request.encoded_len()
    );
    Ok(request)
}

pub(crate) async fn count_events(pool: &Pool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?)
}

/// Waits until every reader of the log (the relay and each read model) has passed its last
/// event; returns how long that took in ms, or `None` after [`SETTLE_TIMEOUT`].
pub(crate) async fn settle(pool: &Pool) -> anyhow::Result<Option<u64>> {
    let started = Instant::now();
    loop {
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM checkpoints c
             WHERE EXISTS (SELECT FROM events e
                           WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position))",
        )
        .fetch_one(pool)
        .await?;
        if behind == 0 {
            return Ok(Some(
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ));
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            log!("{BENCH}: {behind} readers still behind after {SETTLE_TIMEOUT:?}");
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `c` publishers, each awaiting every publish's acknowledgement before the next, on one
/// client connection, to a fresh stream that is deleted after.
async fn js_sync(
    ctx: &Ctx,
    js: &jetstream::Context,
    c: usize,
    round: u32,
) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {JS_SYNC} c={c}");
    log!("{what}");
    let (ns, stream) = relay::fresh_stream(js, &format!("w1sync{round}c{c}")).await?;
    let payload: Bytes = workload::opened_event()?.payload.into();
    let event_type = workload::opened_type();
    let load = load::closed_loop(&what, c, s.run_warmup, s.duration, {
        let js = js.clone();
        move || {
            let js = js.clone();
            let payload = payload.clone();
            let subject = ns.event_subject(relay::SERVICE, event_type, &Uuid::new_v4());
            async move {
                js.publish(subject, payload)
                    .await
                    .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?
                    .await
                    .map_err(|e| anyhow::anyhow!("publish not acknowledged: {e}"))?;
                Ok(())
            }
        }
    });
    let result = load::metered(ctx, load, None, false).await;
    let stored = relay::stored_messages(js, &stream).await.unwrap_or(0);
    relay::delete_stream(js, &stream).await;
    Ok(result?.with("stored", stored))
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use uuid::Uuid;

    use super::notified_request;
    use crate::report::PAYLOAD_BYTES;

    #[test]
    fn every_command_encodes_to_the_payload_size() {
        let mut request = notified_request().expect("the command pads to the payload size");
        request.request_id = Uuid::new_v4().to_string();
        request.inspection_id = Uuid::new_v4().to_string();
        assert_eq!(request.encoded_len(), PAYLOAD_BYTES);
        assert!(request.team_inspector_refs.len() <= 50);
        assert!(request.team_inspector_refs.iter().all(|r| r.len() <= 100));
    }
}
