//! Part 2: the relay. W7 is its throughput.
//!
//! * W7 (`w7_relay`, `--only w7`; `--only relay` runs it too): events per second from commit
//!   to JetStream acknowledgement. N events already committed, then `Relay::run_once()`
//!   publishes them all to a fresh stream (file, R1, the server's `sync_interval: always`) and
//!   waits for every acknowledgement and its checkpoint; timed from the call to its return.
//!   Next to it, in the same rounds, the same number of 500-byte messages published raw with
//!   the relay's own window in flight (`RelayConfig::max_in_flight`, read from the config, not
//!   copied) to the same kind of stream:
//!   `peer:jetstream_raw_async` with no headers and no message id, and
//!   `peer:jetstream_raw_async_headers` with exactly the relay's headers
//!   (`platform::relay::event_headers` of an event like the stored ones) and `Nats-Msg-Id`, so
//!   JetStream de-duplicates as it does for the relay.
//! * Latency (`relay_latency`, `--only relay`): appends at a fixed rate while `Relay::run()` is
//!   running; an ordered JetStream consumer on the stream reports when each event is stored, and
//!   the latency is from the append call returning to the message arriving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, message::PublishMessage};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use platform::event_store::EventStore;
use platform::migrate;
use platform::nats::{Namespace, StreamSpec, ensure_stream};
use platform::relay::{Relay, RelayConfig};
use platform::tail::{Metadata, Position, RecordedEvent};
use platform::testing::NatsServer;
use serde_json::json;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::append::{PROJECT, append_one};
use crate::load;
use crate::report::{Enforced, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::workload;

/// The service name in the bench's stream and subject names.
pub(crate) const SERVICE: &str = "bench";
const W7: &str = "w7_relay";
const PEER: &str = "peer:jetstream_raw_async";
const PEER_HEADERS: &str = "peer:jetstream_raw_async_headers";
/// Pool of the latency run: appenders, relay reads and checkpoints.
const LATENCY_POOL: u32 = 8;

/// The relay's window: publishes it keeps awaiting acknowledgement at once, by default.
fn relay_window() -> usize {
    RelayConfig::new(SERVICE, Namespace::root()).max_in_flight
}

/// One side of a W7 round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Relay,
    Raw,
    RawWithHeaders,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Relay => PROJECT,
            Side::Raw => PEER,
            Side::RawWithHeaders => PEER_HEADERS,
        }
    }
}

/// W7, then with `latency` the relay's latency.
pub(crate) async fn run(ctx: &Ctx, latency: bool) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let nats = NatsServer::start().await?;
    log!("relay: nats-server at {}", nats.url());
    let client = platform::nats::connect(nats.url(), "redress-bench").await?;
    let js = jetstream::new(client.clone());
    let n = s.relay_events;
    let window = relay_window();

    // JetStream warm-up: the plan publishes before measuring, so the first run does not pay
    // for a cold store directory.
    let warm = n.min(100_000);
    log!("relay: JetStream warm-up, {warm} raw publishes");
    raw_publish(&js, "warm", warm, window, false).await?;

    let mut runs: Vec<(Side, Summary)> = Vec::new();
    for round in 1..=s.rounds {
        let mut order = [Side::Relay, Side::Raw, Side::RawWithHeaders];
        if !crate::run::project_first(round)[0] {
            order.reverse();
        }
        for side in order {
            let summary = match side {
                Side::Relay => relay_once(ctx, &js, round, n).await?,
                Side::Raw => raw_publish(&js, &format!("raw{round}"), n, window, false).await?,
                Side::RawWithHeaders => {
                    raw_publish(&js, &format!("rawh{round}"), n, window, true).await?
                }
            };
            ctx.reporter
                .sample(W7, side.name(), window, round, Duration::ZERO, &summary);
            runs.push((side, summary));
        }
    }
    let of = |side: Side| -> Vec<Summary> {
        runs.iter()
            .filter(|(s, _)| *s == side)
            .map(|(_, summary)| summary.clone())
            .collect()
    };
    let (project, raw, headers) = (of(Side::Relay), of(Side::Raw), of(Side::RawWithHeaders));
    for (side, samples) in [
        (Side::Relay, &project),
        (Side::Raw, &raw),
        (Side::RawWithHeaders, &headers),
    ] {
        ctx.reporter.median(W7, side.name(), window, samples);
    }
    let per_round = |peer: &[Summary]| -> Vec<f64> {
        project
            .iter()
            .zip(peer)
            .map(|(a, b)| a.throughput() / b.throughput())
            .collect()
    };
    ctx.reporter.ratio(&Ratio {
        name: "w7_relay_vs_raw_publish".to_owned(),
        bench: W7,
        concurrency: Some(window),
        numerator: PROJECT,
        denominator: Some(PEER),
        per_round: per_round(&raw),
        target: Some((Target::AtLeast(0.8, ">=0.8"), Enforced::Yes)),
    });
    ctx.reporter.ratio(&Ratio {
        name: "w7_relay_vs_raw_publish_with_headers".to_owned(),
        bench: W7,
        concurrency: Some(window),
        numerator: PROJECT,
        denominator: Some(PEER_HEADERS),
        per_round: per_round(&headers),
        target: Some((Target::AtLeast(0.8, ">=0.8"), Enforced::Informational)),
    });

    if latency {
        let mut latencies = Vec::new();
        for round in 1..=s.rounds {
            let summary = relay_latency(ctx, &js, round).await?;
            ctx.reporter.sample(
                "relay_latency",
                PROJECT,
                LATENCY_POOL as usize,
                round,
                s.run_warmup,
                &summary,
            );
            latencies.push(summary);
        }
        ctx.reporter
            .median("relay_latency", PROJECT, LATENCY_POOL as usize, &latencies);
    }
    drop(client);
    drop(nats);
    Ok(())
}

