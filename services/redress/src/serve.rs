//! `redress serve`: the gRPC endpoint, and each selected service with its relays, read models,
//! timers and policies.

use anyhow::Context as _;
use platform::clock::Clock;
use platform::grpc::{AccessPolicy, Authenticator, GrpcServer, ServerConfig};
use platform::nats::Namespace;
use platform::vault::Vault;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::services::{self, Service};

/// Runs until `shutdown` resolves, then turns health to NOT_SERVING, drains in-flight calls
/// and stops the background work.
///
/// # Errors
/// When a dependency is missing at start (schema not migrated, NATS unreachable, a key or
/// policy file invalid) or the gRPC server fails.
pub async fn run(
    args: ServeArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let selected = services::selected(&args.services);
    let namespace = Namespace::prefixed(&args.nats_prefix)?;
    let keys = public_keys(&args)?;
    let mut policy = AccessPolicy::new();
    let (mut complaints_app, mut escalation_app, mut learning_app) = (None, None, None);
    for service in &selected {
        match service {
            Service::Complaints => {
                let config = complaints_config(&args, &namespace, &keys)?;
                complaints_app = Some(complaints::app::App::build(config, Clock::system()).await?);
                policy = complaints::app::App::access_policy(policy);
            }
            Service::Escalation => {
                let config = escalation_config(&args, &namespace, &keys);
                escalation_app = Some(escalation::app::App::build(config, Clock::system()).await?);
                policy = escalation::app::App::access_policy(policy);
            }
            Service::LearningReviews => {
                let config = learning_reviews_config(&args, &namespace, &keys);
                learning_app =
                    Some(learning_reviews::app::App::build(config, Clock::system()).await?);
                policy = learning_reviews::app::App::access_policy(policy);
            }
        }
    }
    let authenticator = Authenticator::new(&args.jwt_issuer, &args.jwt_audience, keys)?;
    let mut server = GrpcServer::new(ServerConfig::default(), authenticator, policy);
    if let Some(app) = &complaints_app {
        server = app.add_services(server);
    }
    if let Some(app) = &escalation_app {
        server = app.add_services(server);
    }
    if let Some(app) = &learning_app {
        server = app.add_services(server);
    }
    tracing::info!(addr = %listener.local_addr()?, services = ?selected.iter().map(|s| s.name()).collect::<Vec<_>>(), "serving");
    server
        .serve_with_background(listener, shutdown, |tasks, stop| {
            if let Some(app) = &complaints_app {
                app.spawn_background(tasks, stop);
            }
            if let Some(app) = &escalation_app {
                app.spawn_background(tasks, stop);
            }
            if let Some(app) = &learning_app {
                app.spawn_background(tasks, stop);
            }
        })
        .await
}

fn complaints_config(
    args: &ServeArgs,
    namespace: &Namespace,
    keys: &[(String, String)],
) -> anyhow::Result<complaints::config::Config> {
    let vault_key = args.vault_key.as_deref().context(
        "the complaints service needs REDRESS_VAULT_KEY (64 hex digits; e.g. `openssl rand -hex 32`) to keep personal data",
    )?;
    let mut config = complaints::config::Config::new(
        args.database.database_url.clone(),
        keys.to_vec(),
        Vault::parse_master_key(vault_key).context("REDRESS_VAULT_KEY must be 64 hex digits")?,
    );
    config.nats_url = Some(args.nats_url.clone());
    config.namespace = namespace.clone();
    config.max_connections = args.db_max_connections;
    config.jwt_issuer.clone_from(&args.jwt_issuer);
    config.jwt_audience.clone_from(&args.jwt_audience);
    config.policy_file.clone_from(&args.policy_file);
    config.calendar_file.clone_from(&args.calendar_file);
    Ok(config)
}

fn escalation_config(
    args: &ServeArgs,
    namespace: &Namespace,
    keys: &[(String, String)],
) -> escalation::config::Config {
    let mut config =
        escalation::config::Config::new(args.database.database_url.clone(), keys.to_vec());
    config.nats_url = Some(args.nats_url.clone());
    config.namespace = namespace.clone();
    config.max_connections = args.db_max_connections;
    config.jwt_issuer.clone_from(&args.jwt_issuer);
    config.jwt_audience.clone_from(&args.jwt_audience);
    config
}

fn learning_reviews_config(
    args: &ServeArgs,
    namespace: &Namespace,
    keys: &[(String, String)],
) -> learning_reviews::config::Config {
    let mut config =
        learning_reviews::config::Config::new(args.database.database_url.clone(), keys.to_vec());
    config.nats_url = Some(args.nats_url.clone());
    config.namespace = namespace.clone();
    config.max_connections = args.db_max_connections;
    config.jwt_issuer.clone_from(&args.jwt_issuer);
    config.jwt_audience.clone_from(&args.jwt_audience);
    config
}

/// The configured token keys; without one, a key nobody holds, so every authenticated call is
/// refused while health and reflection still answer.
fn public_keys(args: &ServeArgs) -> anyhow::Result<Vec<(String, String)>> {
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
        tracing::warn!("no JWT public key configured: every authenticated call will be refused");
        let (_, public) = platform::grpc::generate_dev_keypair()?;
        keys.push(("unconfigured".to_owned(), public));
    }
    Ok(keys)
}
