//! The complaint timers: a projection that keeps each complaint's deadlines as timers in
//! `complaint_timers`, and the handler that fires them. Every timer is due at the first instant
//! after the deadline it carries (a deadline is the last instant still in time, and the commands
//! refuse a `now` at or before it), and its id carries the deadline, so a timer that fired for an
//! earlier deadline never shares its idempotency key with the next one.
//!
//! `response_overdue`, running `MarkResponseOverdue`:
//! * `ComplaintAcknowledged` and `ComplaintReopenedForReconsideration` schedule it for the
//!   recorded `response_due_at`;
//! * `ResponseDeadlineExtended` cancels the pending one and schedules one for the new deadline;
//! * `ComplaintResponseIssued` and `ComplaintWithdrawn` cancel it;
//! * `ComplaintResponseOverdue` marks it fired (also after a rebuild).
//!
//! `escalation_window`, running `CloseComplaint` because the window lapsed:
//! * `EscalationRightsNotified` schedules it for the recorded `window_closes_at`;
//! * `ComplaintReopenedForReconsideration` and `ComplaintClosed` cancel it (a reconsidered
//!   response notifies a new window, with a timer of its own).
//!
//! An escalation in progress leaves the window timer in place: it fires, is refused
//! (`ESCALATION_IN_PROGRESS`) and is done; an escalation withdrawn after the window closes the
//! complaint itself, one withdrawn before it leaves the timer to close it.
//!
//! The handler runs each command with the timer's idempotency key as actor `system:timer`, at the
//! `now` the scheduler passes. A refusal means there was nothing left to do; it is logged at info.

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
use crate::domain::complaint::{Closure, Command, Event, FormalComplaint};
use crate::domain::instant;
use platform::aggregate::Aggregate;

/// The timers table of this vertical.
pub(crate) const TIMERS_TABLE: &str = "complaint_timers";

/// The kind of the response-overdue timer.
const RESPONSE_OVERDUE: &str = "response_overdue";

/// The kind of the escalation-window timer.
const ESCALATION_WINDOW: &str = "escalation_window";

/// The `kind` timer for a complaint's deadline `deadline`: stable for one deadline, new for the
/// next.
fn timer(kind: &str, complaint_id: Uuid, deadline: Timestamp) -> Timer {
    // The first representable instant after the deadline: timers are stored in microseconds, and
    // the next whole microsecond is strictly later than any instant within the current one.
    let after = Timestamp::from_microsecond(deadline.as_microsecond().saturating_add(1))
        .unwrap_or(deadline);
    Timer {
        timer_id: format!("{kind}:{complaint_id}:{}", deadline.as_microsecond()),
        kind: kind.to_owned(),
        stream_id: complaint_id,
        due_at: after,
    }
}

fn response_overdue(complaint_id: Uuid, due_at: Timestamp) -> Timer {
    timer(RESPONSE_OVERDUE, complaint_id, due_at)
}

fn escalation_window(complaint_id: Uuid, closes_at: Timestamp) -> Timer {
    timer(ESCALATION_WINDOW, complaint_id, closes_at)
}

/// The projection keeping `complaint_timers`.
#[derive(Debug)]
pub(crate) struct ComplaintTimers;

/// The platform's timers table, and the index `cancel_pending` finds a complaint's pending
/// timers of a kind by (without it every cancel scans the whole table).
static CREATE_TABLES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{}
         CREATE INDEX {TIMERS_TABLE}_pending_by_stream ON {TIMERS_TABLE} (stream_id, kind)
             WHERE fired_at IS NULL AND cancelled_at IS NULL;",
        timer::create_table_sql(TIMERS_TABLE)
    )
});

