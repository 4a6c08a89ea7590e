//! `redress serve`: the gRPC endpoint and each selected service's relay.

use anyhow::Context;
use async_nats::jetstream;
use platform::grpc::{AccessPolicy, Authenticator, GrpcServer, ServerConfig};
use platform::nats::{Namespace, StreamSpec};
use platform::relay::{Relay, RelayConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::services::{self, Service};

/// Runs until `shutdown` resolves, then turns health to NOT_SERVING, drains in-flight calls
/// and stops the relays.
///
/// # Errors
/// When a dependency is missing at start (schema not migrated, NATS unreachable, a key file
/// unreadable) or the gRPC server fails.
pub async fn run(
    args: ServeArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let selected = services::selected(&args.services);
    let namespace = Namespace::prefixed(&args.nats_prefix)?;
    let nats = platform::nats::connect(&args.nats_url, "redress").await?;
    let js = jetstream::new(nats.clone());
    let stop = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    for service in &selected {
        let store = open_store(&args.database.database_url, *service).await?;
        platform::nats::ensure_stream(&js, &StreamSpec::for_service(&namespace, service.name()))
            .await?;
        let relay = Relay::new(
            &store,
            js.clone(),
            RelayConfig::new(service.name(), namespace.clone()),
        );
        workers.spawn(relay.run(stop.clone()));
    }

    let config = ServerConfig::default();
    let server = GrpcServer::new(config, authenticator(&args)?, AccessPolicy::new());
    tracing::info!(addr = %listener.local_addr()?, services = ?selected.iter().map(|s| s.name()).collect::<Vec<_>>(), "serving");
    let served = server.serve(listener, shutdown).await;
    stop.cancel();
    while let Some(finished) = workers.join_next().await {
        if let Err(e) = finished.context("a worker panicked")? {
            tracing::error!(error = format!("{e:#}"), "a worker failed");
        }
    }
    nats.drain().await.ok();
    served.context("the gRPC server failed")
}

async fn open_store(
    database_url: &str,
    service: Service,
) -> anyhow::Result<platform::event_store::EventStore> {
    let pool = platform::pg::connect(database_url, service.schema(), 10)
        .await
        .with_context(|| format!("Failed to connect to PostgreSQL for {}", service.name()))?;
    let migrated: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'events')",
    )
    .bind(service.schema())
    .fetch_one(&pool)
    .await?;
    anyhow::ensure!(
        migrated,
        "the {} schema is not migrated: run `redress migrate` first",
        service.schema()
    );
    Ok(platform::event_store::EventStore::new(pool))
}

fn authenticator(args: &ServeArgs) -> anyhow::Result<Authenticator> {
    let mut keys = Vec::new();
    for path in &args.jwt_public_keys {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        let kid = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("default")
            .to_owned();
        keys.push((kid, pem));
    }
    if keys.is_empty() {
        // A key nobody holds: health and reflection work, every authenticated call is refused.
        tracing::warn!("no JWT public key configured: every authenticated call will be refused");
        let (_, public) = platform::grpc::generate_dev_keypair()?;
        keys.push(("unconfigured".to_owned(), public));
    }
    Ok(Authenticator::new(
        &args.jwt_issuer,
        &args.jwt_audience,
        keys,
    )?)
}
