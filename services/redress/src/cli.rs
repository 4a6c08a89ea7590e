//! Commands and settings. Every setting is also an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

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
    /// The independent body's feed.
    Feed(FeedArgs),
    /// Asks the local gRPC endpoint for its health (grpc.health.v1.Health/Check) and exits 0
    /// only when it answers SERVING; non-zero when nothing answers in time, the service is not
    /// serving, or the service name is unknown. For container health checks.
    Healthcheck(HealthcheckArgs),
    /// Creates or updates every JetStream stream (COMPLAINTS, ESCALATION, LEARNING_REVIEWS,
    /// FEED) and the durable consumers Redress owns (the independent body's FEED/ib_feed and
    /// each cross-context policy's), printing what it created, updated or left unchanged. Safe to repeat; run
    /// as the NATS user ops after `redress migrate`.
    Streams(StreamsArgs),
    /// Runs the whole backend in one process for a laptop: migrations, streams, the three
    /// services with their relays, read models, timers and policies. Uses DATABASE_URL and
    /// NATS_URL when something suitable answers there; otherwise starts private PostgreSQL and
    /// NATS (2.12+) servers from the installed binaries in the data directory, and says so.
    Up(UpArgs),
    /// Shows, per service, health, relay and projection lag, parked events and the feed
    /// position, and what holds the reading horizon: a table, or JSON.
    Status(StatusArgs),
    /// Development bearer tokens, signed with the key `redress up` keeps.
    Token(TokenArgs),
    /// The read models: list every projection with its checkpoint and how far it is behind, or
    /// rebuild one into new tables and switch over when caught up, while the services run.
    Projections(ProjectionsArgs),
    /// The event logs: one stream's events as JSON lines, payloads decoded.
    Events(EventsArgs),
    /// Data subjects, the people whose personal data the vault holds: find the subjects a case
    /// refers to, show what the vault holds about one, or forget one (erasure by destroying their
    /// key, recorded in the log).
    Subjects(SubjectsArgs),
}

