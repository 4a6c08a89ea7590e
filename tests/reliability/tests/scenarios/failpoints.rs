//! S2: the relay, a projection and a command crash at their most sensitive points. While eight
//! clients write cases, each of the platform's three crash failpoints fires once, in one
//! service each: a service dies after PostgreSQL committed a command and before it answered
//! (complaints), a relay after JetStream acknowledged a page and before its checkpoint moved
//! (escalation), a projection after applying a page and before committing it (learning
//! reviews). Each process is started with the failpoint armed, crashes on its own, and is
//! started again without it; then I1–I8, with no duplicate event id on any stream (I5).

use std::time::Duration;

use redress_reliability::cluster::Service;

use crate::run::{cluster, load, long, scenario};

/// Where each failpoint fires, and how many passes it lets by first (so the crash comes under
/// load, not at start).
const CRASHES: [(Service, &str); 3] = [
    (
        Service::Complaints,
        "event_store::after_commit_before_reply=20*off->panic",
    ),
    (
        Service::Escalation,
        "relay::after_ack_before_checkpoint=5*off->panic",
    ),
    (
        Service::LearningReviews,
        "projection::after_apply_before_commit=5*off->panic",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_crashes_at_each_failpoint_under_load_lose_and_repeat_nothing() {
    let cluster = cluster().await;
    let load = load(Duration::from_secs(30), Duration::from_secs(180));
    let rounds = if long() { 4 } else { 1 };

    let run = scenario("S2", cluster, load, async |cluster, end| {
        tokio::time::sleep(Duration::from_secs(2)).await;
        'rounds: for _ in 0..rounds {
            for (service, failpoints) in CRASHES {
                if tokio::time::Instant::now() + Duration::from_secs(8) > end.into() {
                    break 'rounds;
                }
                cluster.arm_failpoints(service, failpoints);
                cluster.restart(service).await.unwrap();
                let crashed = cluster.wait_crash(service, Duration::from_secs(20)).await;
                cluster.arm_failpoints(service, "");
                match crashed {
                    Ok(status) => assert!(!status.success(), "{service} ended cleanly"),
                    // Not reached in time: end it so the schedule goes on, and fail below.
                    Err(e) => {
                        eprintln!("{e:#}");
                        cluster.kill9(service).await.unwrap();
                    }
                }
                cluster.start_service(service).await.unwrap();
            }
        }
    })
    .await;

    let crashes = run
        .report
        .faults
        .iter()
        .filter(|f| f.action == "crash")
        .map(|f| f.target.as_str())
        .collect::<Vec<_>>();
    for (service, _) in CRASHES {
        assert!(
            crashes.contains(&service.name()),
            "{service} never crashed at its failpoint: {crashes:?}"
        );
    }
}
