//! Durable timers: deadline-driven commands that survive restarts and never take effect twice.
//!
//! A service's timer projection writes rows into its timers table from the deadlines its events record
//! (an acknowledgement's response-due date, a pause's limit), so timers are derived state and
//! are rebuilt with the projection. The [`Scheduler`] claims due timers with a lease, fires
//! each through the service's [`TimerHandler`] and marks it fired. A scheduler that dies between
//! firing and marking fires the timer again once the lease ends; the handler's command carries
//! the timer's idempotency key ([`Timer::command_key`]), so the second firing writes nothing.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::{AssertSqlSafe, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::event_store::CommandKey;
use crate::pg::{PgTimestamp, Pool};

/// SQL creating a timers table named `table`, for a timer projection's `create_tables` (each
/// projection that schedules timers owns its own table, so it is rebuilt with it).
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
             timer_id      text        NOT NULL PRIMARY KEY,
             kind          text        NOT NULL,
             stream_id     uuid        NOT NULL,
             due_at        timestamptz NOT NULL,
             claimed_until timestamptz,
             attempts      integer     NOT NULL DEFAULT 0,
             last_error    text,
             fired_at      timestamptz,
             cancelled_at  timestamptz
         );
         CREATE INDEX {table}_due ON {table} (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;"
    )
}

/// One scheduled command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Stable and unique, e.g. `response_overdue:<complaint id>:<due epoch seconds>`.
    pub timer_id: String,
    /// What to do when it fires, e.g. `response_overdue`.
    pub kind: String,
    /// The aggregate the command goes to.
    pub stream_id: Uuid,
    pub due_at: Timestamp,
}

impl Timer {
    /// The idempotency key every firing of this timer uses, so it takes effect once.
    ///
    /// # Errors
    /// When the timer id is not a valid key (over 128 bytes or not printable ASCII).
    pub fn command_key(&self) -> Result<CommandKey, &'static str> {
        CommandKey::new(
            "system:timer",
            &self.timer_id,
            &self.kind,
            self.timer_id.as_bytes(),
        )
    }
}

/// Schedules a timer in `table`, or moves an unfired one to a new due time (a deadline was
/// extended).
///
/// # Errors
/// Database errors.
pub async fn schedule(
    conn: &mut PgConnection,
    table: &str,
    timer: &Timer,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (timer_id, kind, stream_id, due_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (timer_id) DO UPDATE SET due_at = excluded.due_at WHERE {table}.fired_at IS NULL"
    )))
    .bind(&timer.timer_id)
    .bind(&timer.kind)
    .bind(timer.stream_id)
    .bind(PgTimestamp(timer.due_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels an unfired timer (the deadline no longer applies).
///
/// # Errors
/// Database errors.
pub async fn cancel(
    conn: &mut PgConnection,
    table: &str,
    timer_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET cancelled_at = now() WHERE timer_id = $1 AND fired_at IS NULL AND cancelled_at IS NULL"
    )))
    .bind(timer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a timer's effect happened (its event was seen), so it is not fired again,
/// e.g. after a projection rebuild.
///
/// # Errors
/// Database errors.
pub async fn mark_fired(
    conn: &mut PgConnection,
    table: &str,
    timer_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET fired_at = coalesce(fired_at, now()) WHERE timer_id = $1"
    )))
    .bind(timer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Carries out a timer's command.
pub trait TimerHandler: Send + Sync + 'static {
    /// Issues the timer's command with [`Timer::command_key`], evaluated at `now`. Returning Ok
    /// marks the timer fired, also when the aggregate had nothing left to do.
    fn fire(
        &self,
        timer: &Timer,
        now: Timestamp,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Fires due timers.
#[derive(Debug)]
pub struct Scheduler<H> {
    pool: Pool,
    table: String,
    handler: H,
    /// How long a claimed timer is reserved for the scheduler that claimed it.
    lease: Duration,
    poll: Duration,
}

impl<H: TimerHandler> Scheduler<H> {
    /// A scheduler for the timers in `table`.
    ///
    /// # Errors
    /// When `table` is not a plain lower-case identifier.
    pub fn new(pool: Pool, table: &str, handler: H) -> anyhow::Result<Self> {
        crate::pg::validate_schema_name(table)?;
        Ok(Scheduler {
            pool,
            table: table.to_owned(),
            handler,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        })
    }

    /// Sets how long a claimed timer stays reserved; a firing that has not finished by then may
    /// be retried by another scheduler (harmless: the command is idempotent).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Fires timers as they fall due until `shutdown`. Time comes from `clock`, the service's
    /// one source of "now", so a test clock moves the timers too.
    ///
    /// # Errors
    /// Never for a failing timer (it is retried after its lease); failures are logged.
    pub async fn run(
        &self,
        clock: crate::clock::Clock,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.run_due(clock.now()).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "timer scheduler failed; retrying"
                );
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.poll) => {}
            }
        }
        Ok(())
    }

    /// Fires every timer due at or before `now`; returns how many fired.
    ///
    /// # Errors
    /// Database errors. A handler's failure is recorded on the timer, which is retried once its
    /// lease ends.
    pub async fn run_due(&self, now: Timestamp) -> anyhow::Result<usize> {
        let mut fired = 0;
        let mut failed = std::collections::HashSet::new();
        while let Some(timer) = self.claim(now).await? {
            // A failing timer whose lease ran out during this run waits for the next run.
            if failed.contains(&timer.timer_id) {
                break;
            }
            let span =
                tracing::info_span!("timer.fire", timer_id = %timer.timer_id, kind = %timer.kind);
            // Instrumented, never entered: an entered guard held across an await leaves the span
            // current on whichever worker thread the task was suspended on.
            let outcome = self.handler.fire(&timer, now).instrument(span).await;
            match outcome {
                Ok(()) => {
                    fail::fail_point!("timer::after_fire_before_mark", |_| Err(anyhow::anyhow!(
                        "failpoint timer::after_fire_before_mark"
                    )));
                    let mut conn = self.pool.acquire().await?;
                    mark_fired(&mut conn, &self.table, &timer.timer_id).await?;
                    fired += 1;
                }
                Err(error) => {
                    tracing::warn!(timer_id = %timer.timer_id, error = format!("{error:#}"), "timer failed; will retry");
                    failed.insert(timer.timer_id.clone());
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {} SET last_error = $2 WHERE timer_id = $1",
                        self.table
                    )))
                    .bind(&timer.timer_id)
                    .bind(format!("{error:#}"))
                    .execute(&self.pool)
                    .await?;
                }
            }
        }
        Ok(fired)
    }

    /// Takes the earliest due, unclaimed timer and leases it.
    async fn claim(&self, now: Timestamp) -> anyhow::Result<Option<Timer>> {
        let lease = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
        let row: Option<(String, String, Uuid, PgTimestamp)> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE {table} SET claimed_until = clock_timestamp() + make_interval(secs => $2::float8 / 1e6),
                               attempts = attempts + 1
             WHERE timer_id = (
                 SELECT timer_id FROM {table}
                 WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= $1
                   AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING timer_id, kind, stream_id, due_at",
            table = self.table
        )))
        .bind(PgTimestamp(now))
        .bind(lease)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(timer_id, kind, stream_id, due_at)| Timer {
            timer_id,
            kind,
            stream_id,
            due_at: due_at.0,
        }))
    }
}
