//! S1-lite: a service crash loop. While eight clients write cases, a service is SIGKILLed
//! every 6 s ± 2 s [20 s ± 5 s] and started again after 1–3 s, each service in turn from a
//! random first one, so a short run kills every one; then I1–I5 and I7.

use std::time::{Duration, Instant};

use rand::Rng as _;
use redress_reliability::cluster::Service;

use crate::run::{cluster, load, long, scenario, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_services_killed_and_restarted_under_load_lose_and_repeat_nothing() {
    let cluster = cluster().await;
    let load = load(Duration::from_secs(30), Duration::from_secs(300));
    let (every, spread) = if long() {
        (20_000, 5_000)
    } else {
        (6_000, 2_000)
    };
    let first = rand::rng().random_range(0..Service::ALL.len());

    let run = scenario("S1-lite", cluster, load, async |cluster, end| {
        for turn in 0.. {
            let service = Service::ALL[(first + turn) % Service::ALL.len()];
            let (wait, down) = {
                let mut rng = rand::rng();
                (
                    Duration::from_millis(rng.random_range(every - spread..=every + spread)),
                    Duration::from_millis(rng.random_range(1_000..=3_000)),
                )
            };
            let at = Instant::now() + wait;
            if at + down + Duration::from_secs(2) > end {
                break;
            }
            until(at).await;
            cluster.kill9(service).await.unwrap();
            tokio::time::sleep(down).await;
            cluster.start_service(service).await.unwrap();
        }
    })
    .await;

    let kills = run
        .report
        .faults
        .iter()
        .filter(|f| f.action == "kill9")
        .count();
    assert!(kills >= 2, "the schedule killed {kills} services");
}