#[derive(Debug, Args)]
pub struct SubjectsArgs {
    #[command(subcommand)]
    pub command: SubjectsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SubjectsCommand {
    /// Lists the data subjects a stream's events refer to (an inspection, a complaint, a concern,
    /// escalation's record of a complaint, …), with each subject's records (id, kind, date,
    /// never content) and whether they were forgotten. Looks in every service's log and vault.
    Find(SubjectsFindArgs),
    /// Shows what every service's vault holds about a data subject — their records' ids, kinds
    /// and dates, never their content — and, once forgotten, when, why and at whose request.
    Show(SubjectsShowArgs),
    /// Forgets a data subject: destroys their key in the vault, so none of their records can
    /// ever be read again, and records `DataSubjectForgotten` (ground, request, who asked) in the
    /// log of the service that held them, in one transaction. The read models drop their
    /// references; the log keeps every event. A subject forgotten before is left alone (exit 0,
    /// "nothing changed"); an id no vault knows is refused (exit 1). Needs no vault key.
    Forget(SubjectsForgetArgs),
}

#[derive(Clone, Debug, Args)]
pub struct SubjectsFindArgs {
    /// The stream's id (a UUID).
    pub stream_id: uuid::Uuid,
    #[command(flatten)]
    pub output: SubjectsOutputArgs,
}

#[derive(Clone, Debug, Args)]
pub struct SubjectsShowArgs {
    /// The data subject's id (a UUID), as `subjects find` prints it.
    pub subject_id: uuid::Uuid,
    #[command(flatten)]
    pub output: SubjectsOutputArgs,
}

/// Where the vaults are and how to print what they hold.
#[derive(Clone, Debug, Args)]
pub struct SubjectsOutputArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// One JSON document instead of text.
    #[arg(long, env = "REDRESS_SUBJECTS_JSON")]
    pub json: bool,
    /// Log format on stderr: json (one object per line) or pretty. Stdout carries the report.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

#[derive(Clone, Debug, Args)]
pub struct SubjectsForgetArgs {
    /// The data subject's id (a UUID), as `subjects find` prints it.
    pub subject_id: uuid::Uuid,
    /// Why the data is erased (UK GDPR Article 17).
    #[arg(long, value_enum, env = "REDRESS_ERASURE_GROUND")]
    pub ground: ErasureGround,
    /// The erasure request's reference in the data protection officer's case system, e.g.
    /// `dsar:2026-0042`. Recorded in the event and published with it: a reference, never a name.
    #[arg(long, env = "REDRESS_ERASURE_REQUEST_REF")]
    pub request_ref: String,
    /// Who asked for the erasure: the officer's or operator's reference, e.g. `dpo:officer-2`.
    /// Recorded in the event and as its actor.
    #[arg(long, env = "REDRESS_ERASURE_REQUESTED_BY")]
    pub requested_by: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format on stderr: json (one object per line) or pretty. Stdout carries the report.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

/// Why a data subject is forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ErasureGround {
    /// The person asked to be forgotten (the right to erasure).
    SubjectRequest,
    /// The retention period ended.
    RetentionEnded,
    /// The data should never have been kept.
    UnlawfullyHeld,
    /// A court order or another legal obligation.
    LegalObligation,
}

impl From<ErasureGround> for complaints::domain::ErasureGround {
    fn from(ground: ErasureGround) -> Self {
        match ground {
            ErasureGround::SubjectRequest => Self::SubjectRequest,
            ErasureGround::RetentionEnded => Self::RetentionEnded,
            ErasureGround::UnlawfullyHeld => Self::UnlawfullyHeld,
            ErasureGround::LegalObligation => Self::LegalObligation,
        }
    }
}

#[derive(Debug, Args)]
pub struct ProjectionsArgs {
    #[command(subcommand)]
    pub command: ProjectionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Shows every projection of every service: its version, its checkpoint and how many events
    /// of its service's log it has not applied yet. A table, or JSON. Needs a role that may read
    /// every schema (the migrator).
    List(ProjectionsListArgs),
    /// Replays the log of the projection's service into new tables in a scratch schema while the
    /// live ones keep serving, then swaps them in under the projection's checkpoint lock; safe
    /// while the service runs. NAME is a projection's name (`complaints`, `escalations`,
    /// `learning_reviews`, …: see `list`), `<service>/<name>`, or one of its tables
    /// (`pause_register`). Progress goes to stderr (a bar on a terminal, a line a second
    /// otherwise); the count and duration to stdout. Run it as the service's role (it owns the
    /// tables). The escalation feed translator is refused: its output is durable.
    Rebuild(ProjectionsRebuildArgs),
}

#[derive(Clone, Debug, Args)]
pub struct ProjectionsListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// One JSON document instead of a table.
    #[arg(long, env = "REDRESS_PROJECTIONS_JSON")]
    pub json: bool,
    /// Log format on stderr: json (one object per line) or pretty. Stdout carries the report.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

#[derive(Clone, Debug, Args)]
pub struct ProjectionsRebuildArgs {
    /// The projection: `name`, `<service>/<name>`, or the name of one of its tables.
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format on stderr: json (one object per line) or pretty.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Prints a stream's events in version order, one JSON object per line: the service, stream
    /// type and id, version, event type and id, when it was recorded, its place in the log
    /// (`transaction_id`, `position`, as checkpoints store them), its metadata (correlation,
    /// causation, actor, trace context, policy and calendar versions) and the payload decoded
    /// through the schemas in `proto/` (`null`, with `payload_base64`, for a type this build does
    /// not know). Exits non-zero when no service has the stream.
    Show(EventsShowArgs),
}

#[derive(Clone, Debug, Args)]
pub struct EventsShowArgs {
    /// The stream's id (an inspection, complaint, escalation, incident, …).
    pub stream_id: uuid::Uuid,
    /// The service whose log to read; every service's when unset.
    #[arg(long, value_enum, env = "REDRESS_EVENTS_SERVICE")]
    pub service: Option<Service>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format on stderr: json (one object per line) or pretty. Stdout carries the events.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

#[derive(Clone, Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// NATS server with JetStream; one older than 2.12 (or none) makes `up` start its own.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: String,
    /// Where private servers keep their data and where the development keys live.
    #[arg(long, env = "REDRESS_DATA_DIR", default_value = "var/redress")]
    pub data_dir: PathBuf,
    /// Address the gRPC endpoint listens on.
    #[arg(long, env = "REDRESS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// PostgreSQL connections each service's pool may open.
    #[arg(long, env = "REDRESS_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Loads a realistic sample through the APIs and prints how to query it; loading it again
    /// changes nothing.
    #[arg(long, env = "REDRESS_DEMO")]
    pub demo: bool,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

#[derive(Clone, Debug, Args)]
pub struct StatusArgs {
    /// Services to report on; all when none is given.
    #[arg(value_enum)]
    pub services: Vec<Service>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The gRPC endpoint whose health is asked.
    #[arg(long, env = "REDRESS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// One JSON document instead of a table.
    #[arg(long, env = "REDRESS_STATUS_JSON")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Prints a bearer token (without the `Bearer ` prefix) for a role.
    Issue(TokenIssueArgs),
}

#[derive(Clone, Debug, Args)]
pub struct TokenIssueArgs {
    /// The role, e.g. auditor, provider_representative, independent_body, hmci.
    #[arg(long, env = "REDRESS_TOKEN_ROLE")]
    pub role: String,
    /// The provider the caller acts for; required for provider_representative and
    /// responsible_body, refused for every other role.
    #[arg(long, env = "REDRESS_TOKEN_PROVIDER")]
    pub provider: Option<String>,
    /// The token's subject; `dev:<role>` when unset.
    #[arg(long, env = "REDRESS_TOKEN_SUBJECT")]
    pub subject: Option<String>,
    /// How long the token is valid, in seconds.
    #[arg(long, env = "REDRESS_TOKEN_TTL_SECONDS", default_value_t = 3600)]
    pub ttl_seconds: u64,
    /// The Ed25519 private key (PEM) that signs it.
    #[arg(
        long,
        env = "REDRESS_DEV_SIGNING_KEY",
        default_value = "var/redress/keys/dev-private.pem"
    )]
    pub signing_key: PathBuf,
    /// The key id the services know the key by.
    #[arg(long, env = "REDRESS_TOKEN_KID", default_value = "dev")]
    pub kid: String,
    /// `iss` of the token.
    #[arg(
        long,
        env = "REDRESS_JWT_ISSUER",
        default_value = "https://identity.redress.local"
    )]
    pub issuer: String,
    /// `aud` of the token.
    #[arg(long, env = "REDRESS_JWT_AUDIENCE", default_value = "redress")]
    pub audience: String,
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
    /// The `service.name` of exported spans, e.g. `complaints` for a process serving only
    /// complaints; `redress` (or `redress-migrate`) when unset.
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
}

