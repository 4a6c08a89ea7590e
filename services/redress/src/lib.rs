//! The `redress` binary: runs the Redress services and the operator commands.
//!
//! # Layout
//! * `cli`: every command and setting; each setting is also an environment variable, shown in
//!   `redress --help`. Start here.
//! * `services`: the three bounded contexts, their PostgreSQL schemas and JetStream streams.
//! * `migrate`: creates the database if needed and applies every service schema's migrations.
//! * `serve`: runs the gRPC endpoint (health, reflection) with each selected service (its API,
//!   read models, timers and relay), until SIGTERM or Ctrl-C.
//! * `feed_tail`: `redress feed tail`, the reference consumer of the independent body's feed;
//!   [`feed_tail::run`] writes to any `io::Write`, for tests and embedding.
//! * `healthcheck`: `redress healthcheck`, one grpc.health.v1 call, for container health checks.
//! * `up`: `redress up`, the whole backend in one process for a laptop, on private servers from
//!   `local` when nothing suitable answers; `--demo` loads `demo` through the APIs.
//! * `status`: `redress status`, health, lags, parked events, the feed position and the horizon.
//! * `token`: `redress token issue`, development bearer tokens.
//! * `streams`: `redress streams`, the operator's creation or update of every JetStream stream
//!   and durable consumer Redress owns, with a report of what changed.
//! * `projections`: `redress projections list|rebuild`, every service's read models, their
//!   checkpoints, and rebuilding one while the services run, with a progress bar.
//! * `events`: `redress events show`, one stream's events as JSON lines.
//! * `subjects`: `redress subjects find|show|forget`, the data subjects a case refers to, what
//!   the vaults hold about one (never its content), and erasure by destroying a subject's key,
//!   recorded in the log.
//! * `payload`: protobuf payloads as JSON through the descriptor set, for `feed tail`, `events
//!   show` and `subjects find`.

pub mod cli;
pub mod demo;
pub mod events;
pub mod feed_tail;
pub mod healthcheck;
pub mod local;
pub mod migrate;
pub mod payload;
pub mod projections;
pub mod serve;
pub mod services;
pub mod status;
pub mod streams;
pub mod subjects;
pub mod token;
pub mod up;

use anyhow::Context;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

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
        cli::Command::Feed(cli::FeedArgs {
            command: cli::FeedCommand::Tail(args),
        }) => {
            init_stderr_logs(args.log_format)?;
            let config = args.config()?;
            let mut stdout = std::io::stdout().lock();
            let mut stderr = std::io::stderr();
            feed_tail::run(
                &config,
                &mut stdout,
                &mut stderr,
                platform::grpc::shutdown_signal(),
            )
            .await?;
            Ok(())
        }
        cli::Command::Healthcheck(args) => {
            healthcheck::run(&args).await;
            Ok(())
        }
        cli::Command::Up(args) => {
            let _telemetry = platform::telemetry::init("redress", &args.telemetry.config())
                .context("Failed to start telemetry")?;
            up::run(args, platform::grpc::shutdown_signal()).await
        }
        cli::Command::Status(args) => {
            init_stderr_logs(platform::telemetry::LogFormat::Json)?;
            status::run(&args, &mut std::io::stdout().lock()).await
        }
        cli::Command::Token(cli::TokenArgs {
            command: cli::TokenCommand::Issue(args),
        }) => token::issue(&args, &mut std::io::stdout().lock()),
        cli::Command::Streams(args) => {
            init_stderr_logs(args.log_format)?;
            let mut stdout = std::io::stdout().lock();
            streams::run(&args.nats_url, &args.nats_prefix, &mut stdout).await?;
            Ok(())
        }
        cli::Command::Projections(cli::ProjectionsArgs {
            command: cli::ProjectionsCommand::List(args),
        }) => {
            init_stderr_logs(args.log_format)?;
            projections::run_list(&args, &mut std::io::stdout().lock()).await
        }
        cli::Command::Projections(cli::ProjectionsArgs {
            command: cli::ProjectionsCommand::Rebuild(args),
        }) => {
            let progress = projections::Progress::for_stderr();
            init_stderr_logs_to(args.log_format, projections::AroundBar(progress.bar()))?;
            let mut stdout = std::io::stdout();
            let mut stderr = std::io::stderr();
            projections::run_rebuild(&args, progress, &mut stdout, &mut stderr).await
        }
        cli::Command::Events(cli::EventsArgs {
            command: cli::EventsCommand::Show(args),
        }) => {
            init_stderr_logs(args.log_format)?;
            events::show(&args, &mut std::io::stdout().lock()).await?;
            Ok(())
        }
        cli::Command::Subjects(cli::SubjectsArgs {
            command: cli::SubjectsCommand::Find(args),
        }) => {
            init_stderr_logs(args.output.log_format)?;
            subjects::find(&args, &mut std::io::stdout().lock()).await
        }
        cli::Command::Subjects(cli::SubjectsArgs {
            command: cli::SubjectsCommand::Show(args),
        }) => {
            init_stderr_logs(args.output.log_format)?;
            subjects::show(&args, &mut std::io::stdout().lock()).await
        }
        cli::Command::Subjects(cli::SubjectsArgs {
            command: cli::SubjectsCommand::Forget(args),
        }) => {
            init_stderr_logs(args.log_format)?;
            subjects::forget(&args, &mut std::io::stdout().lock()).await
        }
    }
}

/// Logs on stderr, for commands whose stdout is their output; filtered by `RUST_LOG` (default
/// `info`).
fn init_stderr_logs(format: platform::telemetry::LogFormat) -> anyhow::Result<()> {
    init_stderr_logs_to(format, std::io::stderr)
}

/// [`init_stderr_logs`] through `writer`.
fn init_stderr_logs_to<W>(format: platform::telemetry::LogFormat, writer: W) -> anyhow::Result<()>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .context("Failed to parse RUST_LOG")?;
    if std::env::var_os("RUST_LOG").is_none() {
        // PostgreSQL's notices ("table … does not exist, skipping" from a first rebuild) tell
        // an operator nothing.
        filter = filter.add_directive(
            "sqlx::postgres::notice=warn"
                .parse()
                .context("Failed to parse a log directive")?,
        );
    }
    tracing_subscriber::registry()
        .with(platform::telemetry::log_layer(format, writer).with_filter(filter))
        .try_init()
        .context("Failed to install the log subscriber")
}
