//! Commands and settings. Every setting is also an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::services::Service;

/// Redress: complaints about inspections, direct escalation to an independent body, and
/// learning reviews, on PostgreSQL and NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "redress", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates the database if needed and applies every pending migration to each service schema.
    Migrate(MigrateArgs),
    /// Runs services: the gRPC endpoint and each service's relay to JetStream.
    Serve(Box<ServeArgs>),
}

/// Where PostgreSQL is.
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection string. The database is created by `redress migrate` if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/redress",
        hide_env_values = true
    )]
    pub database_url: String,
}

/// Logs, traces and metrics.
#[derive(Clone, Debug, Args)]
pub struct TelemetryArgs {
    /// Log format: json (one object per line) or pretty.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
    /// OTLP/gRPC endpoint to export traces to, e.g. http://otel-collector:4317. Off when unset.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Address to serve Prometheus metrics on (/metrics). Off when unset.
    #[arg(long, env = "REDRESS_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

impl TelemetryArgs {
    pub fn config(&self) -> platform::telemetry::TelemetryConfig {
        platform::telemetry::TelemetryConfig {
            log_format: self.log_format,
            otlp_endpoint: self.otlp_endpoint.clone(),
            metrics_addr: self.metrics_addr,
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Services to migrate; all when none is given.
    #[arg(value_enum)]
    pub services: Vec<Service>,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Services to run; all when none is given.
    #[arg(value_enum)]
    pub services: Vec<Service>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// NATS server with JetStream (2.12 or later).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Prefix for every JetStream stream and subject; empty in production. Lower-case letters and digits.
    #[arg(long, env = "REDRESS_NATS_PREFIX", default_value = "")]
    pub nats_prefix: String,
    /// Address the gRPC endpoint listens on.
    #[arg(long, env = "REDRESS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Expected `iss` of bearer tokens.
    #[arg(
        long,
        env = "REDRESS_JWT_ISSUER",
        default_value = "https://identity.redress.local"
    )]
    pub jwt_issuer: String,
    /// Expected `aud` of bearer tokens.
    #[arg(long, env = "REDRESS_JWT_AUDIENCE", default_value = "redress")]
    pub jwt_audience: String,
    /// Ed25519 public key (PEM) that signs bearer tokens; the file name without extension is the
    /// key id (`kid`). Repeat for key rotation. Without one, every authenticated call is refused.
    #[arg(
        long = "jwt-public-key",
        env = "REDRESS_JWT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    pub jwt_public_keys: Vec<PathBuf>,
    /// The personal-data vault's master key: 64 hex digits (`openssl rand -hex 32`). Required to
    /// run complaints; losing it makes every stored personal record unreadable.
    #[arg(long, env = "REDRESS_VAULT_KEY", hide_env_values = true)]
    pub vault_key: Option<String>,
    /// A JSON file adding complaints policy versions to the built-in ones.
    #[arg(long, env = "REDRESS_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// A JSON file extending the built-in England and Wales bank holidays (GOV.UK format).
    #[arg(long, env = "REDRESS_CALENDAR_FILE")]
    pub calendar_file: Option<PathBuf>,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}
