//! What S7 and S12 wait for after their fault ends: every relay has published what was
//! committed before, read straight from the events and checkpoint tables.

use std::time::{Duration, Instant};

use redress_reliability::checker::checkpoints;
use redress_reliability::cluster::Cluster;
use sqlx::{AssertSqlSafe, Connection as _};

/// How soon after a fault ends the relays must have published what was committed before it
/// (the plan's "relay backlog drains within 30 s").
pub const DRAIN_WITHIN: Duration = Duration::from_secs(30);

/// Waits until every relay has published each event committed before the call, straight from
/// the events and checkpoint tables; returns how long that took, in milliseconds (at most
/// [`DRAIN_WITHIN`] and a little: past it the wait is given up and the figure tells).
pub async fn drained(cluster: &Cluster) -> anyhow::Result<u64> {
    let relays = checkpoints::relays();
    let started = Instant::now();
    let mut conn = sqlx::PgConnection::connect(&cluster.database_url()).await?;
    let healed_at: String = sqlx::query_scalar("SELECT now()::text")
        .fetch_one(&mut conn)
        .await?;
    loop {
        let mut behind = 0_i64;
        for relay in &relays {
            behind += sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
                "SELECT count(*) FILTER (WHERE c.name IS NULL
                          OR (e.transaction_id, e.position) > (c.transaction_id, c.position))
                 FROM {schema}.events e
                 LEFT JOIN {schema}.checkpoints c ON c.name = $1
                 WHERE e.recorded_at < $2::timestamptz AND {published}",
                schema = relay.schema,
                published = relay.published,
            )))
            .bind(relay.checkpoint)
            .bind(&healed_at)
            .fetch_one(&mut conn)
            .await?;
        }
        let waited = u64::try_from(started.elapsed().as_millis())?;
        if behind == 0 || started.elapsed() > DRAIN_WITHIN + Duration::from_secs(5) {
            return Ok(waited);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
