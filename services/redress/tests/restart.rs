//! A service killed mid-way and restarted loses no acknowledged command, and its read models
//! converge to a rebuild from the event store.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::grpc::{Role, TokenIssuer};
use platform::pg::Pool;
use platform::testing::{NatsServer, TestDb, unique_prefix};
use proto::complaints::v1::RecordInspectionNotifiedRequest;
use proto::complaints::v1::inspections_client::InspectionsClient;
use tonic::Code;
use tonic::metadata::MetadataValue;

const BIN: &str = env!("CARGO_BIN_EXE_redress");
const VAULT_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const INSPECTIONS: usize = 60;

struct Service {
    child: Child,
    port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &TestDb, nats: &NatsServer, prefix: &str, key_file: &std::path::Path) -> Service {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "complaints",
            "--grpc-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env("DATABASE_URL", db.url())
        .env("NATS_URL", nats.url())
        .env("REDRESS_NATS_PREFIX", prefix)
        .env("REDRESS_VAULT_KEY", VAULT_KEY)
        .env("REDRESS_JWT_PUBLIC_KEYS", key_file)
        .env("REDRESS_DB_MAX_CONNECTIONS", "4")
        .env_remove("REDRESS_METRICS_ADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Service { child, port }
}

async fn client(port: u16) -> InspectionsClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Ok(channel) = endpoint.connect().await {
            return InspectionsClient::new(channel);
        }
        assert!(
            Instant::now() < deadline,
            "the service did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn notified(i: usize, inspection_id: uuid::Uuid) -> RecordInspectionNotifiedRequest {
    let now = jiff::Timestamp::now();
    RecordInspectionNotifiedRequest {
        request_id: format!("notify-{i}"),
        inspection_id: inspection_id.to_string(),
        provider_id: format!("URN-{}", 100_000 + i),
        remit: proto::complaints::v1::Remit::Schools as i32,
        lead_inspector_ref: format!("inspector/{i}/lead"),
        team_inspector_refs: vec![format!("inspector/{i}/team")],
        on_site_starts_on: (now + jiff::SignedDuration::from_hours(24 * 14))
            .strftime("%Y-%m-%d")
            .to_string(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.as_second() - 60,
            nanos: 0,
        }),
    }
}

async fn send(
    client: &mut InspectionsClient<tonic::transport::Channel>,
    token: &str,
    request: RecordInspectionNotifiedRequest,
) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(token).unwrap());
    request.set_timeout(Duration::from_secs(5));
    client.record_inspection_notified(request).await.map(|_| ())
}

/// A digest of every row of `table`, to compare a read model with its rebuild.
async fn digest(pool: &Pool, table: &str) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') FROM {table} AS t"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_service_killed_mid_load_loses_no_acknowledged_command_and_its_read_models_equal_a_rebuild()
 {
    // Arrange: a migrated database, NATS, a signing key the service trusts.
    let db = TestDb::create().await.unwrap();
    let nats = NatsServer::start().await.unwrap();
    let prefix = unique_prefix();
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", db.url())
        .status()
        .unwrap();
    assert!(migrate.success());
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = platform::grpc::generate_dev_keypair().unwrap();
    let key_file = keys.path().join("test.pem");
    std::fs::write(&key_file, public).unwrap();
    let issuer = TokenIssuer::new(
        &private,
        "test",
        "https://identity.redress.local",
        "redress",
    )
    .unwrap();
    let token = format!(
        "Bearer {}",
        issuer
            .issue(
                "partner:inspection-system",
                Role::InspectionSystem,
                None,
                Duration::from_secs(600)
            )
            .unwrap()
    );
    let ids: Vec<uuid::Uuid> = (0..INSPECTIONS).map(|_| uuid::Uuid::now_v7()).collect();
    // Built once: a retry must resend exactly the same request under the same id.
    let requests: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| notified(i, *id))
        .collect();

    // Act: four partners send notifications concurrently; SIGKILL the service while commands
    // are in flight, once 25 have been acknowledged.
    let mut first = start(&db, &nats, &prefix, &key_file);
    let grpc = client(first.port).await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..4)
        .map(|lane| {
            let (mut grpc, token, acked) = (grpc.clone(), token.clone(), acked.clone());
            let mine: Vec<(usize, RecordInspectionNotifiedRequest)> = requests
                .iter()
                .cloned()
                .enumerate()
                .filter(|(i, _)| i % 4 == lane)
                .collect();
            tokio::spawn(async move {
                for (i, request) in mine {
                    if send(&mut grpc, &token, request).await.is_ok() {
                        acked.lock().unwrap().push(i);
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 25 {
        assert!(
            Instant::now() < deadline,
            "the service acknowledged too little"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    drop(first);
    let acknowledged = acked.lock().unwrap().clone();
    assert!(
        acknowledged.len() < INSPECTIONS,
        "the kill must interrupt the load"
    );
    // Restart and retry everything with the same request ids, as a partner would.
    let second = start(&db, &nats, &prefix, &key_file);
    let mut grpc = client(second.port).await;
    for (i, request) in requests.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match send(&mut grpc, &token, request.clone()).await {
                Ok(()) => break,
                Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => panic!("retry of notification {i} failed: {status:?}"),
            }
        }
    }

    // Assert: each inspection was notified exactly once, acknowledged or not before the kill.
    let pool = db.pool("complaints").await.unwrap();
    let counts: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
        "SELECT stream_id, count(*) FROM events WHERE event_type = 'redress.complaints.v1.InspectionNotified'
         GROUP BY stream_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let counts: BTreeMap<uuid::Uuid, i64> = counts.into_iter().collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "inspection {i} (acknowledged first time: {})",
            acknowledged.contains(&i)
        );
    }
    assert_eq!(counts.len(), INSPECTIONS);
    // The running service's read models catch up, and equal a rebuild from the event store.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM inspection_cases")
            .fetch_one(&pool)
            .await
            .unwrap();
        if rows == INSPECTIONS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the read model did not catch up: {rows} rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    let tables = [
        "inspection_cases",
        "day_after_route",
        "publication_gate",
        "pause_register",
        "concerns",
    ];
    let mut live = Vec::new();
    for table in tables {
        live.push(digest(&pool, table).await);
    }
    let mut config = complaints::config::Config::new(
        db.url().to_owned(),
        vec![(
            "test".to_owned(),
            std::fs::read_to_string(&key_file).unwrap(),
        )],
        platform::vault::Vault::parse_master_key(VAULT_KEY).unwrap(),
    );
    config.max_connections = 4;
    let context = std::sync::Arc::new(
        complaints::app::Context::connect(&config, platform::clock::Clock::system())
            .await
            .unwrap(),
    );
    let read_models = complaints::inspections::ReadModels::start(&context)
        .await
        .unwrap();
    read_models.rebuild().await.unwrap();
    for (table, before) in tables.iter().zip(&live) {
        assert_eq!(
            &digest(&pool, table).await,
            before,
            "{table} differs from its rebuild"
        );
    }
}
