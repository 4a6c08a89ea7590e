//! W8: feed latency, from a command to the independent body's reader receiving the message it
//! causes on the minimised feed.
//!
//! * `project`: `Escalations.RequestEscalation` sent over gRPC to `redress serve escalation`
//!   at a fixed rate (open loop), each for a complaint already answered (see `cases`), as the
//!   provider's representative, with a `traceparent` of its own. The service decides the
//!   request and commits `EscalationRequested` and `EscalationReferred`; its feed translator
//!   (a projection) appends the `redress.feed.v1.EscalationReferred` feed message with its
//!   position; the feed relay publishes it to `FEED`; the body's reader (`feed_tail::run` as
//!   user `ib` on `ib_feed`, see `feed_nats`) pulls, decodes, saves its position and writes
//!   the line. The latency is from sending the command to that line being written. The
//!   reply's `escalation_id` (the feed's `ce-subject`, so the match needs nothing the feed
//!   does not already carry) pairs the two; after the run every message of the round is read
//!   back from `FEED` as the operator and its `traceparent` checked to carry the command's
//!   trace id. Messages lost (a reply with no message), duplicated, unclaimed (a message no
//!   command caused), gaps in the positions, or a trace id that is not the command's fail the
//!   part once everything is reported.
//! * `peer:feed_raw_publish`, the floor: no command, no translator, no relay. The bench
//!   publishes a feed message of the same kind (an `EscalationReferred` with the relay's
//!   headers and the next position) at the same rate to `FEED` on a second nats-server set up
//!   the same way, in order with up to 256 awaiting acknowledgement like the relay, and the
//!   same reader receives it. Timed from the publish being queued to the line being written.
//!
//! Every round starts its own project stack: a nats-server, `redress streams`, and both services
//! (`redress serve complaints` and `redress serve escalation`, one process each, each under its
//! own NATS user, on freshly migrated schemas of the bench database), so no round inherits
//! another's log or backlog; the floor's server lasts the part. A round prepares its cases
//! (eight commands each, through the complaints API) outside the measured window, waits until
//! escalation has copied their responses and every relay, projection and policy consumer has
//! caught up, then runs project and peer in alternating order.
//!
//! The rate is `--w8-rate` when given; otherwise half of W1's median c=32 throughput when W1
//! ran in the same invocation; otherwise half of a short closed-loop burst of W1's command
//! (`RecordInspectionNotified`, c=32, one connection) against this part's complaints service.
//! Samples record it (`rate_per_s`, `rate_source`, `rate_basis_per_s`), the reply time of the
//! commands themselves (`command_p50_us`, `command_p99_us`), how long after the command the
//! translator recorded the message (its `ce-time`, on PostgreSQL's clock, so only meaningful
//! with PostgreSQL on this host: `feed_recorded_p50_us`, `feed_recorded_p99_us`), and the CPU
//! the escalation process and PostgreSQL spent per op (`server_cpu_us_per_op`,
//! `pg_cpu_us_per_op`).
//!
//! The window is `--w8-duration-secs` (5 s; quick 3 s) rather than `--duration-secs`: each op
//! needs a complaint prepared through eight commands beforehand, which takes several times as
//! long as the window itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, message::PublishMessage};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use hdrhistogram::Histogram;
use platform::grpc::Role;
use platform::nats::{Namespace, event_subject_token, headers};
use platform::pg::Pool;
use prost::Message as _;
use proto::escalation::v1 as escalation_v1;
use proto::escalation::v1::escalations_client::EscalationsClient;
use proto::feed::v1 as feed;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::append::PROJECT;
use crate::cases;
use crate::feed_nats::{Arrivals, FeedNats, RunningTail};
use crate::load;
use crate::report::{Latency, Ratio, Summary, log};
use crate::run::Ctx;
use crate::served::Served;

const BENCH: &str = "w8_feed";
const PEER: &str = "peer:feed_raw_publish";
/// The commands go over one HTTP/2 connection, as W1's; the lines' `concurrency`.
const CONNECTIONS: usize = 1;
/// How long an op waits for its message on the feed (long, so that a backlog is measured
/// rather than cut off).
const FEED_WAIT: Duration = Duration::from_secs(30);
/// How long the open loop waits for its last ops after the window.
const DRAIN: Duration = Duration::from_secs(40);
/// The longest the bench waits for the services to catch up before a run.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The relay's default window, and the peer's.
const PUBLISH_WINDOW: usize = 256;
/// Closed-loop burst of W1's command when the rate comes from neither W1 nor `--w8-rate`.
const BURST_CONCURRENCY: usize = 32;
/// The subject of the provider's representative who escalates.
const COMPLAINANT: &str = "provider:head-1";

