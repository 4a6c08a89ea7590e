//! S4-lite: PostgreSQL crashes. While eight clients write cases, PostgreSQL is stopped with
//! `pg_ctl stop -m immediate` every 12 s [90 s] and started again after 2 s on the same port
//! and data directory (crash recovery from the WAL). During the outage calls fail within their
//! deadline, and never definitely for an accepted command; then I1–I5 and I7.

use std::time::{Duration, Instant};

use crate::run::{cluster, load, long, scenario, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_postgres_stopped_immediately_and_restarted_under_load_loses_nothing_acknowledged() {
    let cluster = cluster().await;
    let load = load(Duration::from_secs(30), Duration::from_secs(1_200));
    let every = Duration::from_secs(if long() { 90 } else { 12 });
    let down = Duration::from_secs(2);

    let run = scenario("S4-lite", cluster, load, async |cluster, end| {
        let mut at = Instant::now() + every;
        while at + down + Duration::from_secs(2) < end {
            until(at).await;
            cluster.stop_postgres_immediately().await.unwrap();
            tokio::time::sleep(down).await;
            cluster.start_postgres().await.unwrap();
            at += every;
        }
    })
    .await;

    let stops = run
        .report
        .faults
        .iter()
        .filter(|f| f.action == "stop_immediate")
        .count();
    assert!(stops >= 1, "PostgreSQL was never stopped");
    // Every call ended within its 5 s deadline and a second of slack (I9): nothing hung.
    let slowest = run
        .history
        .iter()
        .flat_map(|e| &e.attempts)
        .map(|a| a.end_ms - a.start_ms)
        .max()
        .unwrap_or(0);
    assert!(
        slowest <= 6_000,
        "a call took {slowest} ms, past its deadline"
    );
}