impl TelemetryArgs {
    pub fn config(&self) -> platform::telemetry::TelemetryConfig {
        platform::telemetry::TelemetryConfig {
            log_format: self.log_format,
            otlp_endpoint: self.otlp_endpoint.clone(),
            metrics_addr: self.metrics_addr,
            service_name: self.service_name.clone(),
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
    /// PostgreSQL connections each service's pool may open (its relays' leader locks hold one
    /// more each). Mind the server's `max_connections` across every process.
    #[arg(long, env = "REDRESS_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
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

#[derive(Clone, Debug, Args)]
pub struct HealthcheckArgs {
    /// The gRPC endpoint to ask: the address `redress serve` listens on. A wildcard address
    /// (0.0.0.0, [::]) means this host's loopback.
    #[arg(long, env = "REDRESS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// The service to ask about, e.g. `redress.complaints.v1.Complaints`; empty asks about the
    /// server as a whole.
    #[arg(long, env = "REDRESS_HEALTHCHECK_SERVICE", default_value = "")]
    pub service: String,
    /// The longest to wait for the answer, connecting included: `2s`, `500ms`.
    #[arg(long, env = "REDRESS_HEALTHCHECK_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Clone, Debug, Args)]
pub struct StreamsArgs {
    /// NATS server with JetStream (2.12 or later), with the credentials of a user that may create
    /// and update every stream and consumer: nats://ops:PASSWORD@nats:4222 (percent-escape `@`,
    /// `:` and `/` in the password).
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub nats_url: String,
    /// Prefix for every JetStream stream and subject; empty in production. Lower-case letters and digits.
    #[arg(long, env = "REDRESS_NATS_PREFIX", default_value = "")]
    pub nats_prefix: String,
    /// Log format on stderr: json (one object per line) or pretty. Stdout carries the report.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

/// `2s`, `500ms`, `1.5s`: a number with the unit `ms` or `s`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration such as 2s or 500ms");
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        return Err(invalid());
    };
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| invalid())
}

#[derive(Clone, Debug, Args)]
pub struct FeedArgs {
    #[command(subcommand)]
    pub command: FeedCommand,
}

#[derive(Clone, Debug, Subcommand)]
pub enum FeedCommand {
    /// Reads the feed as the independent body does: pulls its durable consumer, prints one JSON
    /// line per message on stdout, keeps the last position in a state file, then acknowledges.
    /// Redeliveries are not printed again; missing positions are reported on stderr as
    /// {"gap":{"expected":N,"received":M}}. Logs go to stderr.
    Tail(FeedTailArgs),
}

#[derive(Clone, Debug, Args)]
pub struct FeedTailArgs {
    /// NATS server carrying the feed.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The independent body's NATS user (`ib` in deploy/nats). Unset: connect without
    /// credentials (a server without authentication).
    #[arg(long, env = "REDRESS_FEED_NATS_USER")]
    pub nats_user: Option<String>,
    /// The user's password.
    #[arg(
        long,
        env = "REDRESS_FEED_NATS_PASSWORD",
        hide_env_values = true,
        conflicts_with = "nats_password_file"
    )]
    pub nats_password: Option<String>,
    /// A file holding the user's password instead (e.g. a mounted secret); one trailing newline
    /// is ignored.
    #[arg(long, env = "REDRESS_FEED_NATS_PASSWORD_FILE")]
    pub nats_password_file: Option<PathBuf>,
    /// JetStream domain of the feed, as the body's account sees it: `redress` maps to the API
    /// prefix `$JS.redress.API` (deploy/nats/accounts.conf). Empty for a client in the account
    /// that holds the stream.
    #[arg(long, env = "REDRESS_FEED_JETSTREAM_DOMAIN", default_value = "redress")]
    pub jetstream_domain: String,
    /// The feed's stream.
    #[arg(long, env = "REDRESS_FEED_STREAM", default_value = "FEED")]
    pub stream: String,
    /// The independent body's durable consumer on the stream (created by Redress).
    #[arg(long, env = "REDRESS_FEED_DURABLE", default_value = "ib_feed")]
    pub durable: String,
    /// File holding the last handled feed position; created on first use. Keep it with the
    /// data the feed lines go into: it is what makes a redelivered message a duplicate.
    #[arg(long, env = "REDRESS_FEED_STATE_FILE")]
    pub state_file: PathBuf,
    /// Drain what is pending, then exit.
    #[arg(long, env = "REDRESS_FEED_ONCE")]
    pub once: bool,
    /// Exit after printing this many messages.
    #[arg(long, env = "REDRESS_FEED_LIMIT")]
    pub limit: Option<u64>,
    /// Exit non-zero at a gap, leaving the message after it unacknowledged, instead of
    /// reporting the gap and carrying on.
    #[arg(long, env = "REDRESS_FEED_FAIL_ON_GAP")]
    pub fail_on_gap: bool,
    /// Log format on stderr: json (one object per line) or pretty. Stdout carries only feed lines.
    #[arg(long, env = "REDRESS_LOG_FORMAT", default_value = "json")]
    pub log_format: platform::telemetry::LogFormat,
}

impl FeedTailArgs {
    /// The tail's settings, with the password read from its file if given.
    ///
    /// # Errors
    /// When the password file cannot be read.
    pub fn config(&self) -> anyhow::Result<crate::feed_tail::TailConfig> {
        let password = match (&self.nats_password, &self.nats_password_file) {
            (Some(password), _) => Some(password.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("Failed to read {}", path.display()))?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Some(text.strip_suffix('\r').unwrap_or(text).to_owned())
            }
            (None, None) => None,
        };
        let mut config = crate::feed_tail::TailConfig::new(&self.nats_url, &self.state_file);
        config.user.clone_from(&self.nats_user);
        config.password = password.map(SecretString::from);
        config.domain = Some(self.jetstream_domain.clone()).filter(|d| !d.is_empty());
        config.stream.clone_from(&self.stream);
        config.durable.clone_from(&self.durable);
        config.once = self.once;
        config.limit = self.limit;
        config.fail_on_gap = self.fail_on_gap;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_in_seconds_or_milliseconds() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