impl Projection for ComplaintTimers {
    fn name(&self) -> &'static str {
        "complaint_timers"
    }

    fn version(&self) -> i32 {
        // 3: the index of pending timers by stream and kind.
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TIMERS_TABLE]
    }

    fn create_tables(&self) -> &'static str {
        CREATE_TABLES.as_str()
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[FormalComplaint::STREAM_TYPE];
        Some(READS)
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
                    cancel_pending(conn, id, RESPONSE_OVERDUE).await?;
                    let timer = response_overdue(id, instant(e.new_due_at.as_ref()));
                    timer::schedule(conn, TIMERS_TABLE, &timer).await?;
                }
                Event::ComplaintResponseIssued(_) | Event::ComplaintWithdrawn(_) => {
                    cancel_pending(conn, id, RESPONSE_OVERDUE).await?;
                }
                Event::ComplaintResponseOverdue(e) => {
                    let timer = response_overdue(id, instant(e.response_due_at.as_ref()));
                    timer::mark_fired(conn, TIMERS_TABLE, &timer.timer_id).await?;
                }
                Event::EscalationRightsNotified(e) => {
                    let timer = escalation_window(id, instant(e.window_closes_at.as_ref()));
                    timer::schedule(conn, TIMERS_TABLE, &timer).await?;
                }
                Event::ComplaintReopenedForReconsideration(e) => {
                    cancel_pending(conn, id, ESCALATION_WINDOW).await?;
                    let timer = response_overdue(id, instant(e.response_due_at.as_ref()));
                    timer::schedule(conn, TIMERS_TABLE, &timer).await?;
                }
                Event::ComplaintClosed(_) => {
                    cancel_pending(conn, id, ESCALATION_WINDOW).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Cancels a complaint's unfired timers of `kind`.
async fn cancel_pending(
    conn: &mut PgConnection,
    complaint_id: Uuid,
    kind: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE complaint_timers SET cancelled_at = now()
         WHERE stream_id = $1 AND kind = $2 AND fired_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(complaint_id)
    .bind(kind)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fires `response_overdue` and `escalation_window` timers.
#[derive(Debug)]
pub(crate) struct TimerFiring {
    context: Arc<Context>,
}

impl TimerFiring {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        TimerFiring { context }
    }

    /// The timer's command on its complaint, at `now`.
    fn command(
        &self,
        timer: &Timer,
        state: &FormalComplaint,
        now: Timestamp,
    ) -> anyhow::Result<Command> {
        match timer.kind.as_str() {
            RESPONSE_OVERDUE => {
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
                Ok(Command::MarkResponseOverdue { now, policy })
            }
            ESCALATION_WINDOW => Ok(Command::CloseComplaint {
                closed_at: now,
                because: Closure::EscalationWindowLapsed,
            }),
            other => anyhow::bail!("unknown timer kind {other:?}"),
        }
    }
}

impl TimerHandler for TimerFiring {
    async fn fire(&self, timer: &Timer, now: Timestamp) -> anyhow::Result<()> {
        let store = &self.context.store;
        let (state, _) = store
            .load::<FormalComplaint>(timer.stream_id)
            .await
            .map_err(|e| anyhow::anyhow!("Failed to load complaint {}: {e}", timer.stream_id))?;
        let command = self.command(timer, &state, now)?;
        let mut metadata = Metadata::for_command("system:timer", Uuid::now_v7(), None);
        if let Command::MarkResponseOverdue { policy, .. } = &command {
            metadata.policy_version = Some(policy.version().to_owned());
        }
        let context = CommandContext {
            metadata,
            key: Some(timer.command_key().map_err(anyhow::Error::msg)?),
            ..CommandContext::default()
        };
        match store
            .execute::<FormalComplaint>(timer.stream_id, command, &context)
            .await
        {
            Ok(_) => Ok(()),
            // Answered, withdrawn, escalated, reopened or not yet due (the deadline moved):
            // nothing left to do.
            Err(ExecuteError::Rejected(rejection)) => {
                tracing::info!(timer = %timer.timer_id, reason = rejection.reason(), "complaint timer had nothing to do");
                Ok(())
            }
            Err(error) => Err(anyhow::Error::new(error)
                .context(format!("Failed to run complaint timer {}", timer.timer_id))),
        }
    }
}
