//! The PostgreSQL roles of `deploy/postgres` at work, against a database set up by those very
//! files: each service runs the platform and starts as its own role; no role may drop or replace
//! what its schema keeps, rename it, or create tables in another service's schema; the roles
//! carry the plan's limits; the files can be applied again. The role × table × operation cells
//! are in `postgres_matrix`.

use async_nats::jetstream;
use platform::clock::Clock;
use platform::event_store::{CommandKey, EventStore, ExpectedVersion, NewEvent};
use platform::grpc::Role;
use platform::nats::{Namespace, StreamSpec};
use platform::projection::{Projection, ProjectionRunner};
use platform::relay::{Relay, RelayConfig};
use platform::tail::{Metadata, RecordedEvent};
use platform::testing::{NatsServer, TestTokens, unique_prefix};
use platform::vault::Vault;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::helpers::{GRANTS_SQL, MIGRATOR, ROLES_SQL, SERVICE_ROLES, StackDb};

/// A read model of every event id, created by the service at run time like every projection.
struct Probes;

impl Projection for Probes {
    fn name(&self) -> &'static str {
        "probes"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["probes"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE probes (event_id uuid PRIMARY KEY, stream_type text NOT NULL)"
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for event in events {
            sqlx::query("INSERT INTO probes (event_id, stream_type) VALUES ($1, $2)")
                .bind(event.event_id)
                .bind(&event.stream_type)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

fn metadata() -> Metadata {
    Metadata {
        correlation_id: Uuid::now_v7(),
        actor: "test:roles".into(),
        ..Default::default()
    }
}

fn probe() -> NewEvent {
    NewEvent {
        event_type: "redress.testing.Probe".into(),
        payload: vec![1, 2, 3],
    }
}

/// The service name of a schema, as in subjects and streams.
fn service_of(schema: &str) -> &'static str {
    match schema {
        "complaints" => "complaints",
        "escalation" => "escalation",
        _ => "learning-reviews",
    }
}

/// Runs `sql` and describes what happened unless it was refused with SQLSTATE 42501
/// (insufficient_privilege), the code of a missing right and of the append-only trigger alike.
async fn unless_refused(conn: &mut PgConnection, sql: &str) -> Option<String> {
    let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await;
    match result {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => None,
        Err(e) => Some(format!("{sql}: failed otherwise: {e}")),
        Ok(_) => Some(format!("{sql}: was allowed")),
    }
}

/// What the platform does in a service's schema at run time, as `role`: check the migrations,
/// append with an idempotency record, project (creating, filling and rebuilding a read
/// model), relay to JetStream, record handled and parked messages, keep and erase personal data.
pub(crate) async fn run_the_platform_as(
    stack: &StackDb,
    schema: &str,
    role: &str,
    nats: &NatsServer,
) {
    let pool = platform::pg::connect(&stack.url_as(role), schema, 3)
        .await
        .unwrap();
    platform::migrate::ensure_applied(&pool, schema, &[platform::migrate::EVENT_STORE])
        .await
        .unwrap_or_else(|e| panic!("{role} cannot see that {schema} is migrated: {e:#}"));

    // The log and the command record.
    let store = EventStore::new(pool.clone());
    let key = CommandKey::new("test:roles", "k-1", "Probe", b"request").unwrap();
    store
        .append(
            "probe",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[probe(), probe()],
            &metadata(),
            Some(&key),
        )
        .await
        .unwrap_or_else(|e| panic!("{role} cannot append to {schema}: {e:?}"));
    assert!(store.find_command(&key).await.unwrap().is_some());

    // A read model: created at start, kept up, rebuilt through a scratch schema and swapped in.
    let runner = ProjectionRunner::new(&store, schema, Probes).unwrap();
    runner.init().await.unwrap();
    assert_eq!(runner.run_once().await.unwrap(), 2, "{role} projecting");
    assert_eq!(
        runner.rebuild(|_| {}).await.unwrap(),
        2,
        "{role} rebuilding"
    );
    let (rows, owner): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM probes), tableowner::text FROM pg_tables WHERE tablename = 'probes' AND schemaname = current_schema()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((rows, owner.as_str()), (2, stack.role(role).as_str()));

    // The relay and its checkpoint.
    let js = jetstream::new(nats.client().await.unwrap());
    let namespace = Namespace::prefixed(&unique_prefix()).unwrap();
    let service = service_of(schema);
    platform::nats::ensure_stream(&js, &StreamSpec::for_service(&namespace, service))
        .await
        .unwrap();
    let relay = Relay::new(&store, js, RelayConfig::new(service, namespace));
    assert_eq!(relay.run_once().await.unwrap(), 2, "{role} relaying");
    let relayed: i64 = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
        .bind(&RelayConfig::new(service, Namespace::root()).name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(relayed > 0, "{role}: the relay's checkpoint moved");

    // A consumer's inbox and parked messages, with the consumer's own statements.
    sqlx::query("INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind("probe-policy")
        .bind(Uuid::now_v7())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO parked_events (consumer, event_id, subject, stream_sequence, deliveries, reason, headers, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind("probe-policy")
    .bind(Uuid::now_v7())
    .bind("probe.subject")
    .bind(1_i64)
    .bind(8_i64)
    .bind("test")
    .bind(serde_json::json!({}))
    .bind(vec![0_u8])
    .execute(&pool)
    .await
    .unwrap();

    // Personal data: kept, read, erased.
    let vault = Vault::new(pool.clone(), &Vault::generate_master_key());
    let subject = Uuid::now_v7();
    let record = vault.put(subject, "contact", b"Ada").await.unwrap();
    assert_eq!(vault.get(record).await.unwrap().plaintext, b"Ada");
    vault.erase_subject(subject).await.unwrap();
    assert!(vault.get(record).await.is_err());
    pool.close().await;
}

#[tokio::test]
async fn each_service_role_runs_the_platform_in_its_own_schema() {
    // Arrange
    let stack = StackDb::create().await;
    let nats = NatsServer::start().await.unwrap();

    // Act and assert: appends, projections, relay, inbox, parking and vault, per role.
    for (schema, role) in SERVICE_ROLES {
        run_the_platform_as(&stack, schema, role, &nats).await;
    }
}

#[tokio::test]
async fn no_service_role_may_drop_or_replace_what_its_schema_keeps() {
    // Arrange: a log with an event in it, and every other table in use.
    let stack = StackDb::create().await;
    let nats = NatsServer::start().await.unwrap();
    let mut allowed = Vec::new();
    for (schema, role) in SERVICE_ROLES {
        run_the_platform_as(&stack, schema, role, &nats).await;

        // Act: as the service, what a service must never do to its schema beyond the table
        // operations of `postgres_matrix`.
        let mut conn = stack.connect_as(role).await;
        for sql in [
            "DROP TRIGGER events_append_only_rows ON events",
            "DROP TABLE events",
            "CREATE OR REPLACE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            &format!("ALTER SCHEMA {schema} RENAME TO forged"),
        ] {
            if let Some(what) = unless_refused(&mut conn, sql).await {
                allowed.push(format!("{role}: {what}"));
            }
        }
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(events, 2, "{role}: the log is intact");
        conn.close().await.unwrap();
    }

    // Assert: every statement was refused with 42501.
    assert!(allowed.is_empty(), "{allowed:#?}");
}

#[tokio::test]
async fn no_service_role_may_create_a_table_in_another_services_schema() {
    // Arrange: every schema in use, each with a read model its service created.
    let stack = StackDb::create().await;
    let nats = NatsServer::start().await.unwrap();
    for (schema, role) in SERVICE_ROLES {
        run_the_platform_as(&stack, schema, role, &nats).await;
    }

    // Act: each role against each other schema.
    let mut allowed = Vec::new();
    for (_, role) in SERVICE_ROLES {
        let mut conn = stack.connect_as(role).await;
        for (other, _) in SERVICE_ROLES
            .iter()
            .filter(|(_, other_role)| *other_role != role)
        {
            let sql = format!("CREATE TABLE {other}.intruder (x int)");
            if let Some(what) = unless_refused(&mut conn, &sql).await {
                allowed.push(format!("{role}: {what}"));
            }
        }
        conn.close().await.unwrap();
    }

    // Assert
    assert!(allowed.is_empty(), "{allowed:#?}");
}

#[tokio::test]
async fn the_complaints_service_runs_as_its_role() {
    // Arrange: the service built as complaints_svc, serving in-process.
    let stack = StackDb::create().await;
    let tokens = TestTokens::new();
    let mut config = complaints::config::Config::new(
        stack.url_as("complaints_svc"),
        vec![tokens.public_key()],
        Vault::generate_master_key(),
    );
    config.jwt_issuer = TestTokens::ISSUER.to_owned();
    config.jwt_audience = TestTokens::AUDIENCE.to_owned();
    let app = complaints::app::App::build(config, Clock::system())
        .await
        .expect("the complaints service cannot start as complaints_svc");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = app.server();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { server.serve(listener, stopped.cancelled_owned()).await });

    // Act: a partner's command, then the read models catch up and are rebuilt.
    let inspection_id = Uuid::now_v7();
    let mut client = proto::complaints::v1::inspections_client::InspectionsClient::connect(address)
        .await
        .unwrap();
    let mut request = tonic::Request::new(notified(inspection_id));
    request.metadata_mut().insert(
        "authorization",
        tokens.token(Role::InspectionSystem, None).parse().unwrap(),
    );
    client.record_inspection_notified(request).await.unwrap();
    app.inspections.run_once().await.unwrap();
    app.complaints.run_once().await.unwrap();
    app.inspections.rebuild().await.unwrap();
    app.complaints.rebuild().await.unwrap();

    // Assert
    let case: Option<Uuid> =
        sqlx::query_scalar("SELECT inspection_id FROM inspection_cases WHERE inspection_id = $1")
            .bind(inspection_id)
            .fetch_optional(app.context.store.pool())
            .await
            .unwrap();
    assert_eq!(case, Some(inspection_id));
    stop.cancel();
}

#[tokio::test]
async fn the_escalation_service_runs_as_its_role() {
    // Arrange
    let stack = StackDb::create().await;
    let tokens = TestTokens::new();
    let config =
        escalation::config::Config::new(stack.url_as("escalation_svc"), vec![tokens.public_key()]);

    // Act: its read models and the feed translator are created, run and rebuilt.
    let app = escalation::app::App::build(config, Clock::system())
        .await
        .expect("the escalation service cannot start as escalation_svc");
    app.read_models.run_once().await.unwrap();
    app.feed.run_once().await.unwrap();
    app.read_models.rebuild().await.unwrap();

    // Assert: the tables are the service's own.
    let foreign: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'escalation' AND tableowner <> current_user
         AND tablename NOT IN ('events', 'commands', 'checkpoints', 'inbox', 'parked_events', 'vault_subjects', 'vault_records', 'schema_migrations')",
    )
    .fetch_all(app.context.store.pool())
    .await
    .unwrap();
    assert!(foreign.is_empty(), "{foreign:?}");
}

#[tokio::test]
async fn the_learning_reviews_service_runs_as_its_role() {
    // Arrange
    let stack = StackDb::create().await;
    let tokens = TestTokens::new();
    let config = learning_reviews::config::Config::new(
        stack.url_as("learning_reviews_svc"),
        vec![tokens.public_key()],
    );

    // Act: its read models are created, run and rebuilt.
    let app = learning_reviews::app::App::build(config, Clock::system())
        .await
        .expect("the learning-reviews service cannot start as learning_reviews_svc");
    app.read_models.run_once().await.unwrap();
    app.read_models.rebuild().await.unwrap();

    // Assert: the service's tables are its own.
    let own: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'learning_reviews' AND tableowner = current_user",
    )
    .fetch_one(app.context.store.pool())
    .await
    .unwrap();
    assert!(own > 0);
}

#[tokio::test]
async fn the_roles_carry_the_limits_and_timeouts_of_the_reliability_plan() {
    // Arrange
    let stack = StackDb::create().await;

    // Act
    let mut settings = Vec::new();
    for role in [
        MIGRATOR,
        "complaints_svc",
        "escalation_svc",
        "learning_reviews_svc",
    ] {
        let mut conn = stack.connect_as(role).await;
        let row: (String, String, String, String, bool, bool, bool, i32) = sqlx::query_as(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),
                    current_setting('idle_in_transaction_session_timeout'), current_setting('search_path'),
                    rolsuper, rolcreatedb OR rolcreaterole, rolbypassrls, rolconnlimit
             FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        settings.push((role, row));
    }

    // Assert
    for (role, (statement, lock, idle, search_path, superuser, creates, bypass, limit)) in settings
    {
        assert!(!superuser && !creates && !bypass, "{role}");
        assert_eq!(idle, "1min", "{role}");
        if role == MIGRATOR {
            assert_eq!(
                (statement.as_str(), lock.as_str(), limit),
                ("15min", "10s", 5)
            );
        } else {
            assert_eq!(
                (statement.as_str(), lock.as_str(), limit),
                ("5s", "2s", 25),
                "{role}"
            );
            let schema = role.trim_end_matches("_svc");
            assert_eq!(search_path, schema, "{role}");
        }
    }
}

#[tokio::test]
async fn the_roles_and_grants_files_can_be_applied_again() {
    // Arrange: a stack in use.
    let stack = StackDb::create().await;
    let nats = NatsServer::start().await.unwrap();
    run_the_platform_as(&stack, "escalation", "escalation_svc", &nats).await;

    // Act: both files again, and the migration in between, as after an upgrade.
    stack.apply_as_admin(ROLES_SQL).await;
    stack.migrate().await;
    stack.apply_as(MIGRATOR, GRANTS_SQL).await;

    // Assert: the service still appends and projects into what it created before, and may
    // still not rewrite its log.
    let pool = platform::pg::connect(&stack.url_as("escalation_svc"), "escalation", 2)
        .await
        .unwrap();
    let store = EventStore::new(pool.clone());
    store
        .append(
            "probe",
            Uuid::now_v7(),
            ExpectedVersion::NoStream,
            &[probe()],
            &metadata(),
            None,
        )
        .await
        .unwrap();
    let runner = ProjectionRunner::new(&store, "escalation", Probes).unwrap();
    runner.init().await.unwrap();
    assert_eq!(runner.run_once().await.unwrap(), 1);
    assert_eq!(runner.rebuild(|_| {}).await.unwrap(), 3);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        unless_refused(&mut conn, "UPDATE events SET actor = 'forged'").await,
        None
    );
}

fn notified(inspection_id: Uuid) -> proto::complaints::v1::RecordInspectionNotifiedRequest {
    let now = jiff::Timestamp::now();
    proto::complaints::v1::RecordInspectionNotifiedRequest {
        request_id: "notify-roles".into(),
        inspection_id: inspection_id.to_string(),
        provider_id: "URN-100001".into(),
        remit: proto::complaints::v1::Remit::Schools as i32,
        lead_inspector_ref: "inspector/1/lead".into(),
        team_inspector_refs: vec!["inspector/1/team".into()],
        on_site_starts_on: (now + jiff::SignedDuration::from_hours(24 * 14))
            .strftime("%Y-%m-%d")
            .to_string(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.as_second() - 60,
            nanos: 0,
        }),
    }
}
