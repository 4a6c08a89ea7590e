//! W6: what the project's gRPC stack costs when the RPC does no work.
//!
//! * `project`: `grpc.health.v1.Health/Check` (the server as a whole, `service: ""`) sent to
//!   `redress serve complaints` (see `served`): the platform's `GrpcServer` with its limits,
//!   timeout, guard layer (policy lookup, request span, metrics, audit check; health is a
//!   public method, so no token is verified) and JSON logs, the relay and read models idle
//!   beside it.
//! * `peer:tonic_echo`: the bare tonic echo, 500 bytes each way (see `echo`).
//!
//! Both at [`IN_FLIGHT`] requests in flight: [`CONNECTIONS`] HTTP/2 connections with
//! [`PER_CONNECTION`] closed-loop workers each (as the plan's h2load run, §3.3; one connection
//! would cap the project at its 32 requests served at once per connection). Rounds alternate
//! which side goes first.

use platform::testing::NatsServer;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::append::PROJECT;
use crate::echo::{self, EchoClient, EchoServer};
use crate::load;
use crate::report::{Enforced, Ratio, Summary, Target, log};
use crate::run::Ctx;
use crate::served::Served;

const BENCH: &str = "w6_grpc_overhead";
/// HTTP/2 connections of each run.
const CONNECTIONS: usize = 4;
/// Closed-loop workers on each connection.
const PER_CONNECTION: usize = 25;
/// Requests in flight.
const IN_FLIGHT: usize = CONNECTIONS * PER_CONNECTION;

/// Runs W6's rounds, then prints the medians and ratio lines.
pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let nats = NatsServer::start().await?;
    let served = Served::start(&ctx.db, nats.url(), "w6").await?;
    let echo = EchoServer::start().await?;
    let mut project = Vec::new();
    let mut peer = Vec::new();
    for round in 1..=s.rounds {
        let order = crate::run::project_first(round);
        for is_project in order {
            let summary = if is_project {
                let mut channels = Vec::with_capacity(CONNECTIONS);
                for _ in 0..CONNECTIONS {
                    channels.push(served.channel().await?);
                }
                let load = health(ctx, channels);
                load::metered(ctx, load, Some(&|| served.cpu_seconds()), false).await?
            } else {
                let mut channels = Vec::with_capacity(CONNECTIONS);
                for _ in 0..CONNECTIONS {
                    channels.push(echo.channel().await?);
                }
                let load = echo_run(ctx, channels);
                load::metered(ctx, load, Some(&|| echo.cpu_seconds()), false).await?
            };
            let (imp, runs) = if is_project {
                (PROJECT, &mut project)
            } else {
                (echo::PEER, &mut peer)
            };
            let summary = summary
                .with("connections", CONNECTIONS)
                .with("per_connection", PER_CONNECTION);
            ctx.reporter
                .sample(BENCH, imp, IN_FLIGHT, round, s.run_warmup, &summary);
            runs.push(summary);
        }
    }
    ctx.reporter.median(BENCH, PROJECT, IN_FLIGHT, &project);
    ctx.reporter.median(BENCH, echo::PEER, IN_FLIGHT, &peer);
    ctx.reporter.ratio(&Ratio {
        name: "w6_throughput_vs_echo".to_owned(),
        bench: BENCH,
        concurrency: Some(IN_FLIGHT),
        numerator: PROJECT,
        denominator: Some(echo::PEER),
        per_round: project
            .iter()
            .zip(&peer)
            .map(|(a, b)| a.throughput() / b.throughput())
            .collect(),
        target: Some((Target::AtLeast(0.8, ">=0.8"), Enforced::Yes)),
    });
    // What each request costs the server process, which CPU taken by other work on the host
    // does not change as much as it changes throughput. For reference; no target.
    let server_cpu = |s: &Summary| s.extra_f64("server_cpu_us_per_op").unwrap_or(f64::NAN);
    ctx.reporter.ratio(&Ratio {
        name: "w6_server_cpu_per_op_vs_echo".to_owned(),
        bench: BENCH,
        concurrency: Some(IN_FLIGHT),
        numerator: PROJECT,
        denominator: Some(echo::PEER),
        per_round: project
            .iter()
            .zip(&peer)
            .map(|(a, b)| server_cpu(a) / server_cpu(b))
            .collect(),
        target: None,
    });
    drop(echo);
    served.stop();
    drop(nats);
    Ok(())
}

/// Worker `i` calls over connection `i % CONNECTIONS`.
async fn health(ctx: &Ctx, channels: Vec<Channel>) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    log!("{BENCH} {PROJECT} {CONNECTIONS}x{PER_CONNECTION}");
    let clients: Vec<HealthClient<Channel>> = channels.into_iter().map(HealthClient::new).collect();
    load::closed_loop_per_worker(
        &format!("{BENCH} {PROJECT}"),
        IN_FLIGHT,
        s.run_warmup,
        s.duration,
        move |worker| {
            let mut client = clients[worker % CONNECTIONS].clone();
            async move {
                let reply = client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await?
                    .into_inner();
                anyhow::ensure!(
                    reply.status == ServingStatus::Serving as i32,
                    "health answered {:?}",
                    reply.status()
                );
                Ok(())
            }
        },
    )
    .await
}

/// Worker `i` echoes over connection `i % CONNECTIONS`.
async fn echo_run(ctx: &Ctx, channels: Vec<Channel>) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    log!("{BENCH} {} {CONNECTIONS}x{PER_CONNECTION}", echo::PEER);
    let clients: Vec<EchoClient<Channel>> = channels.into_iter().map(EchoClient::new).collect();
    let payload = std::sync::Arc::new(echo::request_payload());
    load::closed_loop_per_worker(
        &format!("{BENCH} {}", echo::PEER),
        IN_FLIGHT,
        s.run_warmup,
        s.duration,
        move |worker| {
            let mut client = clients[worker % CONNECTIONS].clone();
            let payload = payload.clone();
            async move { echo::call(&mut client, &payload).await }
        },
    )
    .await
}
