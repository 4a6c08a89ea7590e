//! S12: NATS's store full. The server runs with `max_file_store: 64MB`; while eight clients
//! write cases, a stream of the suite's own fills what is left until JetStream refuses a
//! publish ("insufficient resources"), and stays for 15 s. Commands keep succeeding (they need
//! only PostgreSQL); the relays' publishes are refused and nothing reaches the services'
//! streams meanwhile, while their checkpoints stay put; then the filler is deleted, as an
//! operator frees space, and every relay publishes what was committed before within 30 s; then
//! I1–I5, I7, I9 and I10.

use std::time::Duration;

use async_nats::jetstream;
use platform::nats::Namespace;
use redress_reliability::cluster::{Cluster, Service};
use serde_json::json;
use sqlx::Connection as _;

use crate::drain::{DRAIN_WITHIN, drained};
use crate::outages::{ok_within, outages};
use crate::run::{Figures, load, options, scenario_with};

/// How long the store stays full.
const FULL: Duration = Duration::from_secs(15);
/// The filler stream's name and subject.
const FILLER: &str = "RELIABILITY_FILLER";
const FILLER_SUBJECT: &str = "reliability.filler";
/// The filler's message size, well under the server's `max_payload`.
const CHUNK: usize = 512 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s12_a_full_nats_store_refuses_publishes_loses_nothing_and_drains_once_freed() {
    let mut options = options();
    options.nats.max_file_store = "64MB".into();
    let cluster = Cluster::start(options)
        .await
        .expect("Failed to start the system under test with a small NATS store");
    let load = load(Duration::from_secs(40), Duration::from_secs(90));
    let figures = Figures::default();
    let found = figures.clone();

    let run = scenario_with(
        "S12",
        cluster,
        load,
        None,
        figures,
        async |cluster, _end| {
            tokio::time::sleep(Duration::from_secs(4)).await;
            let js = jetstream::new(cluster.nats_as_ops().await.unwrap());
            let (filled, refusal) = fill(&js).await.unwrap();
            cluster.note_fault("store_full", "nats");
            let before = published_and_committed(cluster, &js).await.unwrap();
            tokio::time::sleep(FULL).await;
            let after = published_and_committed(cluster, &js).await.unwrap();
            js.delete_stream(FILLER).await.unwrap();
            cluster.note_fault("store_freed", "nats");
            let drain_ms = drained(cluster).await.unwrap();
            found.lock().unwrap().insert(
            "store_full".into(),
            json!({"filled_bytes": filled, "refusal": refusal, "full_ms": FULL.as_millis() as u64,
                   "stream_messages": [before.0, after.0], "events": [before.1, after.1],
                   "drain_ms": drain_ms}),
        );
        },
    )
    .await;

    let full = &run.report.figures["store_full"];
    assert!(
        full["refusal"]
            .as_str()
            .unwrap()
            .contains("insufficient resources"),
        "the filler was refused for another reason: {full}"
    );
    assert_eq!(
        full["stream_messages"][0], full["stream_messages"][1],
        "a service's stream took messages while the store was full: {full}"
    );
    assert!(
        full["events"][1].as_i64() > full["events"][0].as_i64(),
        "no event was committed while the store was full: {full}"
    );
    assert!(
        full["drain_ms"].as_u64().unwrap() <= DRAIN_WITHIN.as_millis() as u64,
        "the relays' backlog took too long to drain once space was freed: {full}"
    );
    let stretches = outages(&run.report.faults, "store_full", "store_freed");
    assert_eq!(stretches.len(), 1, "{:?}", run.report.faults);
    let ok_during = ok_within(&run.history, stretches[0]);
    assert!(
        ok_during > 0,
        "no command succeeded while the store was full"
    );
}

/// Publishes to a filler stream until JetStream refuses; returns the bytes it took and the
/// refusal.
///
/// # Errors
/// When the stream cannot be made, or 64 MiB more than the store's size went in.
async fn fill(js: &jetstream::Context) -> anyhow::Result<(usize, String)> {
    js.create_stream(jetstream::stream::Config {
        name: FILLER.into(),
        subjects: vec![FILLER_SUBJECT.into()],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let chunk = vec![0x5a_u8; CHUNK];
    let mut filled = 0;
    while filled < 128 * 1024 * 1024 {
        let acked = match js.publish(FILLER_SUBJECT, chunk.clone().into()).await {
            Ok(ack) => ack.await,
            Err(e) => return Ok((filled, e.to_string())),
        };
        match acked {
            Ok(_) => filled += CHUNK,
            Err(e) => return Ok((filled, e.to_string())),
        }
    }
    anyhow::bail!("the store took {filled} bytes and refused nothing")
}

/// The messages in the services' streams and the events in their logs, in that order.
async fn published_and_committed(
    cluster: &Cluster,
    js: &jetstream::Context,
) -> anyhow::Result<(u64, i64)> {
    let namespace = Namespace::root();
    let mut messages = 0;
    for service in Service::ALL {
        let mut stream = js.get_stream(namespace.stream_name(service.name())).await?;
        messages += stream.info().await?.state.messages;
    }
    messages += js
        .get_stream(namespace.stream_name(escalation::feed::STREAM))
        .await?
        .info()
        .await?
        .state
        .messages;
    let mut conn = sqlx::PgConnection::connect(&cluster.database_url()).await?;
    let events: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM complaints.events) + (SELECT count(*) FROM escalation.events)
              + (SELECT count(*) FROM learning_reviews.events)",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok((messages, events))
}
