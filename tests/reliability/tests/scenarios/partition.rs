//! S7: a partition. NATS runs in a network namespace of its own, on tcp/4222 of a veth link;
//! while eight clients write cases, nftables drops every packet of tcp/4222 inside that
//! namespace for 15 s, twice. Nothing is refused or reset: the services' connections to NATS
//! hear nothing, as behind a dead switch. Commands that need only PostgreSQL keep succeeding;
//! after each heal every relay publishes what was committed before it within 30 s; then I1–I5,
//! I7, I9 and I10.

use std::time::Duration;

use redress_reliability::cluster::Cluster;
use serde_json::json;

use crate::drain::{DRAIN_WITHIN, drained};
use crate::outages::{ok_within, outages};
use crate::run::{Figures, load, options, scenario_with};

/// How long each partition lasts.
const PARTITION: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_nats_partitioned_twice_under_load_loses_nothing_and_drains() {
    let mut options = options();
    options.nats.netns = true;
    let cluster = Cluster::start(options)
        .await
        .expect("Failed to start the system under test with NATS in a namespace");
    let load = load(Duration::from_secs(55), Duration::from_secs(120));
    let figures = Figures::default();
    let found = figures.clone();

    let run = scenario_with("S7", cluster, load, None, figures, async |cluster, _end| {
        let mut drains = Vec::new();
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            cluster.partition_nats().await.unwrap();
            tokio::time::sleep(PARTITION).await;
            cluster.heal_nats().await.unwrap();
            drains.push(drained(cluster).await.unwrap());
        }
        found.lock().unwrap().insert(
            "partition".into(),
            json!({"partition_ms": PARTITION.as_millis() as u64, "drain_ms": drains}),
        );
    })
    .await;

    let partitions = outages(&run.report.faults, "partition", "heal");
    assert_eq!(partitions.len(), 2, "{:?}", run.report.faults);
    for partition in partitions {
        assert!(
            ok_within(&run.history, partition) > 0,
            "no command succeeded while NATS was partitioned ({partition:?} ms)"
        );
    }
    let drains = &run.report.figures["partition"]["drain_ms"];
    for drain in drains.as_array().unwrap() {
        assert!(
            drain.as_u64().unwrap() <= DRAIN_WITHIN.as_millis() as u64,
            "a relay's backlog took {drain} ms to drain after a heal: {drains}"
        );
    }
}
