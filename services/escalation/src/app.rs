//! Wiring: the shared [`Context`] every handler, projection and policy uses, and the service's
//! run loop (gRPC, relays, read models, the feed translator, the complaints policy) until
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
use platform::relay::{Relay, RelayConfig, Route};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::domain::policy::PolicySet;
use crate::feed::{self, Feed};
use crate::grpc;
use crate::policy::ComplaintsPolicy;
use crate::read_models::ReadModels;

/// The service's name in subjects, streams and `ce-source`.
pub const SERVICE: &str = "escalation";

/// What every handler, projection and policy of the service shares.
#[derive(Debug)]
pub struct Context {
    /// The event store in the service's schema.
    pub store: EventStore,
    /// Every escalation policy version; a request follows the one in force on its date.
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

/// What runs on NATS: the relay of the service's own events, the relay of the feed, and the
/// policy copying complaint facts.
#[derive(Debug)]
struct Messaging {
    relay: Relay,
    feed_relay: Relay,
    complaints_policy: Arc<Consumer<ComplaintsPolicy>>,
}

/// The running service: its context, read models and feed.
#[derive(Debug)]
pub struct App {
    pub context: Arc<Context>,
    pub read_models: Arc<ReadModels>,
    pub feed: Arc<Feed>,
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
            .context("Failed to start the escalation read models")?;
        let feed = Feed::start(&context)
            .await
            .context("Failed to start the feed translator")?;
        Ok(App {
            context,
            read_models,
            feed,
            authenticator,
            grpc: config.grpc,
            messaging,
        })
    }

    /// Adds every escalation RPC's role rules to `policy`.
    pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
        grpc::access_policy(policy)
    }

    /// Adds the escalation gRPC service to `server`.
    pub fn add_services(&self, server: GrpcServer) -> GrpcServer {
        server.add_service(grpc::service(
            self.context.clone(),
            self.read_models.clone(),
            &self.grpc,
        ))
    }

    /// A gRPC server carrying only the escalation service (with health and reflection).
    pub fn server(&self) -> GrpcServer {
        let server = GrpcServer::new(
            self.grpc.clone(),
            self.authenticator.clone(),
            Self::access_policy(AccessPolicy::new()),
        );
        self.add_services(server)
    }

    /// Starts the relays, the policy, every projection and the feed translator; they stop
    /// when `stop` is cancelled.
    pub fn spawn_background(
        &self,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        stop: &CancellationToken,
    ) {
        self.read_models.spawn(tasks, stop);
        self.feed.spawn(tasks, stop);
        if let Some(messaging) = &self.messaging {
            tasks.spawn(messaging.relay.clone().run(stop.clone()));
            tasks.spawn(messaging.feed_relay.clone().run(stop.clone()));
            let (policy, token) = (Arc::clone(&messaging.complaints_policy), stop.clone());
            tasks.spawn(async move { policy.run(token).await });
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

    /// Publishes every committed event once: the service's own to `ESCALATION`, then the feed
    /// to `FEED` (tests and operator tools). Returns how many messages were published.
    ///
    /// # Errors
    /// When no NATS is configured, or publishing fails.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let messaging = self.messaging()?;
        Ok(messaging.relay.run_once().await? + messaging.feed_relay.run_once().await?)
    }

    /// Handles every complaints event pending for the policy, once (tests and operator tools).
    ///
    /// # Errors
    /// When no NATS is configured, or the consumer fails.
    pub async fn consume_complaints_once(&self) -> anyhow::Result<usize> {
        Ok(self.messaging()?.complaints_policy.run_once().await?.len())
    }

    fn messaging(&self) -> anyhow::Result<&Messaging> {
        self.messaging
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no NATS configured"))
    }
}

/// Creates the streams and consumers the service uses and the relays that fill them.
async fn messaging(
    context: &Arc<Context>,
    url: &str,
    namespace: &Namespace,
) -> anyhow::Result<Messaging> {
    let client = platform::nats::connect(url, "redress-escalation").await?;
    let js = jetstream::new(client);
    for service in [SERVICE, feed::STREAM, crate::policy::COMPLAINTS] {
        platform::nats::ensure_stream(&js, &StreamSpec::for_service(namespace, service)).await?;
    }
    platform::consumer::ensure_consumer(&js, &feed::independent_body_consumer(namespace)).await?;
    let relay = Relay::new(&context.store, js.clone(), {
        let mut config = RelayConfig::new(SERVICE, namespace.clone());
        // The feed has a stream of its own; the service's stream never carries it.
        config.route = Route::service_stream(SERVICE, namespace.clone(), &[feed::STREAM_TYPE]);
        config
    });
    let feed_relay = Relay::new(&context.store, js.clone(), feed::relay_config(namespace));
    let complaints_policy = Consumer::create(
        context.store.pool().clone(),
        &js,
        crate::policy::consumer_spec(namespace),
        ComplaintsPolicy,
    )
    .await?
    .announcing_to(&context.store);
    Ok(Messaging {
        relay,
        feed_relay,
        complaints_policy: Arc::new(complaints_policy),
    })
}