/// The open-loop arrival rate and where it came from.
#[derive(Clone, Copy, Debug)]
struct Rate {
    per_s: u64,
    /// `flag`, `w1_c32_median` or `burst_c32`.
    source: &'static str,
    /// The c=32 throughput it is half of.
    basis_per_s: Option<f64>,
}

/// What one round of the project runs on: a NATS server of its own, both services on freshly
/// migrated schemas, and the body's state file, so that no round inherits another's log.
struct Stack {
    nats: FeedNats,
    complaints: Served,
    escalation: Served,
    complaints_pool: Pool,
    escalation_pool: Pool,
    /// `ops` (FEED read back for the trace check; consumer states).
    js: jetstream::Context,
    /// The body's state file.
    state: tempfile::TempDir,
}

impl Stack {
    async fn start(ctx: &Ctx) -> anyhow::Result<Stack> {
        let nats = FeedNats::start().await?;
        let complaints =
            Served::start_service(&ctx.db, "complaints", &nats.url_as("complaints"), "").await?;
        let escalation =
            Served::start_service(&ctx.db, "escalation", &nats.url_as("escalation"), "").await?;
        Ok(Stack {
            complaints_pool: ctx.db.pool("complaints", 2).await?,
            escalation_pool: ctx.db.pool("escalation", 2).await?,
            js: jetstream::new(
                platform::nats::connect(&nats.url_as("ops"), "redress-bench").await?,
            ),
            state: state_dir()?,
            nats,
            complaints,
            escalation,
        })
    }

    async fn stop(self) {
        self.complaints_pool.close().await;
        self.escalation_pool.close().await;
        self.escalation.stop();
        self.complaints.stop();
    }
}

/// What the floor runs on, for the whole part: a second server set up the same way, its
/// publisher's connection (`ops`), and the body's state file with the position reached.
struct Floor {
    nats: FeedNats,
    js: jetstream::Context,
    state: tempfile::TempDir,
    position: u64,
}

fn state_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("redress-bench-feed-")
        .tempdir()?)
}

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let nats = FeedNats::start().await?;
    let mut floor = Floor {
        js: jetstream::new(platform::nats::connect(&nats.url_as("ops"), "redress-bench").await?),
        state: state_dir()?,
        position: 0,
        nats,
    };
    let mut rate = None;
    let mut project = Vec::new();
    let mut peer = Vec::new();
    let mut problems = Vec::new();
    for round in 1..=s.rounds {
        let stack = Stack::start(ctx).await?;
        let result = round_run(ctx, &stack, &mut floor, &mut rate, round).await;
        stack.stop().await;
        for (side, summary, found) in result? {
            problems.extend(
                found
                    .into_iter()
                    .map(|p| format!("{side} round {round}: {p}")),
            );
            if side == PROJECT {
                project.push(summary);
            } else {
                peer.push(summary);
            }
        }
    }
    ctx.reporter.median(BENCH, PROJECT, CONNECTIONS, &project);
    ctx.reporter.median(BENCH, PEER, CONNECTIONS, &peer);
    ratios(ctx, &project, &peer);
    anyhow::ensure!(
        problems.is_empty(),
        "the feed did not carry each command's message exactly once: {}",
        problems.join("; ")
    );
    Ok(())
}

