//! Wiring: the shared [`Context`] every handler, projection and link uses, and the service's run
//! loop (gRPC, the relay, the read models, the links to complaints and escalation) until
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use platform::clock::Clock;
use platform::consumer::Consumer;
use platform::event_store::EventStore;
use platform::grpc::{AccessPolicy, Authenticator, GrpcServer, ServerConfig};
use platform::nats::{Namespace, StreamSpec};
use platform::relay::{Relay, RelayConfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::domain::policy::PolicySet;
use crate::grpc;
use crate::policy::complaints::{self, ComplaintsLink};
use crate::policy::escalation::{self, EscalationLink};
use crate::read_models::ReadModels;

/// The service's name in subjects, streams (`LEARNING_REVIEWS`) and `ce-source`.
pub const SERVICE: &str = "learning-reviews";

/// What every handler, projection and link of the service shares.
#[derive(Debug)]
pub struct Context {
    /// The event store in the service's schema.
    pub store: EventStore,
    /// Every policy version; an assessment follows the one in force on its date, and the review
    /// the version its incident was assessed under.
    pub policies: PolicySet,
    /// "Now" for every handler; settable in tests.
    pub clock: Clock,
    /// The service's PostgreSQL schema.
    pub schema: String,
    /// The longest a query waits for its `ReadConsistency` position.
    pub max_read_wait: Duration,
}

impl Context {
    /// Connects to PostgreSQL and checks the schema is migrated.
    ///
    /// # Errors
    /// When PostgreSQL is unreachable or the schema is not migrated.
    pub async fn connect(config: &Config, clock: Clock) -> anyhow::Result<Context> {
        let pool =
            platform::pg::connect(&config.database_url, &config.schema, config.max_connections)
                .await
                .context("Failed to connect to PostgreSQL")?;
        platform::migrate::ensure_applied(&pool, &config.schema, &[platform::migrate::EVENT_STORE])
            .await?;
        Ok(Context {
            store: EventStore::new(pool),
            policies: PolicySet::embedded().clone(),
            clock,
            schema: config.schema.clone(),
            max_read_wait: config.max_read_wait,
        })
    }
}

/// What runs on NATS: the relay of the service's events and the two links.
#[derive(Debug)]
struct Messaging {
    relay: Relay,
    complaints: Arc<Consumer<ComplaintsLink>>,
    escalation: Arc<Consumer<EscalationLink>>,
}

/// The running service: its context and read models.
#[derive(Debug)]
pub struct App {
    pub context: Arc<Context>,
    pub read_models: Arc<ReadModels>,
    authenticator: Authenticator,
    grpc: ServerConfig,
    messaging: Option<Messaging>,
}

impl App {
    /// Connects everything, creates the streams, the consumers and the read-model tables; runs
    /// nothing yet.
    ///
    /// # Errors
    /// See [`Context::connect`]; NATS unreachable; invalid JWT keys; projection set-up failing.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<App> {
        let context = Arc::new(Context::connect(&config, clock).await?);
        let messaging = match &config.nats_url {
            Some(url) => Some(messaging(&context, url, &config.namespace).await?),
            None => None,
        };
        let authenticator = Authenticator::new(
            &config.jwt_issuer,
            &config.jwt_audience,
            config.jwt_public_keys.clone(),
        )
        .context("Failed to load the JWT public keys")?;
        let read_models = ReadModels::start(&context)
            .await
            .context("Failed to start the learning-reviews read models")?;
        Ok(App {
            context,
            read_models,
            authenticator,
            grpc: config.grpc,
            messaging,
        })
    }

    /// Adds every LearningReviews RPC's role rules to `policy`.
    pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
        grpc::access_policy(policy)
    }

    /// Adds the LearningReviews gRPC service to `server`.
    pub fn add_services(&self, server: GrpcServer) -> GrpcServer {
        server.add_service(grpc::service(
            self.context.clone(),
            self.read_models.clone(),
            &self.grpc,
        ))
    }

    /// A gRPC server carrying only the learning-reviews service (with health and reflection).
    pub fn server(&self) -> GrpcServer {
        let server = GrpcServer::new(
            self.grpc.clone(),
            self.authenticator.clone(),
            Self::access_policy(AccessPolicy::new()),
        );
        self.add_services(server)
    }

    /// Starts the relay, the links and the projection; they stop when `stop` is cancelled.
    pub fn spawn_background(
        &self,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        stop: &CancellationToken,
    ) {
        self.read_models.spawn(tasks, stop);
        if let Some(messaging) = &self.messaging {
            tasks.spawn(messaging.relay.clone().run(stop.clone()));
            let (link, token) = (Arc::clone(&messaging.complaints), stop.clone());
            tasks.spawn(async move { link.run(token).await });
            let (link, token) = (Arc::clone(&messaging.escalation), stop.clone());
            tasks.spawn(async move { link.run(token).await });
        }
    }

    /// Serves until `shutdown` with all background work running; then turns health
    /// NOT_SERVING, drains in-flight calls and stops the background work.
    ///
    /// # Errors
    /// When the gRPC server fails or a background task panics.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        self.server()
            .serve_with_background(listener, shutdown, |tasks, stop| {
                self.spawn_background(tasks, stop);
            })
            .await
    }

    /// Publishes every committed event once to `LEARNING_REVIEWS` (tests and operator tools).
    /// Returns how many were published.
    ///
    /// # Errors
    /// When no NATS is configured, or publishing fails.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        self.messaging()?.relay.run_once().await
    }

    /// Handles every complaints event pending for the complaints link, once.
    ///
    /// # Errors
    /// When no NATS is configured, or the consumer fails.
    pub async fn consume_complaints_once(&self) -> anyhow::Result<usize> {
        Ok(self.messaging()?.complaints.run_once().await?.len())
    }

    /// Handles every escalation event pending for the escalation link, once.
    ///
    /// # Errors
    /// When no NATS is configured, or the consumer fails.
    pub async fn consume_escalation_once(&self) -> anyhow::Result<usize> {
        Ok(self.messaging()?.escalation.run_once().await?.len())
    }

    fn messaging(&self) -> anyhow::Result<&Messaging> {
        self.messaging
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no NATS configured"))
    }
}

/// Creates the streams the service publishes to and reads, the consumers, and the relay.
async fn messaging(
    context: &Arc<Context>,
    url: &str,
    namespace: &Namespace,
) -> anyhow::Result<Messaging> {
    let client = platform::nats::connect(url, "redress-learning-reviews").await?;
    let js = jetstream::new(client);
    // The streams of the contexts read here are ensured too, so the service starts before them.
    for service in [SERVICE, complaints::COMPLAINTS, escalation::ESCALATION] {
        platform::nats::ensure_stream(&js, &StreamSpec::for_service(namespace, service)).await?;
    }
    let relay = Relay::new(
        &context.store,
        js.clone(),
        RelayConfig::new(SERVICE, namespace.clone()),
    );
    let pool = context.store.pool().clone();
    let complaints = Consumer::create(
        pool.clone(),
        &js,
        complaints::consumer_spec(namespace),
        ComplaintsLink,
    )
    .await?
    .announcing_to(&context.store);
    let escalation = Consumer::create(
        pool,
        &js,
        escalation::consumer_spec(namespace),
        EscalationLink,
    )
    .await?
    .announcing_to(&context.store);
    Ok(Messaging {
        relay,
        complaints: Arc::new(complaints),
        escalation: Arc::new(escalation),
    })
}
