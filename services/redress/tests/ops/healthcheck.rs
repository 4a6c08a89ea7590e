//! `redress healthcheck` exits 0 only for SERVING.

use std::process::Stdio;
use std::time::{Duration, Instant};

use platform::testing::{NatsServer, TestDb, unique_prefix};
use tonic_health::ServingStatus;

use crate::helpers::{Running, free_port, output, redress};

async fn healthcheck(addr: &str, args: &[&str]) -> std::process::Output {
    let mut command = redress();
    command
        .arg("healthcheck")
        .args(args)
        .env("REDRESS_GRPC_ADDR", addr);
    output(command).await
}

#[tokio::test]
async fn healthcheck_exits_zero_once_a_served_service_is_serving_and_non_zero_for_an_unknown_service()
 {
    // Arrange: `redress serve escalation` as a child process.
    let db = TestDb::create().await.unwrap();
    let nats = NatsServer::start().await.unwrap();
    let mut migrate = redress();
    migrate.arg("migrate").env("DATABASE_URL", db.url());
    assert!(output(migrate).await.status.success());
    let port = free_port();
    let _server = Running(
        redress()
            .args(["serve", "escalation"])
            .env("DATABASE_URL", db.url())
            .env("NATS_URL", nats.url())
            .env("REDRESS_NATS_PREFIX", unique_prefix())
            .env("REDRESS_GRPC_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Act: ask until the service is up, as a container runtime does; then about one service.
    // The wildcard address is what a container's REDRESS_GRPC_ADDR says.
    let wildcard = format!("0.0.0.0:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let first_healthy = loop {
        let answer = healthcheck(&wildcard, &[]).await;
        if answer.status.success() {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "not healthy within 30 s: {}",
            String::from_utf8_lossy(&answer.stderr)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let escalations = healthcheck(
        &wildcard,
        &["--service", "redress.escalation.v1.Escalations"],
    )
    .await;
    let unknown = healthcheck(&wildcard, &["--service", "redress.nothing.v1.Nothing"]).await;

    // Assert
    assert_eq!(String::from_utf8_lossy(&first_healthy.stdout), "SERVING\n");
    assert!(escalations.status.success());
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[tokio::test]
async fn healthcheck_exits_non_zero_when_the_endpoint_answers_not_serving() {
    // Arrange: a health endpoint reporting NOT_SERVING, as a draining service does.
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    // Act
    let answer = healthcheck(&addr, &[]).await;

    // Assert
    server.abort();
    assert_eq!(answer.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&answer.stderr);
    assert!(stderr.contains("NOT_SERVING"), "{stderr}");
    assert!(answer.stdout.is_empty());
}

#[tokio::test]
async fn healthcheck_exits_non_zero_at_once_when_nothing_listens() {
    // Arrange: a port that was free a moment ago.
    let addr = format!("127.0.0.1:{}", free_port());

    // Act
    let started = Instant::now();
    let answer = healthcheck(&addr, &[]).await;

    // Assert
    assert_eq!(answer.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&answer.stderr);
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(
        !stderr.contains("backtrace"),
        "one line for the health log: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn healthcheck_gives_up_after_its_timeout_when_the_endpoint_never_answers() {
    // Arrange: a socket that accepts connections (the kernel's backlog) and never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();

    // Act
    let started = Instant::now();
    let answer = healthcheck(&addr, &["--timeout", "500ms"]).await;
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(answer.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&answer.stderr);
    assert!(stderr.contains("no health answer"), "{stderr}");
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3),
        "took {elapsed:?}"
    );
    drop(silent);
}