/// One round: the rate (first round only), the cases, then project and peer in the round's
/// order, each reported as it ends. Returns each side's sample and problems.
async fn round_run(
    ctx: &Ctx,
    stack: &Stack,
    floor: &mut Floor,
    rate: &mut Option<Rate>,
    round: u32,
) -> anyhow::Result<Vec<(&'static str, Summary, Vec<String>)>> {
    let s = &ctx.settings;
    let rate = match *rate {
        Some(rate) => rate,
        None => {
            let found = find_rate(ctx, stack).await?;
            log!(
                "w8: {} escalations/s ({}{})",
                found.per_s,
                found.source,
                found
                    .basis_per_s
                    .map(|b| format!(", half of {b:.0}/s"))
                    .unwrap_or_default()
            );
            *rate = Some(found);
            found
        }
    };
    let n = cases_for(rate.per_s, s.run_warmup + s.w8_duration);
    let provider = format!(
        "URN-W8-{round}-{}",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    log!("w8 round {round}: preparing {n} answered complaints");
    let prepared = Instant::now();
    let ids = cases::prepare(&stack.complaints, &provider, n).await?;
    cases::wait_copied(&stack.escalation_pool, &ids).await?;
    let prepare_s = prepared.elapsed().as_secs_f64();
    let mut ids = Some(ids);
    let mut done = Vec::new();
    for is_project in crate::run::project_first(round) {
        settle(stack).await?;
        ctx.db.checkpoint().await;
        let (side, summary, found) = if is_project {
            let ids = ids.take().unwrap_or_default();
            let (summary, found) = project_run(ctx, stack, rate, &provider, ids).await?;
            (
                PROJECT,
                summary.with("prepare_s", crate::report::round_to(prepare_s, 1)),
                found,
            )
        } else {
            let (summary, found) = peer_run(ctx, floor, rate).await?;
            (PEER, summary, found)
        };
        let summary = summary
            .with("rate_per_s", rate.per_s)
            .with("rate_source", rate.source)
            .with(
                "rate_basis_per_s",
                rate.basis_per_s.map(|b| crate::report::round_to(b, 1)),
            );
        ctx.reporter
            .sample(BENCH, side, CONNECTIONS, round, s.run_warmup, &summary);
        done.push((side, summary, found));
    }
    Ok(done)
}

fn ratios(ctx: &Ctx, project: &[Summary], peer: &[Summary]) {
    let ms =
        |s: &Summary, f: fn(&Latency) -> u64| s.latency.map_or(f64::NAN, |l| f(&l) as f64 / 1000.0);
    ctx.reporter.ratio(&Ratio {
        name: "w8_feed_p99_ms".to_owned(),
        bench: BENCH,
        concurrency: Some(CONNECTIONS),
        numerator: PROJECT,
        denominator: None,
        per_round: project.iter().map(|s| ms(s, |l| l.p99)).collect(),
        target: Some((
            crate::report::Target::AtMost(50.0, "<=50"),
            crate::report::Enforced::Yes,
        )),
    });
    ctx.reporter.ratio(&Ratio {
        name: "w8_feed_p50_ms".to_owned(),
        bench: BENCH,
        concurrency: Some(CONNECTIONS),
        numerator: PROJECT,
        denominator: None,
        per_round: project.iter().map(|s| ms(s, |l| l.p50)).collect(),
        target: None,
    });
    // The floor: the command's own reply time plus a raw in-order publish to the same reader.
    ctx.reporter.ratio(&Ratio {
        name: "w8_feed_p50_vs_command_plus_raw_publish".to_owned(),
        bench: BENCH,
        concurrency: Some(CONNECTIONS),
        numerator: PROJECT,
        denominator: Some("command_p50_us+peer:feed_raw_publish"),
        per_round: project
            .iter()
            .zip(peer)
            .map(|(p, r)| {
                let command = p.extra_f64("command_p50_us").unwrap_or(f64::NAN);
                ms(p, |l| l.p50) * 1000.0 / (command + ms(r, |l| l.p50) * 1000.0)
            })
            .collect(),
        target: None,
    });
}

/// Ops the open loop starts in `window` at `per_s`, and two to spare.
fn cases_for(per_s: u64, window: Duration) -> usize {
    (window.as_secs_f64() * per_s as f64).ceil() as usize + 2
}

async fn find_rate(ctx: &Ctx, stack: &Stack) -> anyhow::Result<Rate> {
    if let Some(per_s) = ctx.settings.w8_rate {
        return Ok(Rate {
            per_s,
            source: "flag",
            basis_per_s: None,
        });
    }
    if let Some(&w1) = ctx.w1_c32_throughput.get()
        && w1.is_finite()
        && w1 > 0.0
    {
        return Ok(Rate {
            per_s: half(w1),
            source: "w1_c32_median",
            basis_per_s: Some(w1),
        });
    }
    let burst = burst(ctx, &stack.complaints).await?;
    Ok(Rate {
        per_s: half(burst),
        source: "burst_c32",
        basis_per_s: Some(burst),
    })
}

fn half(throughput: f64) -> u64 {
    ((throughput / 2.0).round() as u64).max(1)
}

/// W1's command in a closed loop at c=32 over one connection, for a third of the run's
/// duration (at least 2 s) after its warm-up; returns its throughput.
async fn burst(ctx: &Ctx, complaints: &Served) -> anyhow::Result<f64> {
    let s = &ctx.settings;
    let measure = (s.duration / 3).max(Duration::from_secs(2));
    let what = format!("{BENCH} W1 burst c={BURST_CONCURRENCY}");
    log!("{what} for {measure:?}");
    let bearer = complaints.bearer("bench:partner-system", Role::InspectionSystem)?;
    let summary = crate::command::notified_load(
        ctx,
        &what,
        complaints.channel().await?,
        bearer,
        BURST_CONCURRENCY,
        measure,
    )
    .await?;
    anyhow::ensure!(
        summary.errors == 0 && summary.ops > 0,
        "the burst had {} errors in {} ops",
        summary.errors,
        summary.ops
    );
    log!("{what}: {:.0}/s", summary.throughput());
    Ok(summary.throughput())
}

/// Waits until every relay and projection of both services has passed the last event of its
/// log, and the policy consumers of both (on `COMPLAINTS` and `ESCALATION`) have nothing
/// pending.
async fn settle(stack: &Stack) -> anyhow::Result<()> {
    let started = Instant::now();
    let consumers: Vec<(String, String)> =
        redress::streams::Plan::for_namespace(&Namespace::default())
            .consumers
            .into_iter()
            .filter(|c| {
                c.durable.starts_with("complaints-") || c.durable.starts_with("escalation-")
            })
            .map(|c| (c.stream, c.durable))
            .collect();
    loop {
        let mut behind = Vec::new();
        for (name, pool) in [
            ("complaints", &stack.complaints_pool),
            ("escalation", &stack.escalation_pool),
        ] {
            let readers: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM checkpoints c
                 WHERE EXISTS (SELECT FROM events e
                               WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position))",
            )
            .fetch_one(pool)
            .await?;
            if readers > 0 {
                behind.push(format!("{readers} readers of {name}"));
            }
        }
        for (stream, durable) in &consumers {
            let mut consumer: jetstream::consumer::Consumer<consumer::pull::Config> = stack
                .js
                .get_consumer_from_stream(durable, stream)
                .await
                .map_err(|e| anyhow::anyhow!("no consumer {stream}/{durable}: {e}"))?;
            let info = consumer
                .info()
                .await
                .map_err(|e| anyhow::anyhow!("no info of {stream}/{durable}: {e}"))?;
            if info.num_pending > 0 || info.num_ack_pending > 0 {
                behind.push(durable.clone());
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < SETTLE_TIMEOUT,
            "still behind after {SETTLE_TIMEOUT:?}: {}",
            behind.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the project's commands did, beside the latencies the open loop records.
struct Commands {
    /// The trace id each escalation's command carried.
    traces: HashMap<Uuid, String>,
    /// Send to reply, for the ops inside the measured window.
    reply: Histogram<u64>,
    /// Send to the feed message's `ce-time` (the translator's transaction recording it), for
    /// the ops inside the window.
    recorded: Histogram<u64>,
}

/// A fresh W3C `traceparent` (sampled) and its trace id.
fn traceparent() -> (String, String) {
    let trace_id = Uuid::new_v4().simple().to_string();
    let span_id = Uuid::new_v4().simple().to_string()[..16].to_owned();
    (format!("00-{trace_id}-{span_id}-01"), trace_id)
}

/// One measured run of the project: escalations at `rate` for the prepared complaints `ids`.
/// Returns the sample and the problems found.
async fn project_run(
    ctx: &Ctx,
    stack: &Stack,
    rate: Rate,
    provider: &str,
    ids: Vec<Uuid>,
) -> anyhow::Result<(Summary, Vec<String>)> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {PROJECT} {}/s", rate.per_s);
    log!("{what}");
    let feed_stream = Namespace::default().stream_name(::escalation::feed::STREAM);
    let first_sequence = last_sequence(&stack.js, &feed_stream).await? + 1;
    let arrivals = Arc::new(Arrivals::default());
    let tail = RunningTail::spawn(
        stack
            .nats
            .tail_config(&stack.state.path().join("project.state")),
        arrivals.clone(),
    )?;
    let client = EscalationsClient::new(stack.escalation.channel().await?);
    let bearer =
        stack
            .escalation
            .bearer_for(COMPLAINANT, Role::ProviderRepresentative, Some(provider))?;
    let commands = Arc::new(Mutex::new(Commands {
        traces: HashMap::new(),
        reply: load::histogram(),
        recorded: load::histogram(),
    }));
    let ids = Arc::new(ids);
    // The open loop counts op `i` when it is due inside the window: the same test here.
    let period = Duration::from_secs_f64(1.0 / rate.per_s as f64);
    let warmup = s.run_warmup;
    let load = load::open_loop(&what, rate.per_s, s.run_warmup, s.w8_duration, DRAIN, |i| {
        let mut client = client.clone();
        let bearer = bearer.clone();
        let arrivals = arrivals.clone();
        let commands = commands.clone();
        let complaint_id = usize::try_from(i).ok().and_then(|i| ids.get(i).copied());
        let counted = period.mul_f64(i as f64) >= warmup;
        async move {
            let complaint_id =
                complaint_id.ok_or_else(|| anyhow::anyhow!("no prepared complaint left"))?;
            let (traceparent, trace_id) = traceparent();
            let mut request = tonic::Request::new(escalation_v1::RequestEscalationRequest {
                request_id: Uuid::new_v4().to_string(),
                complaint_id: complaint_id.to_string(),
                grounds: vec![
                    escalation_v1::Ground::FailureToFollowProcedures as i32,
                    escalation_v1::Ground::Discourtesy as i32,
                ],
                out_of_remit_asks: Vec::new(),
            });
            request.metadata_mut().insert("authorization", bearer);
            request
                .metadata_mut()
                .insert(headers::TRACEPARENT, traceparent.parse()?);
            let (sent, sent_at) = (Instant::now(), jiff::Timestamp::now());
            let reply = client.request_escalation(request).await?.into_inner();
            let replied = Instant::now();
            let escalation_id: Uuid = reply.escalation_id.parse()?;
            {
                let mut commands = commands.lock().unwrap_or_else(PoisonError::into_inner);
                commands.traces.insert(escalation_id, trace_id);
                if counted {
                    commands
                        .reply
                        .saturating_record(load::micros(replied - sent));
                }
            }
            let arrival = arrivals.wait(escalation_id, FEED_WAIT).await?;
            if counted
                && let Some(recorded) = arrival.recorded
                && let Ok(after) = Duration::try_from(recorded.duration_since(sent_at))
            {
                commands
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recorded
                    .saturating_record(load::micros(after));
            }
            Ok(arrival.at.saturating_duration_since(sent))
        }
    });
    let (result, server_cpu, pg_cpu) = tokio::join!(
        load,
        load::growth_over_window(warmup, s.w8_duration, || async {
            stack.escalation.cpu_seconds()
        }),
        load::growth_over_window(warmup, s.w8_duration, || async {
            ctx.db.backend_cpu_seconds().await
        }),
    );
    let tail = tail.stop().await?;
    let summary = result?
        .per_op_us("server_cpu_us_per_op", server_cpu)
        .per_op_us("pg_cpu_us_per_op", pg_cpu);
    let (traces, reply, recorded) = {
        let commands = commands.lock().unwrap_or_else(PoisonError::into_inner);
        (
            commands.traces.clone(),
            Latency::from_histogram(&commands.reply),
            Latency::from_histogram(&commands.recorded),
        )
    };
    let counts = arrivals.counts();
    let (trace_matched, trace_mismatched) =
        trace_check(&stack.js, &feed_stream, first_sequence, &traces).await?;
    let mut problems = Vec::new();
    let lost = counts.waiting;
    for (n, what) in [
        (lost, "commands whose message never reached the reader"),
        (counts.duplicates, "messages the reader wrote twice"),
        (counts.unclaimed, "messages no command caused"),
        (counts.unreadable, "lines without an escalation id"),
        (tail.gaps.len() as u64, "gaps in the feed positions"),
        (trace_mismatched, "messages without the command's trace id"),
    ] {
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    Ok((
        summary
            .with("commands", traces.len() as u64)
            .with("feed_lines", counts.lines)
            .with("lost", lost)
            .with("duplicated", counts.duplicates)
            .with("unclaimed", counts.unclaimed)
            .with("gaps", tail.gaps.len() as u64)
            .with("redeliveries", tail.duplicates)
            .with("trace_matched", trace_matched)
            .with("trace_mismatched", trace_mismatched)
            .with("last_feed_position", tail.last_feed_position)
            .with("command_p50_us", reply.map(|l| l.p50))
            .with("command_p99_us", reply.map(|l| l.p99))
            .with("feed_recorded_p50_us", recorded.map(|l| l.p50))
            .with("feed_recorded_p99_us", recorded.map(|l| l.p99)),
        problems,
    ))
}

async fn last_sequence(js: &jetstream::Context, stream: &str) -> anyhow::Result<u64> {
    Ok(crate::relay::stream_state(js, stream).await?.last_sequence)
}

/// Reads `stream` from `first_sequence` to its end as the operator; for each message about an
/// escalation in `traces`, whether its `traceparent` carries that command's trace id. Returns
/// (matched, mismatched).
async fn trace_check(
    js: &jetstream::Context,
    stream_name: &str,
    first_sequence: u64,
    traces: &HashMap<Uuid, String>,
) -> anyhow::Result<(u64, u64)> {
    let last = last_sequence(js, stream_name).await?;
    if last < first_sequence {
        return Ok((0, 0));
    }
    let stream = js
        .get_stream(stream_name)
        .await
        .map_err(|e| anyhow::anyhow!("no stream {stream_name}: {e}"))?;
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: first_sequence,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {stream_name}: {e}"))?;
    let mut messages = reader
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {stream_name}: {e}"))?;
    let (mut matched, mut mismatched) = (0, 0);
    for _ in first_sequence..=last {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("{stream_name} read back too slowly"))?
            .ok_or_else(|| anyhow::anyhow!("{stream_name} ended early"))?
            .map_err(|e| anyhow::anyhow!("cannot read {stream_name}: {e}"))?;
        let escalation_id = message
            .subject
            .as_str()
            .rsplit('.')
            .next()
            .and_then(|t| t.parse::<Uuid>().ok());
        let Some(expected) = escalation_id.and_then(|id| traces.get(&id)) else {
            continue;
        };
        let carried = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::TRACEPARENT))
            .and_then(|v| v.as_str().split('-').nth(1).map(str::to_owned));
        if carried.as_deref() == Some(expected.as_str()) {
            matched += 1;
        } else {
            mismatched += 1;
        }
    }
    Ok((matched, mismatched))
}

