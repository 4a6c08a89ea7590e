//! S3-lite: NATS crashes. While eight clients write cases, nats-server is SIGKILLed every 12 s
//! [60 s] and started again after 2 s on the same port and store. Commands keep succeeding
//! (writes need only PostgreSQL); the relays' backlog drains after each restart; then I1–I5
//! and I7.

use std::time::{Duration, Instant};

use crate::outages::{ok_within, outages};
use crate::run::{cluster, load, long, scenario, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_nats_killed_and_restarted_under_load_loses_no_event_on_the_streams() {
    let cluster = cluster().await;
    let load = load(Duration::from_secs(30), Duration::from_secs(180));
    let every = Duration::from_secs(if long() { 60 } else { 12 });
    let down = Duration::from_secs(2);

    let run = scenario("S3-lite", cluster, load, async |cluster, end| {
        let mut at = Instant::now() + every;
        while at + down + Duration::from_secs(2) < end {
            until(at).await;
            cluster.kill9_nats().await.unwrap();
            tokio::time::sleep(down).await;
            cluster.start_nats().await.unwrap();
            at += every;
        }
    })
    .await;

    // Commands that need only PostgreSQL went on while NATS was down.
    let outages = outages(&run.report.faults, "kill9", "start");
    assert!(!outages.is_empty(), "NATS was never killed");
    let ok_during: usize = outages.iter().map(|o| ok_within(&run.history, *o)).sum();
    assert!(ok_during > 0, "no command succeeded while NATS was down");
}
