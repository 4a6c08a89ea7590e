//! Test support: the whole learning-reviews service in-process, on a port of its own, against a
//! fresh database and a private NATS server, with a settable clock and tokens for any role.
//!
//! Background work does not run on its own here: tests drive it with [`TestApp::settle`] (the
//! links to complaints and escalation, then the read models, apply what is there) and
//! [`TestApp::relay_once`], so nothing depends on sleeping. Facts from the other contexts reach
//! the service as they would in production: published to their streams
//! ([`TestApp::publish_event`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use jiff::Timestamp;
use platform::clock::Clock;
use platform::grpc::Role;
use platform::nats::{Namespace, headers};
use platform::pg::Pool;
use platform::testing::{NatsServer, TestDb, TestTokens, unique_prefix};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::{App, Context};
use crate::config::Config;
use crate::read_models::ReadModels;

/// A running service and handles on everything a test needs.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub context: Arc<Context>,
    pub read_models: Arc<ReadModels>,
    pub nats: NatsServer,
    pub namespace: Namespace,
    pub js: jetstream::Context,
    app: App,
    tokens: TestTokens,
    stop: CancellationToken,
    db: TestDb,
}

/// Starts the service. The clock is fixed at 2025-06-02T09:00:00Z until a test moves it.
///
/// # Panics
/// When PostgreSQL or a NATS server binary is not available: the test cannot run.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let nats = NatsServer::start().await.expect("Failed to start NATS.");
    let db = TestDb::create()
        .await
        .expect("Failed to create a test database.");
    let pool = db
        .pool("learning_reviews")
        .await
        .expect("Failed to connect to the test database.");
    platform::migrate::apply(&pool, "learning_reviews", &[platform::migrate::EVENT_STORE])
        .await
        .expect("Failed to migrate the test database.");
    pool.close().await;
    let namespace = Namespace::prefixed(&unique_prefix()).expect("a valid prefix");
    let tokens = TestTokens::new();
    let mut config = Config::new(db.url().to_owned(), vec![tokens.public_key()]);
    config.jwt_issuer = TestTokens::ISSUER.to_owned();
    config.jwt_audience = TestTokens::AUDIENCE.to_owned();
    config.nats_url = Some(nats.url().to_owned());
    config.namespace = namespace.clone();
    config.max_read_wait = Duration::from_secs(2);
    let start: Timestamp = "2025-06-02T09:00:00Z".parse().expect("a valid timestamp");
    let app = App::build(config, Clock::fixed(start))
        .await
        .expect("Failed to build the app.");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("Failed to bind a port.");
    let address = format!("http://{}", listener.local_addr().expect("a bound address"));
    let stop = CancellationToken::new();
    let server = app.server();
    let stopped = stop.clone();
    tokio::spawn(async move { server.serve(listener, stopped.cancelled_owned()).await });
    let js = jetstream::new(nats.client().await.expect("Failed to connect to NATS."));
    TestApp {
        address,
        context: app.context.clone(),
        read_models: app.read_models.clone(),
        nats,
        namespace,
        js,
        app,
        tokens,
        stop,
        db,
    }
}

impl TestApp {
    /// A valid bearer token (with the `Bearer ` prefix) for subject `test:<role>`.
    pub fn token(&self, role: Role, provider: Option<&str>) -> String {
        self.tokens.token(role, provider)
    }

    /// A valid bearer token (with the `Bearer ` prefix) for `subject`.
    pub fn token_for(&self, subject: &str, role: Role, provider: Option<&str>) -> String {
        self.tokens.token_for(subject, role, provider)
    }

    /// The service's clock; move it to put the service at another moment.
    pub fn clock(&self) -> &Clock {
        &self.context.clock
    }

    /// The service's pool (search path: the learning_reviews schema).
    pub fn db_pool(&self) -> &Pool {
        self.context.store.pool()
    }

    /// The test database's connection string.
    pub fn database_url(&self) -> &str {
        self.db.url()
    }

    /// Publishes another context's event to its stream as that context's relay would (subject
    /// `<service>.<event>.<stream id>`, `Nats-Msg-Id`, `ce-type`); returns its event id.
    /// `service` is `complaints` or `escalation`.
    ///
    /// # Panics
    /// When NATS does not acknowledge it.
    pub async fn publish_event<M: prost::Message + prost::Name>(
        &self,
        service: &str,
        stream_id: Uuid,
        event: &M,
    ) -> Uuid {
        let event_id = Uuid::now_v7();
        self.publish_raw(
            service,
            event_id,
            stream_id,
            &M::full_name(),
            event.encode_to_vec(),
        )
        .await;
        event_id
    }

    /// Publishes any payload as an event of type `event_type` with `event_id` (to test
    /// redelivery, and what the links do with what they cannot read).
    ///
    /// # Panics
    /// When NATS does not acknowledge it.
    pub async fn publish_raw(
        &self,
        service: &str,
        event_id: Uuid,
        stream_id: Uuid,
        event_type: &str,
        payload: Vec<u8>,
    ) {
        let subject = self
            .namespace
            .event_subject(service, event_type, &stream_id);
        let mut map = async_nats::HeaderMap::new();
        map.insert(headers::CE_TYPE, event_type);
        map.insert(headers::CE_ID, event_id.to_string().as_str());
        map.insert(
            async_nats::header::NATS_MESSAGE_ID,
            event_id.to_string().as_str(),
        );
        self.js
            .publish_with_headers(subject, map, payload.into())
            .await
            .expect("Failed to publish.")
            .await
            .expect("NATS did not acknowledge.");
    }

    /// Lets both links handle what is pending, once; returns how many messages they took
    /// (handled, duplicates, retries and parked alike).
    ///
    /// # Panics
    /// When a link fails: the test has found a bug.
    pub async fn consume_once(&self) -> usize {
        self.app
            .consume_complaints_once()
            .await
            .expect("complaints link failed")
            + self
                .app
                .consume_escalation_once()
                .await
                .expect("escalation link failed")
    }

    /// Lets both links copy what is pending, then the read models apply everything committed.
    ///
    /// # Panics
    /// When a background step fails: the test has found a bug.
    pub async fn settle(&self) {
        self.consume_once().await;
        self.read_models
            .run_once()
            .await
            .expect("read models failed");
    }

    /// Publishes every committed event to `LEARNING_REVIEWS`; returns how many.
    ///
    /// # Panics
    /// When publishing fails.
    pub async fn relay_once(&self) -> usize {
        self.app.relay_once().await.expect("relay failed")
    }

    /// A gRPC channel to the service.
    ///
    /// # Panics
    /// When the service does not answer.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.address.clone())
            .expect("a valid address")
            .connect()
            .await
            .expect("Failed to connect to the service.")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