/// One measured run of the floor: feed messages published raw at `rate` to the floor's `FEED`,
/// numbered on from the position the last run reached, and received by the same reader.
async fn peer_run(
    ctx: &Ctx,
    floor: &mut Floor,
    rate: Rate,
) -> anyhow::Result<(Summary, Vec<String>)> {
    let s = &ctx.settings;
    let what = format!("{BENCH} {PEER} {}/s", rate.per_s);
    log!("{what}");
    let arrivals = Arc::new(Arrivals::default());
    let tail = RunningTail::spawn(
        floor
            .nats
            .tail_config(&floor.state.path().join("floor.state")),
        arrivals.clone(),
    )?;
    let (queue, queued) = mpsc::unbounded_channel::<Uuid>();
    let publisher = tokio::spawn(publish_in_order(floor.js.clone(), queued, floor.position));
    let result = load::open_loop(&what, rate.per_s, s.run_warmup, s.w8_duration, DRAIN, {
        let arrivals = arrivals.clone();
        move |_| {
            let queue = queue.clone();
            let arrivals = arrivals.clone();
            async move {
                let escalation_id = Uuid::new_v4();
                let sent = Instant::now();
                queue
                    .send(escalation_id)
                    .map_err(|_| anyhow::anyhow!("the publisher stopped"))?;
                let arrival = arrivals.wait(escalation_id, FEED_WAIT).await?;
                Ok(arrival.at.saturating_duration_since(sent))
            }
        }
    })
    .await;
    let published = publisher.await??;
    let tail = tail.stop().await?;
    let summary = result?;
    let counts = arrivals.counts();
    let sent = published - floor.position;
    floor.position = published;
    let mut problems = Vec::new();
    for (n, what) in [
        (counts.waiting, "messages that never reached the reader"),
        (counts.duplicates, "messages the reader wrote twice"),
        (counts.unclaimed, "messages nobody published"),
        (tail.gaps.len() as u64, "gaps in the feed positions"),
    ] {
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    Ok((
        summary
            .with("published", sent)
            .with("feed_lines", counts.lines)
            .with("lost", counts.waiting)
            .with("duplicated", counts.duplicates)
            .with("gaps", tail.gaps.len() as u64),
        problems,
    ))
}

/// Publishes a feed message for each escalation id from `queued`, in order, numbered from
/// `position + 1`, with up to [`PUBLISH_WINDOW`] awaiting acknowledgement; returns the last
/// position once the queue closes and every message is acknowledged.
async fn publish_in_order(
    js: jetstream::Context,
    mut queued: mpsc::UnboundedReceiver<Uuid>,
    mut position: u64,
) -> anyhow::Result<u64> {
    let root = format!(
        "{}.v1",
        Namespace::default().subject_root(::escalation::feed::STREAM)
    );
    let mut in_flight = FuturesOrdered::new();
    loop {
        tokio::select! {
            next = queued.recv() => {
                let Some(escalation_id) = next else { break };
                while in_flight.len() >= PUBLISH_WINDOW {
                    acknowledged(in_flight.next().await)?;
                }
                position += 1;
                let (subject, message) = feed_message(&root, escalation_id, position);
                let ack = js
                    .send_publish(subject, message)
                    .await
                    .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?;
                in_flight.push_back(ack.into_future());
            }
            ack = in_flight.next(), if !in_flight.is_empty() => acknowledged(ack)?,
        }
    }
    while !in_flight.is_empty() {
        acknowledged(in_flight.next().await)?;
    }
    Ok(position)
}

fn acknowledged<T, E: std::fmt::Display>(ack: Option<Result<T, E>>) -> anyhow::Result<()> {
    match ack {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(anyhow::anyhow!("publish not acknowledged: {e}")),
        None => Err(anyhow::anyhow!("nothing in flight")),
    }
}

/// An `EscalationReferred` for `escalation_id` at `position`, with the feed relay's subject
/// and headers.
fn feed_message(root: &str, escalation_id: Uuid, position: u64) -> (String, PublishMessage) {
    let now = jiff::Timestamp::now();
    let at = Some(platform::aggregate::timestamp(now));
    let message_type = "redress.feed.v1.EscalationReferred";
    let payload = feed::EscalationReferred {
        escalation_id: escalation_id.to_string(),
        case_ref: format!("ESC-{}", &escalation_id.simple().to_string()[..8]),
        referred_at: at,
        grounds: vec![
            feed::Ground::FailureToFollowProcedures as i32,
            feed::Ground::Discourtesy as i32,
        ],
        remit: feed::Remit::Schools as i32,
        key_dates: Some(feed::KeyDates {
            last_onsite_on: platform::calendar::local_date(now).to_string(),
            draft_report_issued_at: at,
            complaint_submitted_at: at,
            response_issued_at: at,
            escalation_requested_at: at,
            application_window_closed_at: at,
        }),
        complaint_outcome: feed::ComplaintOutcome::NotUpheld as i32,
        response_overdue: false,
        documents: vec![
            feed::AvailableDocument {
                document_id: Uuid::new_v4().to_string(),
                kind: feed::DocumentKind::Complaint as i32,
            },
            feed::AvailableDocument {
                document_id: Uuid::new_v4().to_string(),
                kind: feed::DocumentKind::Response as i32,
            },
        ],
    }
    .encode_to_vec();
    let message_id = Uuid::now_v7().to_string();
    let (traceparent, _) = traceparent();
    let mut map = HeaderMap::new();
    map.insert(headers::CE_SPECVERSION, "1.0");
    map.insert(headers::CE_ID, message_id.as_str());
    map.insert(headers::CE_TYPE, message_type);
    map.insert(headers::CE_SOURCE, ::escalation::feed::SOURCE);
    map.insert(headers::CE_TIME, now.to_string().as_str());
    map.insert(headers::CE_SUBJECT, escalation_id.to_string().as_str());
    map.insert(headers::CONTENT_TYPE, headers::PROTOBUF);
    map.insert(
        ::escalation::feed::POSITION_HEADER,
        position.to_string().as_str(),
    );
    map.insert(headers::TRACEPARENT, traceparent.as_str());
    let subject = format!(
        "{root}.{}.{escalation_id}",
        event_subject_token(message_type)
    );
    let message = PublishMessage::build()
        .payload(payload.into())
        .headers(map)
        .message_id(message_id);
    (subject, message)
}
