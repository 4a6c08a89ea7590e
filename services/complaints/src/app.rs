//! Wiring: the shared [`Context`] every handler, projection, timer and policy uses, and the
//! service's run loop (gRPC, relay, read models, timers, the escalation and learning-reviews
//! policies) until shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::calendar::Calendar;
use platform::clock::Clock;
use platform::event_store::EventStore;
use platform::grpc::{AccessPolicy, Authenticator, GrpcServer, ServerConfig};
use platform::nats::StreamSpec;
use platform::relay::{Relay, RelayConfig};
use platform::vault::Vault;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::domain::CalendarRef;
use crate::domain::policy::PolicySet;
use crate::{formal_complaints, inspections};

/// What every handler, projection and timer of the service shares.
#[derive(Debug)]
pub struct Context {
    /// The event store in the service's schema.
    pub store: EventStore,
    /// Personal data, kept out of events.
    pub vault: Vault,
    /// Every policy version; an inspection follows the one in force when it happened.
    pub policies: PolicySet,
    /// The working-day calendar deadlines are computed with.
    pub calendar: CalendarRef,
    /// "Now" for every handler and timer; settable in tests.
    pub clock: Clock,
    /// The service's PostgreSQL schema.
    pub schema: String,
    /// The longest a query waits for its `ReadConsistency` position.
    pub max_read_wait: Duration,
}

impl Context {
    /// Connects to PostgreSQL, checks the schema is migrated, and loads policy and calendar
    /// (with the operator's files, when configured).
    ///
    /// # Errors
    /// When PostgreSQL is unreachable, the schema is not migrated, or a policy or calendar file
    /// is invalid.
    pub async fn connect(config: &Config, clock: Clock) -> anyhow::Result<Context> {
        let pool =
            platform::pg::connect(&config.database_url, &config.schema, config.max_connections)
                .await
                .context("Failed to connect to PostgreSQL")?;
        platform::migrate::ensure_applied(&pool, &config.schema, &[platform::migrate::EVENT_STORE])
            .await?;
        let policies = match &config.policy_file {
            Some(path) => PolicySet::embedded()
                .with_operator_file(path)
                .with_context(|| format!("Failed to load the policy file {}", path.display()))?,
            None => PolicySet::embedded().clone(),
        };
        let calendar: CalendarRef = match &config.calendar_file {
            // Built once per process and kept for its life: commands hold `&'static Calendar`.
            Some(path) => Box::leak(Box::new(
                Calendar::england_and_wales()
                    .with_extension_file(path)
                    .with_context(|| {
                        format!("Failed to load the calendar file {}", path.display())
                    })?,
            )),
            None => Calendar::england_and_wales(),
        };
        Ok(Context {
            vault: Vault::new(pool.clone(), &config.vault_master_key),
            store: EventStore::new(pool),
            policies,
            calendar,
            clock,
            schema: config.schema.clone(),
            max_read_wait: config.max_read_wait,
        })
    }
}

/// The running service: its context and the read models of each vertical.
#[derive(Debug)]
pub struct App {
    pub context: Arc<Context>,
    pub inspections: Arc<inspections::ReadModels>,
    pub complaints: Arc<formal_complaints::ReadModels>,
    authenticator: Authenticator,
    grpc: ServerConfig,
    relay: Option<Relay>,
    escalation_policy: Option<formal_complaints::EscalationPolicyConsumer>,
    learning_reviews_policy: Option<formal_complaints::LearningReviewsPolicyConsumer>,
}

