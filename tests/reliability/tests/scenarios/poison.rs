//! S11: poison messages. While four clients write cases, `ops` publishes to the subject
//! escalation's policy consumes from `COMPLAINTS` (each with a fresh `Nats-Msg-Id`):
//!
//! * an undecodable `ComplaintSubmitted` (bytes that are no protobuf message): the handler
//!   calls it permanent, so the consumer terminates it and parks it in `parked_events` at
//!   once; asserted within 5 s;
//! * a `ComplaintSubmitted` of an unknown schema version (`redress.complaints.v2.…`): never
//!   acknowledged without effect, since a consumer rolled out later may know it. It is retried
//!   on the backoff schedule, holding what comes behind it, and parked after its last delivery
//!   (`max_deliver`, 8). The plan's schedule (1 s to 10 min) would take 28 minutes; escalation
//!   runs here with the failpoint `consumer::retry_delay` at 200 ms, so the eight deliveries
//!   take under two seconds. It must be parked with all eight and be in no inbox. Learning
//!   reviews' policy reads submissions too: it meets both messages, with the same failpoint.
//!
//! The consumer goes on with the good messages after them (escalation keeps copying
//! submissions), and `redress status --json` shows both parked events. Then every invariant;
//! the injected messages are in a stream and in no log, so feed completeness leaves them out.

use std::time::{Duration, Instant};

use platform::nats::{Namespace, headers};
use redress_reliability::cluster::Service;
use serde_json::json;
use sqlx::Connection as _;
use uuid::Uuid;

use crate::run::{Figures, cluster, long, scenario_with, until};
use redress_reliability::workload::Load;

async fn wait_for(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    id: Uuid,
    within: Duration,
) -> Option<u64> {
    let started = Instant::now();
    while started.elapsed() < within {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        if n > 0 {
            return Some(started.elapsed().as_millis() as u64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn poison(event_type: &str) -> (Uuid, async_nats::HeaderMap) {
    let id = Uuid::now_v7();
    let mut map = async_nats::HeaderMap::new();
    map.insert(async_nats::header::NATS_MESSAGE_ID, id.to_string().as_str());
    map.insert(headers::CE_TYPE, event_type);
    map.insert(headers::CE_ID, id.to_string().as_str());
    map.insert(headers::CONTENT_TYPE, headers::PROTOBUF);
    (id, map)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s11_poison_messages_are_parked_and_the_consumer_goes_on() {
    let cluster = cluster().await;
    // Learning reviews' policy reads submissions too, and meets the same messages.
    for service in [Service::Escalation, Service::LearningReviews] {
        cluster.arm_failpoints(service, "consumer::retry_delay=return(200)");
        cluster.restart(service).await.unwrap();
    }
    let load = Load {
        clients: 4,
        duration: Duration::from_secs(if long() { 60 } else { 25 }),
    };
    let figures = Figures::default();
    let found = figures.clone();

    let run = scenario_with("S11", cluster, load, None, figures, async |cluster, end| {
        let root = Namespace::root().subject_root(escalation::policy::COMPLAINTS);
        let mut conn = sqlx::PgConnection::connect(&cluster.database_url())
            .await
            .unwrap();
        until(Instant::now() + Duration::from_secs(3)).await;

        let (undecodable, map) = poison("redress.complaints.v1.ComplaintSubmitted");
        let subject = format!("{root}.complaint_submitted.{}", Uuid::now_v7());
        cluster
            .inject(&subject, map, vec![0xff, 0xff, 0xff, 0xff, 0x0f])
            .await
            .unwrap();
        let injected_at = cluster.history().now_ms();
        let parked_after_ms = wait_for(
            &mut conn,
            "SELECT count(*) FROM escalation.parked_events WHERE event_id = $1",
            undecodable,
            Duration::from_secs(5),
        )
        .await;

        let (unknown, map) = poison("redress.complaints.v2.ComplaintSubmitted");
        let subject = format!("{root}.complaint_submitted.{}", Uuid::now_v7());
        let payload = proto::complaints::v1::ComplaintSubmitted::default();
        cluster
            .inject(&subject, map, prost::Message::encode_to_vec(&payload))
            .await
            .unwrap();
        let unknown_parked_after_ms = wait_for(
            &mut conn,
            "SELECT count(*) FROM escalation.parked_events WHERE event_id = $1",
            unknown,
            Duration::from_secs(30),
        )
        .await;

        until(end).await;
        redress_reliability::checker::settle(cluster).await.unwrap();
        let (unknown_deliveries, unknown_reason): (i64, String) = sqlx::query_as(
            "SELECT deliveries, reason FROM escalation.parked_events WHERE event_id = $1",
        )
        .bind(unknown)
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        .unwrap_or_default();
        let unknown_inboxed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM escalation.inbox WHERE event_id = $1")
                .bind(unknown)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        // Good messages after the poison: submissions copied since.
        let copied_after: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM escalation.inbox WHERE consumer = $1
               AND handled_at > (SELECT max(parked_at) FROM escalation.parked_events
                                  WHERE event_id IN ($2, $3))",
        )
        .bind(escalation::policy::DURABLE)
        .bind(undecodable)
        .bind(unknown)
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
        let grpc = cluster.grpc_addr(Service::Escalation).await.unwrap();
        let status = cluster
            .operator(&[
                "status",
                "escalation",
                "--json",
                "--grpc-addr",
                &grpc.to_string(),
            ])
            .output()
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        found.lock().unwrap().insert(
            "poison".into(),
            json!({"injected_at_ms": injected_at,
                   "undecodable_parked_after_ms": parked_after_ms,
                   "unknown_version_parked_after_ms": unknown_parked_after_ms,
                   "unknown_version_deliveries": unknown_deliveries,
                   "unknown_version_reason": unknown_reason,
                   "unknown_version_inboxed": unknown_inboxed,
                   "handled_after_poison": copied_after,
                   "status": status}),
        );
    })
    .await;

    let poison = &run.report.figures["poison"];
    assert!(
        poison["undecodable_parked_after_ms"].as_u64().is_some(),
        "the undecodable message was not parked within 5 s: {poison}"
    );
    assert!(
        poison["unknown_version_parked_after_ms"].as_u64().is_some(),
        "the unknown version was not parked within 30 s: {poison}"
    );
    assert_eq!(
        poison["unknown_version_deliveries"],
        escalation::policy::consumer_spec(&Namespace::root()).max_deliver,
        "the unknown version was parked before its last delivery: {poison}"
    );
    assert!(
        poison["unknown_version_reason"]
            .as_str()
            .unwrap()
            .contains("does not know"),
        "{poison}"
    );
    assert_eq!(
        poison["unknown_version_inboxed"], 0,
        "the unknown version was acknowledged as handled: {poison}"
    );
    assert!(
        poison["handled_after_poison"].as_i64().unwrap() > 0,
        "the consumer handled nothing after the poison: {poison}"
    );
    assert!(
        poison["status"].to_string().contains("\"parked_events\":2"),
        "redress status does not show the parked event: {poison}"
    );
}