/// A new stream (file, R1, as the platform configures every service's) under `prefix`.
pub(crate) async fn fresh_stream(
    js: &jetstream::Context,
    prefix: &str,
) -> anyhow::Result<(Namespace, String)> {
    let ns = Namespace::prefixed(prefix)?;
    let spec = StreamSpec::for_service(&ns, SERVICE);
    ensure_stream(js, &spec).await?;
    Ok((ns, spec.name))
}

/// Messages `stream` holds.
pub(crate) async fn stored_messages(js: &jetstream::Context, stream: &str) -> anyhow::Result<u64> {
    Ok(stream_state(js, stream).await?.messages)
}

/// What the server says `stream` holds.
pub(crate) async fn stream_state(
    js: &jetstream::Context,
    stream: &str,
) -> anyhow::Result<async_nats::jetstream::stream::State> {
    let mut stream = js
        .get_stream(stream)
        .await
        .map_err(|e| anyhow::anyhow!("no stream {stream}: {e}"))?;
    let info = stream
        .info()
        .await
        .map_err(|e| anyhow::anyhow!("no stream info: {e}"))?;
    Ok(info.state.clone())
}

pub(crate) async fn delete_stream(js: &jetstream::Context, stream: &str) {
    if let Err(e) = js.delete_stream(stream).await {
        log!("could not delete stream {stream}: {e}");
    }
}

/// `Relay::run_once()` over `n` stored events, timed from the call to its return.
async fn relay_once(
    ctx: &Ctx,
    js: &jetstream::Context,
    round: u32,
    n: u64,
) -> anyhow::Result<Summary> {
    let schema = format!("relay_r{round}");
    let pool = ctx.db.pool(&schema, 4).await?;
    migrate::apply(&pool, &schema, &[migrate::EVENT_STORE]).await?;
    log!("relay project round {round}: storing {n} events");
    workload::seed_events(&pool, n, 250_000).await?;
    let (ns, stream) = fresh_stream(js, &format!("relay{round}")).await?;
    ctx.db.checkpoint().await;
    let store = EventStore::new(pool.clone());
    let config = RelayConfig::new(SERVICE, ns);
    let window = config.max_in_flight;
    let relay = Relay::new(&store, js.clone(), config);
    log!("relay project round {round}: run_once");
    let started = Instant::now();
    let published = relay.run_once().await?;
    let elapsed = started.elapsed();
    let stored = stored_messages(js, &stream).await?;
    delete_stream(js, &stream).await;
    pool.close().await;
    ctx.db.drop_schema(&schema).await;
    anyhow::ensure!(
        published as u64 == n && stored == n,
        "the relay published {published} and the stream holds {stored}, of {n} events"
    );
    Ok(Summary {
        ops: published as u64,
        errors: 0,
        elapsed,
        latency: None,
        extra: vec![
            ("events", json!(n)),
            ("stored", json!(stored)),
            ("in_flight", json!(window)),
        ],
    })
}

/// A stored-looking copy of `event` with fresh ids at `sequence`, as the relay reads one.
fn recorded(event: &RecordedEvent, sequence: i64) -> RecordedEvent {
    RecordedEvent {
        position: Position {
            transaction: event.position.transaction,
            sequence,
        },
        event_id: Uuid::now_v7(),
        stream_id: Uuid::new_v4(),
        recorded_at: jiff::Timestamp::now(),
        metadata: Metadata {
            correlation_id: Uuid::new_v4(),
            ..event.metadata.clone()
        },
        ..event.clone()
    }
}

