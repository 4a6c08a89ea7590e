//! The `redress` binary as an operator runs it: migrate, serve, health, relay, graceful stop.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use platform::nats::Namespace;
use platform::testing::{NatsServer, TestDb, unique_prefix};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const BIN: &str = env!("CARGO_BIN_EXE_redress");

fn redress(db: &TestDb) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("DATABASE_URL", db.url())
        .env("REDRESS_LOG_FORMAT", "json")
        .env("REDRESS_VAULT_KEY", "ab".repeat(32))
        .env_remove("REDRESS_METRICS_ADDR");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn migrate_creates_every_service_schema_and_is_idempotent() {
    let db = TestDb::create().await.unwrap();

    let first = redress(&db).arg("migrate").status().unwrap();
    let second = redress(&db).arg("migrate").status().unwrap();

    assert!(first.success() && second.success());
    let pool = db.pool("public").await.unwrap();
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'events' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        schemas,
        vec!["complaints", "escalation", "learning_reviews"]
    );
}

#[tokio::test]
async fn serve_refuses_to_start_on_an_unmigrated_database() {
    let db = TestDb::create().await.unwrap();
    let nats = NatsServer::start().await.unwrap();

    let output = redress(&db)
        .args([
            "serve",
            "complaints",
            "--grpc-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("NATS_URL", nats.url())
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("run `redress migrate` first"));
}

#[tokio::test]
async fn serve_reports_serving_relays_committed_events_and_stops_cleanly_on_sigterm() {
    // Arrange
    let db = TestDb::create().await.unwrap();
    let nats = NatsServer::start().await.unwrap();
    let prefix = unique_prefix();
    assert!(redress(&db).arg("migrate").status().unwrap().success());
    let port = free_port();
    let child = redress(&db)
        .args(["serve", "--grpc-addr", &format!("127.0.0.1:{port}")])
        .env("NATS_URL", nats.url())
        .env("REDRESS_NATS_PREFIX", &prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Running(child);

    // Act: wait for SERVING, then write an event straight into the complaints store.
    let mut health = connect(port).await;
    for service in [
        "",
        "redress.complaints.v1.Inspections",
        "redress.complaints.v1.Complaints",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let pool = db.pool("complaints").await.unwrap();
    let store = platform::event_store::EventStore::new(pool);
    let meta = platform::tail::Metadata {
        correlation_id: uuid::Uuid::now_v7(),
        actor: "test".into(),
        ..Default::default()
    };
    let event = platform::event_store::NewEvent {
        event_type: "redress.testing.Probe".into(),
        payload: vec![1, 2, 3],
    };
    store
        .append(
            "probe",
            uuid::Uuid::now_v7(),
            platform::event_store::ExpectedVersion::NoStream,
            &[event],
            &meta,
            None,
        )
        .await
        .unwrap();

    // Assert: the relay inside the binary publishes it; SIGTERM stops the process cleanly.
    let js = jetstream::new(nats.client().await.unwrap());
    let stream = Namespace::prefixed(&prefix)
        .unwrap()
        .stream_name("complaints");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let messages = js
            .get_stream(&stream)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages;
        if messages == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the event was not relayed within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "serve exited with {exit}");
}

async fn connect(port: u16) -> HealthClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(channel) =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                .unwrap()
                .connect()
                .await
        {
            return HealthClient::new(channel);
        }
        assert!(
            Instant::now() < deadline,
            "serve did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);

    for variable in [
        "DATABASE_URL",
        "NATS_URL",
        "REDRESS_NATS_PREFIX",
        "REDRESS_GRPC_ADDR",
        "REDRESS_JWT_ISSUER",
        "REDRESS_JWT_AUDIENCE",
        "REDRESS_JWT_PUBLIC_KEYS",
        "REDRESS_LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "REDRESS_METRICS_ADDR",
        "REDRESS_VAULT_KEY",
        "REDRESS_POLICY_FILE",
        "REDRESS_CALENDAR_FILE",
    ] {
        assert!(
            help.contains(variable),
            "--help does not mention {variable}"
        );
    }
}

#[tokio::test]
async fn serving_complaints_without_a_vault_key_is_refused_with_a_clear_error() {
    let db = TestDb::create().await.unwrap();
    let nats = NatsServer::start().await.unwrap();
    assert!(redress(&db).arg("migrate").status().unwrap().success());

    let output = redress(&db)
        .args([
            "serve",
            "complaints",
            "--grpc-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("NATS_URL", nats.url())
        .env_remove("REDRESS_VAULT_KEY")
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("REDRESS_VAULT_KEY"));
}
