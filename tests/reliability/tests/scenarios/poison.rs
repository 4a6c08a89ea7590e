//! S11: poison messages. While four clients write cases, `ops` publishes to the subject
//! escalation's policy consumes from `COMPLAINTS` (each with a fresh `Nats-Msg-Id`):
//!
//! * an undecodable `ComplaintSubmitted` (bytes that are no protobuf message): the handler
//!   calls it permanent, so the consumer terminates it and parks it in `parked_events` at
//!   once; asserted within 5 s;
//! * a `ComplaintSubmitted` of an unknown schema version (`redress.complaints.v2.…`): what the
//!   consumer does is what is asserted — the policy does not need an event type it does not
//!   know, so it records it in the inbox and acknowledges it without effect, and it is not
//!   parked (the plan expected parking after `max_deliver`; see docs/reliability.md).
//!
//! The consumer goes on with the good messages after them (escalation keeps copying
//! submissions), and `redress status --json` shows the parked event. Then every invariant;
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
async fn s11_poison_messages_are_parked_or_skipped_and_the_consumer_goes_on() {
    let cluster = cluster().await;
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
        let unknown_acked_after_ms = wait_for(
            &mut conn,
            "SELECT count(*) FROM escalation.inbox WHERE event_id = $1",
            unknown,
            Duration::from_secs(30),
        )
        .await;

        until(end).await;
        redress_reliability::checker::settle(cluster).await.unwrap();
        let unknown_parked: i64 =
            sqlx::query_scalar("SELECT count(*) FROM escalation.parked_events WHERE event_id = $1")
                .bind(unknown)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        // Good messages after the poison: submissions copied since.
        let copied_after: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM escalation.inbox WHERE consumer = $1
               AND handled_at > (SELECT parked_at FROM escalation.parked_events WHERE event_id = $2)",
        )
        .bind(escalation::policy::DURABLE)
        .bind(undecodable)
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
        let grpc = cluster.grpc_addr(Service::Escalation).await.unwrap();
        let status = cluster
            .operator(&["status", "escalation", "--json", "--grpc-addr", &grpc.to_string()])
            .output()
            .await
            .unwrap();
        let status: serde_json::Value =
            serde_json::from_slice(&status.stdout).unwrap_or_default();
        found.lock().unwrap().insert(
            "poison".into(),
            json!({"injected_at_ms": injected_at,
                   "undecodable_parked_after_ms": parked_after_ms,
                   "unknown_version_acknowledged_after_ms": unknown_acked_after_ms,
                   "unknown_version_parked": unknown_parked,
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
        poison["unknown_version_acknowledged_after_ms"]
            .as_u64()
            .is_some(),
        "the unknown version was neither handled nor skipped: {poison}"
    );
    assert_eq!(poison["unknown_version_parked"], 0, "{poison}");
    assert!(
        poison["handled_after_poison"].as_i64().unwrap() > 0,
        "the consumer handled nothing after the poison: {poison}"
    );
    assert!(
        poison["status"].to_string().contains("\"parked_events\":1"),
        "redress status does not show the parked event: {poison}"
    );
}
