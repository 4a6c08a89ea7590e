//! The `redress` binary: runs the Redress services and the operator commands.
//!
//! # Layout
//! * `cli`: every command and setting; each setting is also an environment variable, shown in
//!   `redress --help`. Start here.
//! * `services`: the three bounded contexts, their PostgreSQL schemas and JetStream streams.
//! * `migrate`: creates the database if needed and applies every service schema's migrations.
//! * `serve`: runs the gRPC endpoint (health, reflection) with each selected service (its API,
//!   read models, timers and relay), until SIGTERM or Ctrl-C.

pub mod cli;
pub mod migrate;
pub mod serve;
pub mod services;

use anyhow::Context;

/// Runs one command line.
///
/// # Errors
/// Whatever the command failed with; `main` prints it and exits non-zero.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Migrate(args) => {
            let _telemetry = platform::telemetry::init("redress-migrate", &args.telemetry.config())
                .context("Failed to start telemetry")?;
            migrate::run(&args).await
        }
        cli::Command::Serve(args) => {
            let _telemetry = platform::telemetry::init("redress", &args.telemetry.config())
                .context("Failed to start telemetry")?;
            let listener = tokio::net::TcpListener::bind(args.grpc_addr)
                .await
                .with_context(|| format!("Failed to bind the gRPC address {}", args.grpc_addr))?;
            serve::run(*args, listener, platform::grpc::shutdown_signal()).await
        }
    }
}
