//! [`GrpcServer`]: the settings of reliability plan §7.3, health, reflection, the auth layer,
//! and a shutdown that reports `NOT_SERVING` before it drains.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

use super::auth::Authenticator;
use super::layer::GuardLayer;
use super::policy::AccessPolicy;

/// Settings every Redress gRPC server applies (reliability plan §7.3). Compression is off and
/// cannot be turned on: a request with `grpc-encoding: gzip` is refused with `UNIMPLEMENTED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest request message accepted, in bytes; larger ones fail with `OUT_OF_RANGE`.
    /// Applied per generated server by [`limited!`](crate::grpc::limited). Default 256 KiB.
    pub max_decoding_message_size: usize,
    /// Largest response message sent, in bytes. Default 1 MiB.
    pub max_encoding_message_size: usize,
    /// Ceiling on each request; a client's shorter `grpc-timeout` wins. When it fires the
    /// client sees `CANCELLED` (tonic's mapping), not `DEADLINE_EXCEEDED`. Default 10 s.
    pub request_timeout: Duration,
    /// Requests served at once on one HTTP/2 connection; more wait. Default 32.
    pub concurrency_limit_per_connection: usize,
    /// Streams a client may have open at once on one HTTP/2 connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`); its client holds further requests until one
    /// finishes. Without a bound, every waiting request's body sits in the server's buffers,
    /// and h2 closes a connection holding too many small DATA frames (GOAWAY
    /// `ENHANCE_YOUR_CALM`), failing every call on it. Default 200.
    pub max_concurrent_streams: u32,
    /// Interval of HTTP/2 PING frames that detect dead connections. Default 30 s.
    pub http2_keepalive_interval: Duration,
    /// TCP keepalive idle time on accepted sockets. Default 60 s.
    pub tcp_keepalive: Duration,
    /// After shutdown starts, how long in-flight requests may run before `serve` returns
    /// anyway. Longer than `request_timeout`, so unary calls always finish. Default 15 s.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_decoding_message_size: 256 * 1024,
            max_encoding_message_size: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            concurrency_limit_per_connection: 32,
            max_concurrent_streams: 200,
            http2_keepalive_interval: Duration::from_secs(30),
            tcp_keepalive: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(15),
        }
    }
}

/// Why [`GrpcServer::serve`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("failed to build the reflection service from the descriptor sets")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    NotServing,
    Draining,
}

#[derive(Debug)]
struct HealthState {
    /// `""` (the whole server) and the name of every added service.
    services: Vec<&'static str>,
    phase: Phase,
}

/// Handle on the `grpc.health.v1` statuses of one [`GrpcServer`]: the overall `""` status and
/// every added service move together.
///
/// Call [`Health::set_not_serving`] when a dependency (PostgreSQL, NATS) is lost and
/// [`Health::set_serving`] when it is back. Once shutdown has begun, statuses stay
/// `NOT_SERVING` whatever is called.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
    state: Arc<Mutex<HealthState>>,
    /// Serialises updates so two concurrent calls cannot leave services in mixed states.
    updating: Arc<tokio::sync::Mutex<()>>,
}

