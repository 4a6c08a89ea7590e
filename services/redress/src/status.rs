//! `redress status`: what an operator woken at night looks at first. Per service: whether its
//! gRPC API answers SERVING, how far its relays and projections are behind the log (events
//! and seconds), the parked events awaiting a decision, and for escalation the independent
//! body's feed position; for the cluster, the age of the reading horizon and the transaction
//! holding it. A table, or `--json`.

use std::time::Duration;

use anyhow::Context as _;
use platform::pg::Pool;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::services::Service;

/// How far one checkpointed reader (a relay or a projection) is behind its service's log.
#[derive(Debug, Serialize)]
pub struct Lag {
    pub name: String,
    /// Events committed after the checkpoint.
    pub events: i64,
    /// Age of the oldest of them; 0 when caught up.
    pub seconds: f64,
}

/// The independent body's feed.
#[derive(Debug, Serialize)]
pub struct FeedStatus {
    /// The last position translated onto the feed.
    pub position: i64,
    /// Positions translated but not yet acknowledged by JetStream.
    pub unpublished: i64,
}

/// One service.
#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub service: &'static str,
    /// `SERVING`, `NOT_SERVING`, or why it could not be asked.
    pub health: String,
    pub events: i64,
    pub relays: Vec<Lag>,
    pub projections: Vec<Lag>,
    pub parked_events: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<FeedStatus>,
}

/// The transaction holding readers back.
#[derive(Debug, Serialize)]
pub struct Horizon {
    pub age_seconds: f64,
    pub pid: Option<i32>,
    pub application: String,
    pub state: String,
    pub query: String,
}

/// Everything `status` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub services: Vec<ServiceStatus>,
    pub horizon: Horizon,
}

/// The gRPC service name whose health stands for a context.
fn health_name(service: Service) -> &'static str {
    match service {
        Service::Complaints => "redress.complaints.v1.Complaints",
        Service::Escalation => "redress.escalation.v1.Escalations",
        Service::LearningReviews => "redress.learning_reviews.v1.LearningReviews",
    }
}

async fn health(address: &str, service: Service) -> String {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let ask = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: health_name(service).to_owned(),
            })
            .await?
            .into_inner();
        anyhow::Ok(answer.status)
    };
    match tokio::time::timeout(Duration::from_secs(3), ask).await {
        Ok(Ok(status)) => ServingStatus::try_from(status).map_or_else(
            |_| format!("UNKNOWN({status})"),
            |s| s.as_str_name().to_owned(),
        ),
        Ok(Err(e)) => format!("UNREACHABLE ({e})"),
        Err(_) => "UNREACHABLE (timed out)".to_owned(),
    }
}

/// Every checkpoint of a schema, with how many events follow it and their age.
async fn lags(pool: &Pool) -> sqlx::Result<Vec<Lag>> {
    let rows: Vec<(String, i64, Option<f64>)> = sqlx::query_as(
        "SELECT c.name, count(e.position),
                extract(epoch FROM now() - min(e.recorded_at))::float8
         FROM checkpoints c
         LEFT JOIN events e ON (e.transaction_id, e.position) > (c.transaction_id, c.position)
         GROUP BY c.name ORDER BY c.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, events, seconds)| Lag {
            name,
            events,
            seconds: seconds.unwrap_or(0.0),
        })
        .collect())
}

async fn service_status(
    database_url: &str,
    address: &str,
    service: Service,
) -> anyhow::Result<ServiceStatus> {
    let pool = platform::pg::connect(database_url, service.schema(), 2)
        .await
        .with_context(|| format!("Failed to connect to PostgreSQL for {}", service.name()))?;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    let (relays, projections): (Vec<Lag>, Vec<Lag>) = lags(&pool)
        .await?
        .into_iter()
        .partition(|lag| lag.name.starts_with("relay"));
    let parked_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM parked_events WHERE resolved_at IS NULL")
            .fetch_one(&pool)
            .await?;
    let feed = if service == Service::Escalation {
        let position: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(version), 0)::bigint FROM events WHERE stream_type = $1",
        )
        .bind(escalation::feed::STREAM_TYPE)
        .fetch_one(&pool)
        .await?;
        let unpublished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e
             WHERE e.stream_type = $1 AND (e.transaction_id, e.position) >
                   coalesce((SELECT (transaction_id, position) FROM checkpoints WHERE name = 'relay.feed'),
                            ('0'::xid8, 0))",
        )
        .bind(escalation::feed::STREAM_TYPE)
        .fetch_one(&pool)
        .await?;
        Some(FeedStatus {
            position,
            unpublished,
        })
    } else {
        None
    };
    pool.close().await;
    Ok(ServiceStatus {
        service: service.name(),
        health: health(address, service).await,
        events,
        relays,
        projections,
        parked_events,
        feed,
    })
}

/// Gathers the report.
///
/// # Errors
/// When PostgreSQL cannot be reached or a schema is not migrated.
pub async fn report(args: &StatusArgs) -> anyhow::Result<Report> {
    let mut services = Vec::new();
    for service in crate::services::selected(&args.services) {
        services.push(
            service_status(
                &args.database.database_url,
                &args.grpc_addr.to_string(),
                service,
            )
            .await?,
        );
    }
    let pool = platform::pg::connect(&args.database.database_url, "public", 1).await?;
    let holder = platform::tail::oldest_transaction(&pool).await?;
    pool.close().await;
    let horizon = match holder {
        Some(h) => Horizon {
            age_seconds: h.age_seconds,
            pid: Some(h.pid),
            application: h.application,
            state: h.state,
            query: h.query,
        },
        None => Horizon {
            age_seconds: 0.0,
            pid: None,
            application: String::new(),
            state: String::new(),
            query: String::new(),
        },
    };
    Ok(Report { services, horizon })
}

/// Prints the report as a table, or as one JSON document.
///
/// # Errors
/// When the report cannot be gathered or written.
pub async fn run(args: &StatusArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let report = report(args).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<17} {:<12} {:>8} {:>7}  {:<40} {:>8} {:>9}",
        "SERVICE", "HEALTH", "EVENTS", "PARKED", "READER", "BEHIND", "LAG (s)"
    )?;
    for s in &report.services {
        let health: String = s.health.chars().take(12).collect();
        let mut first = true;
        for lag in s.relays.iter().chain(&s.projections) {
            let (service, health, events, parked) = if first {
                (
                    s.service.to_owned(),
                    health.clone(),
                    s.events.to_string(),
                    s.parked_events.to_string(),
                )
            } else {
                Default::default()
            };
            first = false;
            writeln!(
                out,
                "{service:<17} {health:<12} {events:>8} {parked:>7}  {:<40} {:>8} {:>9.1}",
                lag.name, lag.events, lag.seconds
            )?;
        }
        if first {
            writeln!(
                out,
                "{:<17} {health:<12} {:>8} {:>7}  (no readers yet)",
                s.service, s.events, s.parked_events
            )?;
        }
        if let Some(feed) = &s.feed {
            writeln!(
                out,
                "{:<17} feed position {} ({} not yet published)",
                "", feed.position, feed.unpublished
            )?;
        }
    }
    match report.horizon.pid {
        Some(pid) => writeln!(
            out,
            "\nhorizon: the oldest open transaction is {:.1} s old (pid {pid}, {}, {}): {}",
            report.horizon.age_seconds,
            report.horizon.application,
            report.horizon.state,
            report.horizon.query
        )?,
        None => writeln!(out, "\nhorizon: no open transaction holds readers back")?,
    }
    Ok(())
}
