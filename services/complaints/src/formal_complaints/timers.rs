//! The response-overdue timer: a projection that keeps one timer per acknowledged complaint in
//! `complaint_timers`, and the handler that fires it.
//!
//! * `ComplaintAcknowledged` schedules `response_overdue` for the first instant after the
//!   recorded `response_due_at` (the deadline is the last instant still in time, and
//!   `MarkResponseOverdue` refuses a `now` at or before it).
//! * `ResponseDeadlineExtended` cancels the pending timer and schedules one for the new deadline.
//!   The timer id carries the deadline, so a timer that fired for an earlier deadline never
//!   shares its idempotency key with the next one.
//! * `ComplaintResponseIssued` and `ComplaintWithdrawn` cancel it.
//! * `ComplaintResponseOverdue` marks it fired (also after a rebuild).
//!
//! The handler runs `MarkResponseOverdue` with the timer's idempotency key as actor
//! `system:timer`, at the `now` the scheduler passes.

use std::sync::Arc;

use jiff::Timestamp;
use platform::aggregate::DomainEvent;
use platform::event_store::{CommandContext, ExecuteError};
use platform::projection::Projection;
use platform::tail::{Metadata, RecordedEvent};
use platform::timer::{self, Timer, TimerHandler};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::Context;
use crate::domain::complaint::{Command, Event, FormalComplaint};
use crate::domain::instant;
use platform::aggregate::Aggregate;

/// The timers table of this vertical.
pub(crate) const TIMERS_TABLE: &str = "complaint_timers";

/// The kind of the response-overdue timer.
const RESPONSE_OVERDUE: &str = "response_overdue";

/// The timer for a complaint's response deadline `due_at`: stable for one deadline, new for the
/// next.
fn response_overdue(complaint_id: Uuid, due_at: Timestamp) -> Timer {
    // The first representable instant after the deadline: timers are stored in microseconds, and
    // the next whole microsecond is strictly later than any instant within the current one.
    let after =
        Timestamp::from_microsecond(due_at.as_microsecond().saturating_add(1)).unwrap_or(due_at);
    Timer {
        timer_id: format!(
            "{RESPONSE_OVERDUE}:{complaint_id}:{}",
            due_at.as_microsecond()
        ),
        kind: RESPONSE_OVERDUE.to_owned(),
        stream_id: complaint_id,
        due_at: after,
    }
}

/// The projection keeping `complaint_timers`.
#[derive(Debug)]
pub(crate) struct ResponseOverdueTimers;

static CREATE_TABLES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| timer::create_table_sql(TIMERS_TABLE));

impl Projection for ResponseOverdueTimers {
    fn name(&self) -> &'static str {
        "complaint_timers"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TIMERS_TABLE]
    }

    fn create_tables(&self) -> &'static str {
        CREATE_TABLES.as_str()
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for recorded in events {
            if recorded.stream_type != FormalComplaint::STREAM_TYPE {
                continue;
            }
            let Ok(event) = Event::decode(&recorded.event_type, &recorded.payload) else {
                // Unknown to this build (the complaints projection reports malformed payloads).
                continue;
            };
            let id = recorded.stream_id;
            match event {
                Event::ComplaintAcknowledged(e) => {
                    let timer = response_overdue(id, instant(e.response_due_at.as_ref()));
                    timer::schedule(conn, TIMERS_TABLE, &timer).await?;
                }
                Event::ResponseDeadlineExtended(e) => {
                    cancel_pending(conn, id).await?;
                    let timer = response_overdue(id, instant(e.new_due_at.as_ref()));
                    timer::schedule(conn, TIMERS_TABLE, &timer).await?;
                }
                Event::ComplaintResponseIssued(_) | Event::ComplaintWithdrawn(_) => {
                    cancel_pending(conn, id).await?;
                }
                Event::ComplaintResponseOverdue(e) => {
                    let timer = response_overdue(id, instant(e.response_due_at.as_ref()));
                    timer::mark_fired(conn, TIMERS_TABLE, &timer.timer_id).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Cancels a complaint's unfired response-overdue timers.
async fn cancel_pending(conn: &mut PgConnection, complaint_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE complaint_timers SET cancelled_at = now()
         WHERE stream_id = $1 AND kind = $2 AND fired_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(complaint_id)
    .bind(RESPONSE_OVERDUE)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fires `response_overdue` timers.
#[derive(Debug)]
pub(crate) struct TimerFiring {
    context: Arc<Context>,
}

impl TimerFiring {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        TimerFiring { context }
    }
}

impl TimerHandler for TimerFiring {
    async fn fire(&self, timer: &Timer, now: Timestamp) -> anyhow::Result<()> {
        anyhow::ensure!(
            timer.kind == RESPONSE_OVERDUE,
            "unknown timer kind {:?}",
            timer.kind
        );
        let store = &self.context.store;
        let (state, _) = store
            .load::<FormalComplaint>(timer.stream_id)
            .await
            .map_err(|e| anyhow::anyhow!("Failed to load complaint {}: {e}", timer.stream_id))?;
        let Some(complaint) = state.complaint() else {
            anyhow::bail!("timer {} names no complaint", timer.timer_id);
        };
        let policy = self
            .context
            .policies
            .version(&complaint.policy_version)
            .ok_or_else(|| {
                anyhow::anyhow!("policy {:?} is not loaded", complaint.policy_version)
            })?;
        let mut metadata = Metadata::for_command("system:timer", Uuid::now_v7(), None);
        metadata.policy_version = Some(policy.version().to_owned());
        let context = CommandContext {
            metadata,
            key: Some(timer.command_key().map_err(anyhow::Error::msg)?),
            ..CommandContext::default()
        };
        let command = Command::MarkResponseOverdue { now, policy };
        match store
            .execute::<FormalComplaint>(timer.stream_id, command, &context)
            .await
        {
            Ok(_) => Ok(()),
            // Answered, withdrawn or not yet due (the deadline moved): nothing left to do.
            Err(ExecuteError::Rejected(rejection)) => {
                tracing::info!(timer = %timer.timer_id, reason = rejection.reason(), "response-overdue timer had nothing to do");
                Ok(())
            }
            Err(error) => {
                Err(anyhow::Error::new(error).context("Failed to mark a response overdue"))
            }
        }
    }
}