impl Health {
    fn new(reporter: HealthReporter) -> Self {
        let state = HealthState {
            services: vec![""],
            phase: Phase::Serving,
        };
        Self {
            reporter,
            state: Arc::new(Mutex::new(state)),
            updating: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Reports `SERVING` for the server and every service, unless shutdown has begun.
    pub async fn set_serving(&self) {
        self.apply(Phase::Serving).await;
    }

    /// Reports `NOT_SERVING` for the server and every service.
    pub async fn set_not_serving(&self) {
        self.apply(Phase::NotServing).await;
    }

    /// Switches to `NOT_SERVING` for good; called when shutdown begins.
    async fn begin_drain(&self) {
        self.apply(Phase::Draining).await;
    }

    /// Publishes the current phase again, after services were added.
    async fn publish(&self) {
        let phase = self.lock().phase;
        self.apply(phase).await;
    }

    fn add(&self, service: &'static str) {
        let mut state = self.lock();
        if !state.services.contains(&service) {
            state.services.push(service);
        }
    }

    async fn apply(&self, requested: Phase) {
        let _updating = self.updating.lock().await;
        let (services, phase) = {
            let mut state = self.lock();
            if state.phase != Phase::Draining {
                state.phase = requested;
            }
            (state.services.clone(), state.phase)
        };
        let status = match phase {
            Phase::Serving => ServingStatus::Serving,
            Phase::NotServing | Phase::Draining => ServingStatus::NotServing,
        };
        for service in services {
            self.reporter.set_service_status(service, status).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        // The state is a list and a flag, consistent after every statement, so a panic in
        // another holder cannot leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds and runs a gRPC server with the Redress defaults. See the [module](super) docs.
#[derive(Debug)]
pub struct GrpcServer {
    config: ServerConfig,
    layer: GuardLayer,
    routes: RoutesBuilder,
    health: Health,
    health_service: tonic_health::pb::health_server::HealthServer<HealthService>,
}

type HealthService = tonic_health::server::HealthService;

impl GrpcServer {
    /// A server that authenticates with `authenticator` and authorizes with `policy`, to
    /// which the health and both reflection services are added as public methods.
    #[must_use]
    pub fn new(config: ServerConfig, authenticator: Authenticator, policy: AccessPolicy) -> Self {
        let reporter = HealthReporter::new();
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            HealthService::from_health_reporter(reporter.clone()),
        );
        Self {
            layer: GuardLayer::new(authenticator, policy.with_platform_services()),
            routes: RoutesBuilder::default(),
            health: Health::new(reporter),
            health_service,
            config,
        }
    }

    /// Adds a generated tonic server, already limited with [`limited!`](crate::grpc::limited),
    /// and reports it in health under its service name.
    #[must_use]
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.health.add(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// The health handle, for reporting lost dependencies. Valid before and while serving.
    #[must_use]
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Serves on `listener` until `shutdown` resolves, then reports `NOT_SERVING` for every
    /// service, stops accepting connections and waits for in-flight requests, at most
    /// [`ServerConfig::drain_timeout`]; connections still open then are abandoned.
    ///
    /// # Errors
    /// [`Error::Reflection`] if a descriptor set does not decode; [`Error::Transport`] if the
    /// server fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let Self {
            config,
            layer,
            mut routes,
            health,
            health_service,
        } = self;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        };
        routes
            .add_service(crate::grpc::limited!(reflection().build_v1()?, &config))
            .add_service(crate::grpc::limited!(
                reflection().build_v1alpha()?,
                &config
            ))
            .add_service(crate::grpc::limited!(health_service, &config));
        health.publish().await;

        // Socket options go on the incoming stream: `Server::tcp_keepalive` only applies to
        // listeners tonic binds itself.
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(config.tcp_keepalive));
        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel();
        let drain_health = health.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: reporting NOT_SERVING, then draining");
            drain_health.begin_drain().await;
            // The receiver lives until `serve` returns, and `serve` is still running here.
            let _ = draining_tx.send(());
        };
        let server = tonic::transport::Server::builder()
            .timeout(config.request_timeout)
            .concurrency_limit_per_connection(config.concurrency_limit_per_connection)
            .max_concurrent_streams(config.max_concurrent_streams)
            .http2_keepalive_interval(Some(config.http2_keepalive_interval))
            .layer(layer)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming, signal);
        let deadline = async {
            if draining_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(config.drain_timeout).await;
        };
        tokio::select! {
            result = server => result?,
            () = deadline => tracing::warn!(
                drain_timeout = ?config.drain_timeout,
                "requests still running after the drain timeout; abandoning them"
            ),
        }
        tracing::info!("gRPC server stopped");
        Ok(())
    }

    /// Runs the background work `spawn` starts (relays, projections, timers, policies) while
    /// serving until `shutdown`; then turns health NOT_SERVING, drains in-flight calls, stops
    /// the background work and waits for it. A background task that fails is logged; one that
    /// panics fails the call.
    ///
    /// # Errors
    /// When the server fails or a background task panics.
    pub async fn serve_with_background(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
        spawn: impl FnOnce(
            &mut tokio::task::JoinSet<anyhow::Result<()>>,
            &tokio_util::sync::CancellationToken,
        ),
    ) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let stop = tokio_util::sync::CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        spawn(&mut tasks, &stop);
        let served = self.serve(listener, shutdown).await;
        stop.cancel();
        while let Some(finished) = tasks.join_next().await {
            if let Err(error) = finished.context("a background task panicked")? {
                tracing::error!(error = format!("{error:#}"), "a background task failed");
            }
        }
        served.context("the gRPC server failed")
    }
}
