//! Test support: the whole complaints service in-process, on a port of its own, against a fresh
//! database and a private NATS server, with a settable clock and tokens for any role.
//!
//! Background work does not run on its own here: tests drive it with [`TestApp::settle`] (every
//! projection applies what is committed, then every due timer fires), [`TestApp::relay_once`],
//! [`TestApp::escalation_policy_once`] and [`TestApp::learning_reviews_policy_once`], so nothing
//! depends on sleeping.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use platform::clock::Clock;
use platform::grpc::Role;
use platform::nats::Namespace;
use platform::pg::Pool;
use platform::testing::{NatsServer, TestDb, TestTokens, unique_prefix};
use platform::vault::Vault;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Context};
use crate::config::Config;
use crate::{formal_complaints, inspections};

/// A running service and handles on everything a test needs.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub context: Arc<Context>,
    pub inspections: Arc<inspections::ReadModels>,
    pub complaints: Arc<formal_complaints::ReadModels>,
    pub nats: NatsServer,
    pub namespace: Namespace,
    app: App,
    tokens: TestTokens,
    stop: CancellationToken,
    _db: TestDb,
}

/// Starts the service. The clock is fixed at 2025-01-06T09:00:00Z until a test moves it.
///
/// # Panics
/// When PostgreSQL or a NATS server binary is not available: the test cannot run.
pub async fn spawn_app() -> TestApp {
    platform::telemetry::init_for_tests();
    let db = TestDb::create()
        .await
        .expect("Failed to create a test database.");
    let pool = db
        .pool("complaints")
        .await
        .expect("Failed to connect to the test database.");
    platform::migrate::apply(&pool, "complaints", &[platform::migrate::EVENT_STORE])
        .await
        .expect("Failed to migrate the test database.");
    pool.close().await;
    let nats = NatsServer::start().await.expect("Failed to start NATS.");
    let namespace = Namespace::prefixed(&unique_prefix()).expect("a valid prefix");
    let tokens = TestTokens::new();
    let mut config = Config::new(
        db.url().to_owned(),
        vec![tokens.public_key()],
        Vault::generate_master_key(),
    );
    config.jwt_issuer = TestTokens::ISSUER.to_owned();
    config.jwt_audience = TestTokens::AUDIENCE.to_owned();
    config.nats_url = Some(nats.url().to_owned());
    config.namespace = namespace.clone();
    config.max_read_wait = Duration::from_secs(2);
    let start: Timestamp = "2025-01-06T09:00:00Z".parse().expect("a valid timestamp");
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
    TestApp {
        address,
        context: app.context.clone(),
        inspections: app.inspections.clone(),
        complaints: app.complaints.clone(),
        nats,
        namespace,
        app,
        tokens,
        stop,
        _db: db,
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

    /// The service's pool (search path: the complaints schema).
    pub fn db_pool(&self) -> &Pool {
        self.context.store.pool()
    }

    /// Applies every committed event to every read model and fires every due timer, twice, so
    /// what a timer writes is applied too.
    ///
    /// # Panics
    /// When a projection or timer fails: the test has found a bug.
    pub async fn settle(&self) {
        for _ in 0..2 {
            self.inspections
                .run_once()
                .await
                .expect("inspection read models failed");
            self.complaints
                .run_once()
                .await
                .expect("complaint read models failed");
        }
    }

    /// Publishes every committed event to NATS; returns how many.
    ///
    /// # Panics
    /// When publishing fails.
    pub async fn relay_once(&self) -> usize {
        self.app.relay_once().await.expect("relay failed")
    }

    /// Handles every escalation event pending on the escalation stream once; returns what
    /// happened to each.
    ///
    /// # Panics
    /// When NATS or PostgreSQL fail.
    pub async fn escalation_policy_once(&self) -> Vec<platform::consumer::Outcome> {
        self.app
            .escalation_policy_once()
            .await
            .expect("escalation policy failed")
    }

    /// Handles every learning-reviews event pending on the learning-reviews stream once; returns
    /// what happened to each.
    ///
    /// # Panics
    /// When NATS or PostgreSQL fail.
    pub async fn learning_reviews_policy_once(&self) -> Vec<platform::consumer::Outcome> {
        self.app
            .learning_reviews_policy_once()
            .await
            .expect("learning-reviews policy failed")
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