impl App {
    /// Connects everything and creates the read-model tables; runs nothing yet.
    ///
    /// # Errors
    /// See [`Context::connect`]; NATS unreachable or refusing the streams or the escalation or
    /// learning-reviews policy's consumer; invalid JWT keys; projection set-up failing.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<App> {
        let context = Arc::new(Context::connect(&config, clock).await?);
        let (relay, escalation_policy, learning_reviews_policy) = match &config.nats_url {
            Some(url) => {
                let client = platform::nats::connect(url, "redress-complaints").await?;
                let js = async_nats::jetstream::new(client);
                platform::nats::ensure_stream(
                    &js,
                    &StreamSpec::for_service(&config.namespace, SERVICE),
                )
                .await?;
                let policy = formal_complaints::EscalationPolicyConsumer::start(
                    Arc::clone(&context),
                    js.clone(),
                    &config.namespace,
                )
                .await
                .context("Failed to start the escalation policy")?;
                let learning_reviews = formal_complaints::LearningReviewsPolicyConsumer::start(
                    Arc::clone(&context),
                    js.clone(),
                    &config.namespace,
                )
                .await
                .context("Failed to start the learning-reviews policy")?;
                let relay = Relay::new(
                    &context.store,
                    js,
                    RelayConfig::new(SERVICE, config.namespace.clone()),
                );
                (Some(relay), Some(policy), Some(learning_reviews))
            }
            None => (None, None, None),
        };
        let authenticator = Authenticator::new(
            &config.jwt_issuer,
            &config.jwt_audience,
            config.jwt_public_keys.clone(),
        )
        .context("Failed to load the JWT public keys")?;
        let inspections = inspections::ReadModels::start(&context)
            .await
            .context("Failed to start the inspection read models")?;
        let complaints = formal_complaints::ReadModels::start(&context)
            .await
            .context("Failed to start the complaint read models")?;
        Ok(App {
            context,
            inspections,
            complaints,
            authenticator,
            grpc: config.grpc,
            relay,
            escalation_policy,
            learning_reviews_policy,
        })
    }

    /// Adds every complaints RPC's role rules to `policy`.
    pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
        formal_complaints::access_policy(inspections::access_policy(policy))
    }

    /// Adds both complaints gRPC services to `server`.
    pub fn add_services(&self, server: GrpcServer) -> GrpcServer {
        server
            .add_service(inspections::service(
                self.context.clone(),
                self.inspections.clone(),
                &self.grpc,
            ))
            .add_service(formal_complaints::service(
                self.context.clone(),
                self.complaints.clone(),
                &self.grpc,
            ))
    }

    /// A gRPC server carrying only the complaints services (with health and reflection).
    pub fn server(&self) -> GrpcServer {
        let server = GrpcServer::new(
            self.grpc.clone(),
            self.authenticator.clone(),
            Self::access_policy(AccessPolicy::new()),
        );
        self.add_services(server)
    }

    /// Starts the relay, every projection, every timer and both policies; they stop when `stop`
    /// is cancelled.
    pub fn spawn_background(
        &self,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        stop: &CancellationToken,
    ) {
        self.inspections.spawn(tasks, stop);
        self.complaints.spawn(tasks, stop);
        if let Some(relay) = &self.relay {
            tasks.spawn(relay.clone().run(stop.clone()));
        }
        if let Some(policy) = &self.escalation_policy {
            policy.spawn(tasks, stop);
        }
        if let Some(policy) = &self.learning_reviews_policy {
            policy.spawn(tasks, stop);
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

    /// Publishes every committed event to NATS once (tests and operator tools).
    ///
    /// # Errors
    /// When no NATS is configured, or publishing fails.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        match &self.relay {
            Some(relay) => relay.run_once().await,
            None => anyhow::bail!("no NATS configured"),
        }
    }

    /// Applies every escalation event pending for the escalation policy once (tests and
    /// operator tools).
    ///
    /// # Errors
    /// When no NATS is configured, or NATS or PostgreSQL fail.
    pub async fn escalation_policy_once(&self) -> anyhow::Result<Vec<platform::consumer::Outcome>> {
        match &self.escalation_policy {
            Some(policy) => policy.run_once().await,
            None => anyhow::bail!("no NATS configured"),
        }
    }

    /// Applies every learning-reviews event pending for the learning-reviews policy once (tests
    /// and operator tools).
    ///
    /// # Errors
    /// When no NATS is configured, or NATS or PostgreSQL fail.
    pub async fn learning_reviews_policy_once(
        &self,
    ) -> anyhow::Result<Vec<platform::consumer::Outcome>> {
        match &self.learning_reviews_policy {
            Some(policy) => policy.run_once().await,
            None => anyhow::bail!("no NATS configured"),
        }
    }
}

/// The service's name in subjects, streams and `ce-source`.
pub const SERVICE: &str = "complaints";
