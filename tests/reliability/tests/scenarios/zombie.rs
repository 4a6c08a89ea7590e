//! S5: a zombie consumer. A second escalation service runs beside the first; while eight
//! clients write cases, the first is SIGSTOPped for 33 s [40 s], longer than the `ack_wait`
//! (30 s) of its durable consumer of `COMPLAINTS`, then SIGCONTed. The complaint events it had
//! pulled are redelivered to the second instance and applied there; the woken zombie then
//! finishes what it held: its inbox insert finds the event handled and it acknowledges a
//! message the server has already given to another (a stale ack). Each event must have taken
//! effect once: the inbox holds each event id once, and escalation's log holds each copied
//! fact once (one event per causing complaints event). Then every invariant, I1–I10.

use std::time::{Duration, Instant};

use redress_reliability::checker::{self, liveness};
use redress_reliability::cluster::Service;
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
        cluster.pause(Service::Escalation).await.unwrap();
        tokio::time::sleep(paused_for).await;
        cluster.resume(Service::Escalation).await.unwrap();

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
                   "paused_ms": paused_for.as_millis() as u64}),
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