/// Publishes `n` 500-byte messages to a fresh stream with `window` awaiting acknowledgement,
/// one subject per message as the relay does; with `headers`, each carries the relay's headers
/// and `Nats-Msg-Id`, built per message as the relay builds them. Deletes the stream after.
async fn raw_publish(
    js: &jetstream::Context,
    prefix: &str,
    n: u64,
    window: usize,
    headers: bool,
) -> anyhow::Result<Summary> {
    let (ns, stream) = fresh_stream(js, prefix).await?;
    let opened = workload::opened_event()?;
    let template = RecordedEvent {
        position: Position {
            transaction: 1_000,
            sequence: 0,
        },
        event_id: Uuid::nil(),
        stream_type: workload::STREAM_TYPE.to_owned(),
        stream_id: Uuid::nil(),
        version: 1,
        event_type: workload::opened_type().to_owned(),
        payload: opened.payload,
        recorded_at: jiff::Timestamp::now(),
        metadata: Metadata {
            actor: "bench".to_owned(),
            ..Metadata::default()
        },
    };
    let payload = bytes::Bytes::from(template.payload.clone());
    let started = Instant::now();
    let mut in_flight = FuturesOrdered::new();
    let mut acked: u64 = 0;
    for i in 0..n {
        while in_flight.len() >= window {
            next_ack(&mut in_flight).await?;
            acked += 1;
        }
        let (subject, message) = if headers {
            let event = recorded(&template, i64::try_from(i)? + 1);
            let message = PublishMessage::build()
                .payload(event.payload.clone().into())
                .headers(platform::relay::event_headers(&event, SERVICE))
                .message_id(event.event_id.to_string());
            let subject = ns.event_subject(SERVICE, &event.event_type, &event.stream_id);
            (subject, message)
        } else {
            let subject = ns.event_subject(SERVICE, &template.event_type, &Uuid::new_v4());
            (subject, PublishMessage::build().payload(payload.clone()))
        };
        let ack = js
            .send_publish(subject, message)
            .await
            .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?;
        in_flight.push_back(async move { ack.await });
    }
    while !in_flight.is_empty() {
        next_ack(&mut in_flight).await?;
        acked += 1;
    }
    let elapsed = started.elapsed();
    let stored = stored_messages(js, &stream).await?;
    delete_stream(js, &stream).await;
    anyhow::ensure!(
        acked == n && stored == n,
        "{acked} acknowledged and {stored} stored of {n}"
    );
    Ok(Summary {
        ops: acked,
        errors: 0,
        elapsed,
        latency: None,
        extra: vec![
            ("events", json!(n)),
            ("stored", json!(stored)),
            ("in_flight", json!(window)),
            ("headers", json!(headers)),
        ],
    })
}

async fn next_ack<F>(in_flight: &mut FuturesOrdered<F>) -> anyhow::Result<()>
where
    F: Future<Output = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>>,
{
    match in_flight.next().await {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(anyhow::anyhow!("publish not acknowledged: {e}")),
        None => Err(anyhow::anyhow!("nothing in flight")),
    }
}

type Waiting = Arc<Mutex<HashMap<Uuid, oneshot::Sender<Instant>>>>;

/// Commit-to-stored latency: appends at `--relay-rate` per second while the relay runs.
async fn relay_latency(ctx: &Ctx, js: &jetstream::Context, round: u32) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let schema = format!("relay_latency_r{round}");
    let pool = ctx.db.pool(&schema, LATENCY_POOL).await?;
    migrate::apply(&pool, &schema, &[migrate::EVENT_STORE]).await?;
    let (ns, stream_name) = fresh_stream(js, &format!("lat{round}")).await?;
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| anyhow::anyhow!("no stream {stream_name}: {e}"))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create an ordered consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("cannot consume: {e}"))?;
    let waiting: Waiting = Arc::default();
    let dispatcher = tokio::spawn({
        let waiting = waiting.clone();
        async move {
            while let Some(message) = messages.next().await {
                let arrived = Instant::now();
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        log!("relay latency: consumer error: {e}");
                        continue;
                    }
                };
                let stream_id = message
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .and_then(|t| Uuid::parse_str(t).ok());
                if let Some(id) = stream_id {
                    let sender = waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                    if let Some(sender) = sender {
                        let _ = sender.send(arrived);
                    }
                }
            }
        }
    });
    let store = EventStore::new(pool.clone());
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        Relay::new(&store, js.clone(), RelayConfig::new(SERVICE, ns)).run(shutdown.clone()),
    );
    ctx.db.checkpoint().await;
    log!(
        "relay latency round {round}: {} appends/s for {:?}",
        s.relay_rate,
        s.duration
    );
    let events = Arc::new(vec![workload::opened_event()?]);
    let result = load::open_loop(
        "relay latency",
        s.relay_rate,
        s.run_warmup,
        s.duration,
        Duration::from_secs(10),
        |_| {
            let store = store.clone();
            let events = events.clone();
            let waiting = waiting.clone();
            async move {
                let stream_id = Uuid::new_v4();
                let (tx, rx) = oneshot::channel();
                waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(stream_id, tx);
                append_one(&store, stream_id, &events).await?;
                let returned = Instant::now();
                let arrived = tokio::time::timeout(Duration::from_secs(10), rx)
                    .await
                    .map_err(|_| anyhow::anyhow!("event not delivered within 10 s"))??;
                Ok(arrived.saturating_duration_since(returned))
            }
        },
    )
    .await;
    shutdown.cancel();
    relay.await??;
    dispatcher.abort();
    let stored = stored_messages(js, &stream_name).await.unwrap_or(0);
    let appended: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    delete_stream(js, &stream_name).await;
    pool.close().await;
    ctx.db.drop_schema(&schema).await;
    Ok(result?
        .with("rate_per_s", s.relay_rate)
        .with("appended", appended)
        .with("stored", stored))
}
