//! S6: network faults through the proxies. While eight clients write cases, every service's
//! connections go through the cycle: +200 ms latency on PostgreSQL and NATS for 5 s [30 s], a
//! blackhole in front of PostgreSQL for 10 s, every NATS connection reset, a bandwidth limit of
//! 64 KiB/s on both for 5 s [30 s]; then I1–I8, and every call ended within its deadline plus
//! a second (from the history).

use std::time::Duration;

use redress_reliability::cluster::{Cluster, Link, Service};
use redress_reliability::proxy::Mode;

use crate::run::{cluster, load, long, scenario};

fn set_all(cluster: &Cluster, links: &[Link], mode: Mode) {
    for service in Service::ALL {
        for link in links {
            cluster.set_proxy(service, *link, mode);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_latency_blackhole_resets_and_thin_links_lose_nothing_and_hang_nothing() {
    let cluster = cluster().await;
    let load = load(Duration::from_secs(32), Duration::from_secs(180));
    let phase = Duration::from_secs(if long() { 30 } else { 5 });
    let both = [Link::Postgres, Link::Nats];

    let run = scenario("S6", cluster, load, async |cluster, end| {
        let mut cycles = 0;
        while cycles == 0
            || tokio::time::Instant::now() + phase * 2 + Duration::from_secs(14) < end.into()
        {
            tokio::time::sleep(Duration::from_secs(2)).await;
            set_all(cluster, &both, Mode::Latency(Duration::from_millis(200)));
            tokio::time::sleep(phase).await;
            set_all(cluster, &both, Mode::PassThrough);
            set_all(cluster, &[Link::Postgres], Mode::Blackhole);
            tokio::time::sleep(Duration::from_secs(10)).await;
            set_all(cluster, &[Link::Postgres], Mode::PassThrough);
            for service in Service::ALL {
                cluster.reset_proxy(service, Link::Nats);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            set_all(cluster, &both, Mode::Bandwidth(64 * 1024));
            tokio::time::sleep(phase).await;
            set_all(cluster, &both, Mode::PassThrough);
            cycles += 1;
        }
    })
    .await;

    let blackholes = run
        .report
        .faults
        .iter()
        .filter(|f| f.action == "proxy_blackhole")
        .count();
    assert!(
        blackholes >= Service::ALL.len(),
        "PostgreSQL was never blackholed"
    );
    // Every call ended within its 5 s deadline and a second of slack: nothing hung.
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
