//! The inspection case's timers: deeming a pause that outlasted its limit incomplete, and
//! requiring an explanation for a late publication.
//!
//! [`TimerProjection`] derives the `inspection_timers` table from the case's events, so the
//! timers are rebuilt with it: a pause schedules `DeemInspectionIncomplete` for the first instant
//! after its recorded `resume_deadline` (the domain refuses a `now` at or before the deadline) and
//! a resume cancels it; the end of on-site work schedules `RequirePublicationDelayExplanation` for
//! the first instant after `publication_expected_by` and publication cancels it. The event a
//! timer's command records marks it fired. [`TimerFirer`] runs the command with the timer's
//! idempotency key, so a timer fired twice writes once.

use std::sync::Arc;

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use platform::aggregate::{Aggregate as _, DomainEvent as _};
use platform::event_store::{CommandContext, ExecuteError};
use platform::projection::Projection;
use platform::tail::{Metadata, RecordedEvent};
use platform::timer::{self, Timer, TimerHandler};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::Context;
use crate::domain::inspection::{self, InspectionCase};
use crate::domain::instant;

/// The timers table, also the projection's name.
pub const TABLE: &str = "inspection_timers";

/// `Timer::kind` of the pause-limit timer.
pub const DEEM_INCOMPLETE: &str = "DeemInspectionIncomplete";
/// `Timer::kind` of the publication-delay timer.
pub const REQUIRE_EXPLANATION: &str = "RequirePublicationDelayExplanation";

/// The timer of the pause that started at `paused_at`.
fn pause_timer_id(inspection_id: Uuid, paused_at: Timestamp) -> String {
    format!(
        "deem_incomplete:{inspection_id}:{}",
        paused_at.as_microsecond()
    )
}

fn explanation_timer_id(inspection_id: Uuid) -> String {
    format!("publication_delay:{inspection_id}")
}

/// The first instant after a deadline (a deadline is the last instant still in time).
fn just_after(deadline: Timestamp) -> Timestamp {
    deadline
        .checked_add(SignedDuration::from_nanos(1))
        .unwrap_or(deadline)
}

/// Schedules, cancels and marks fired the inspection case's timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerProjection;

impl Projection for TimerProjection {
    fn name(&self) -> &'static str {
        TABLE
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    fn create_tables(&self) -> &'static str {
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| timer::create_table_sql(TABLE));
        SQL.as_str()
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[InspectionCase::STREAM_TYPE];
        Some(READS)
    }

    /// Only the events that change a timer: most of a case's events (every notification, for
    /// one) change none, and then the runner needs no transaction.
    fn reads(&self, event: &RecordedEvent) -> bool {
        !matches!(change(event), Ok(None))
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for event in events {
            if event.stream_type != InspectionCase::STREAM_TYPE {
                continue;
            }
            match change(event)? {
                Some(Change::Schedule(timer)) => timer::schedule(conn, TABLE, &timer).await?,
                Some(Change::Cancel(timer_id)) => timer::cancel(conn, TABLE, &timer_id).await?,
                Some(Change::Fired(timer_id)) => timer::mark_fired(conn, TABLE, &timer_id).await?,
                None => {}
            }
        }
        Ok(())
    }
}

/// What one of the case's events does to its timers.
enum Change {
    Schedule(Timer),
    Cancel(String),
    Fired(String),
}

/// The timer change `event` makes, if any.
///
/// # Errors
/// An event that does not decode.
fn change(event: &RecordedEvent) -> anyhow::Result<Option<Change>> {
    use inspection::Event as E;
    let id = event.stream_id;
    let decoded = inspection::Event::decode(&event.event_type, &event.payload)
        .with_context(|| format!("Failed to decode event {}", event.event_id))?;
    Ok(match decoded {
        E::InspectionPaused(e) => {
            let paused_at = instant(e.paused_at.as_ref());
            Some(Change::Schedule(Timer {
                timer_id: pause_timer_id(id, paused_at),
                kind: DEEM_INCOMPLETE.to_owned(),
                stream_id: id,
                due_at: just_after(instant(e.resume_deadline.as_ref())),
            }))
        }
        E::InspectionResumed(e) => Some(Change::Cancel(pause_timer_id(
            id,
            instant(e.paused_at.as_ref()),
        ))),
        E::InspectionDeemedIncomplete(e) => Some(Change::Fired(pause_timer_id(
            id,
            instant(e.paused_at.as_ref()),
        ))),
        E::OnSiteVisitEnded(e) => Some(Change::Schedule(Timer {
            timer_id: explanation_timer_id(id),
            kind: REQUIRE_EXPLANATION.to_owned(),
            stream_id: id,
            due_at: just_after(instant(e.publication_expected_by.as_ref())),
        })),
        E::ReportPublished(_) => Some(Change::Cancel(explanation_timer_id(id))),
        E::PublicationDelayExplanationDue(_) => Some(Change::Fired(explanation_timer_id(id))),
        _ => None,
    })
}

/// Runs a due timer's command as `system:timer`, evaluated at the scheduler's `now`.
#[derive(Clone, Debug)]
pub struct TimerFirer {
    context: Arc<Context>,
}

impl TimerFirer {
    /// A handler writing through `context.store`.
    pub fn new(context: Arc<Context>) -> Self {
        TimerFirer { context }
    }
}

impl TimerHandler for TimerFirer {
    async fn fire(&self, timer: &Timer, now: Timestamp) -> anyhow::Result<()> {
        let command = match timer.kind.as_str() {
            DEEM_INCOMPLETE => inspection::Command::DeemInspectionIncomplete { now },
            REQUIRE_EXPLANATION => inspection::Command::RequirePublicationDelayExplanation { now },
            other => anyhow::bail!("unknown inspection timer kind {other:?}"),
        };
        let key = timer
            .command_key()
            .map_err(|reason| anyhow::anyhow!("timer id {:?} {reason}", timer.timer_id))?;
        let context = CommandContext {
            metadata: Metadata::for_command("system:timer", Uuid::now_v7(), None),
            key: Some(key),
            ..CommandContext::default()
        };
        match self
            .context
            .store
            .execute::<InspectionCase>(timer.stream_id, command, &context)
            .await
        {
            Ok(_) => Ok(()),
            // The case moved on (resumed, ended, published) before the timer fired: there is
            // nothing left to do, so the timer counts as fired.
            Err(ExecuteError::Rejected(rejection)) => {
                tracing::info!(timer_id = %timer.timer_id, reason = rejection.reason(), "timer no longer applies");
                Ok(())
            }
            Err(error) => Err(anyhow::Error::new(error).context("Failed to run a timer command")),
        }
    }
}
