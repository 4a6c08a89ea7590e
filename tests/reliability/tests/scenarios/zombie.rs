//! S5: a zombie consumer. A second escalation service runs beside the first; while eight
//! clients write cases, one of them is SIGSTOPped for 33 s [40 s], longer than the `ack_wait`
//! (30 s) of their durable consumer of `COMPLAINTS`, then SIGCONTed. The complaint event it
//! held is redelivered: to the other instance, which applies it, after which the woken zombie
//! finishes its copy, finds the event in the inbox and acknowledges a message the server has
//! already given to another (a stale ack); or to the zombie itself, which then meets its own
//! redelivery. Each event must have taken effect once: the inbox holds each event id once, and
//! escalation's log holds each copied fact once (one event per causing complaints event). Then
//! every invariant, I1–I10.
//!
//! A pause proves something only while the paused instance holds a delivered, unacknowledged
//! message, so it is taken again, a moment later and of the other instance, until the
//! consumer's state shows one held (see [`pause_holding_a_message`]).

use std::time::{Duration, Instant};

use async_nats::jetstream;
use platform::nats::Namespace;
use redress_reliability::checker::{self, liveness};
use redress_reliability::cluster::{Cluster, Service};
use serde_json::json;
use sqlx::Connection as _;

use crate::run::{Figures, cluster, load, long, scenario_with, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_a_paused_consumer_past_its_ack_wait_applies_nothing_twice() {
    let cluster = cluster().await;
    let paused_for = Duration::from_secs(if long() { 40 } else { 33 });
    let load = load(Duration::from_secs(42), Duration::from_secs(120));
    let figures = Figures::default();
    let found = figures.clone();

    let run = scenario_with("S5", cluster, load, None, figures, async |cluster, end| {
        cluster.start_second(Service::Escalation).await.unwrap();
        until(Instant::now() + Duration::from_secs(3)).await;
        let (zombie, attempts, held_seq) = pause_holding_a_message(cluster).await.unwrap();
        tokio::time::sleep(paused_for).await;
        zombie.resume(cluster).await.unwrap();

        // After the load, once everything settled: what took effect, and how often.
        until(end).await;
        checker::settle(cluster).await.unwrap();
        let mut conn = sqlx::PgConnection::connect(&cluster.database_url())
            .await
            .unwrap();
        let (inbox, distinct): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT event_id) FROM escalation.inbox WHERE consumer = $1",
        )
        .bind(escalation::policy::DURABLE)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let (effects, causes): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT causation_id) FROM escalation.events
             WHERE actor = 'system:complaints-policy'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let mut redelivered = 0.0;
        for (_, addr) in cluster.metrics_addrs().await {
            for (labels, value) in liveness::scrape(addr, "redress_consumer_redeliveries_total")
                .await
                .unwrap_or_default()
            {
                if labels.contains(escalation::policy::DURABLE) {
                    redelivered += value;
                }
            }
        }
        found.lock().unwrap().insert(
            "zombie".into(),
            json!({"inbox": inbox, "inbox_distinct": distinct, "effects": effects,
                   "effect_causes": causes, "redeliveries": redelivered,
                   "paused_ms": paused_for.as_millis() as u64,
                   "pause_attempts": attempts, "held_stream_sequence": held_seq,
                   "zombie": zombie.name()}),
        );
    })
    .await;

    let zombie = &run.report.figures["zombie"];
    assert!(
        zombie["redeliveries"].as_f64().unwrap() >= 1.0,
        "nothing was redelivered: the pause proved nothing: {zombie}"
    );
    assert_eq!(zombie["inbox"], zombie["inbox_distinct"], "{zombie}");
    assert_eq!(
        zombie["effects"], zombie["effect_causes"],
        "an effect applied twice: {zombie}"
    );
    assert!(zombie["effects"].as_i64().unwrap() > 0, "{zombie}");
}

/// Which of the two escalation instances a pause took.
#[derive(Clone, Copy, Debug)]
enum Instance {
    First,
    Second,
}

impl Instance {
    async fn pause(self, cluster: &Cluster) -> anyhow::Result<()> {
        match self {
            Instance::First => cluster.pause(Service::Escalation).await,
            Instance::Second => cluster.pause_second(Service::Escalation).await,
        }
    }

    async fn resume(self, cluster: &Cluster) -> anyhow::Result<()> {
        match self {
            Instance::First => cluster.resume(Service::Escalation).await,
            Instance::Second => cluster.resume_second(Service::Escalation).await,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Instance::First => "escalation",
            Instance::Second => "escalation-2",
        }
    }
}

/// Pauses one escalation instance at a moment its policy consumer holds a message. The server
/// serves the waiting pull requests in order, so for a while every message may go to one
/// instance: the pause alternates between the two until one is caught holding. After each
/// pause the consumer's state is read three times over 3 s; a message pending acknowledgement
/// with the acknowledgement floor unmoved throughout is one the paused process holds (the other
/// would settle it in milliseconds, and only one message is in flight). Otherwise the instance
/// is resumed and the other paused a moment later. Returns the paused instance, the attempts
/// taken and the held message's stream sequence (the floor's successor).
///
/// # Errors
/// When NATS cannot be read, or no pause in 30 caught a message held.
async fn pause_holding_a_message(cluster: &Cluster) -> anyhow::Result<(Instance, u32, u64)> {
    const ATTEMPTS: u32 = 30;
    let js = jetstream::new(cluster.nats_as_ops().await?);
    let stream = js
        .get_stream(Namespace::root().stream_name(escalation::policy::COMPLAINTS))
        .await?;
    for attempt in 1..=ATTEMPTS {
        let instance = if attempt % 2 == 1 {
            Instance::First
        } else {
            Instance::Second
        };
        instance.pause(cluster).await?;
        let mut floors = Vec::new();
        let mut held = true;
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let info = stream.consumer_info(escalation::policy::DURABLE).await?;
            held &= info.num_ack_pending > 0;
            floors.push(info.ack_floor.stream_sequence);
        }
        if held && floors.windows(2).all(|w| w[0] == w[1]) {
            return Ok((instance, attempt, floors[0] + 1));
        }
        instance.resume(cluster).await?;
        let jitter = rand::random_range(100..900);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
    }
    anyhow::bail!("no pause in {ATTEMPTS} caught an escalation instance holding a message")
}
