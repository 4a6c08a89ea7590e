//! Reading a service's whole log in order, without ever skipping an event.
//!
//! Positions come from a sequence at INSERT time, so they are not commit order: a transaction
//! that took position 7 may commit after one that took position 8. A reader that resumes with
//! `position > cursor` would read 8, move its cursor past 7, and never see 7. Here every row
//! carries its writing transaction's id, and a reader only takes rows whose transaction is older
//! than the oldest transaction still running (the horizon, `pg_snapshot_xmin`). Below the
//! horizon every transaction has finished, so the set of rows there can no longer change; the
//! reader orders and resumes by `(transaction_id, position)` and therefore reads each committed
//! event exactly once, in a stable order.
//!
//! The cost is latency: a long transaction anywhere in the cluster holds the horizon back and
//! every reader waits for it (never skips). `redress status` shows the horizon's age and the
//! transaction holding it; `idle_in_transaction_session_timeout` bounds it.
//!
//! The tailers of one store in one process share a [`SharedTail`], so a commit costs one
//! read of the log's end rather than one per tailer.

use jiff::Timestamp;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::pg::{PgTimestamp, Xid8};

mod shared;

pub use shared::SharedTail;

/// A place in one service's log: events are ordered by `(transaction, sequence)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The writing transaction's id (`xid8`).
    pub transaction: u64,
    /// The event's `position` column.
    pub sequence: i64,
}

impl Position {
    /// Before every event.
    pub const START: Position = Position {
        transaction: 0,
        sequence: 0,
    };
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.transaction, self.sequence)
    }
}

impl std::str::FromStr for Position {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (transaction, sequence) = s
            .split_once('.')
            .ok_or_else(|| anyhow::anyhow!("position {s:?} is not <transaction>.<sequence>"))?;
        Ok(Position {
            transaction: transaction.parse()?,
            sequence: sequence.parse()?,
        })
    }
}

impl From<Position> for proto::common::v1::Position {
    fn from(p: Position) -> Self {
        proto::common::v1::Position {
            transaction: p.transaction,
            sequence: p.sequence,
        }
    }
}

impl From<proto::common::v1::Position> for Position {
    fn from(p: proto::common::v1::Position) -> Self {
        Position {
            transaction: p.transaction,
            sequence: p.sequence,
        }
    }
}

/// Who and what caused an event, stored beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Shared by every event that follows from one originating request.
    pub correlation_id: Uuid,
    /// The event or command that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// Who issued the command: a token subject, or `system:<component>` for timers and policies.
    pub actor: String,
    /// W3C trace context of the command, so relays and projections join its trace.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Policy version used to compute any deadline in the event.
    pub policy_version: Option<String>,
    /// Working-day calendar version used to compute any deadline in the event.
    pub calendar_version: Option<String>,
}

impl Metadata {
    /// Metadata for a command issued by `actor`, carrying the current span's trace context so the
    /// relay and projections join the command's trace.
    pub fn for_command(
        actor: impl Into<String>,
        correlation_id: Uuid,
        causation_id: Option<Uuid>,
    ) -> Self {
        let trace = crate::telemetry::current_trace_context();
        Metadata {
            correlation_id,
            causation_id,
            actor: actor.into(),
            traceparent: trace.as_ref().map(|t| t.traceparent.clone()),
            tracestate: trace.and_then(|t| t.tracestate),
            policy_version: None,
            calendar_version: None,
        }
    }

    /// The stored trace context, if the command had one.
    pub fn trace_context(&self) -> Option<crate::telemetry::TraceContext> {
        self.traceparent
            .as_ref()
            .map(|traceparent| crate::telemetry::TraceContext {
                traceparent: traceparent.clone(),
                tracestate: self.tracestate.clone(),
            })
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    pub position: Position,
    pub event_id: Uuid,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub version: u32,
    /// Fully qualified protobuf message name of `payload`.
    pub event_type: String,
    pub payload: Vec<u8>,
    pub recorded_at: Timestamp,
    pub metadata: Metadata,
}

#[derive(FromRow)]
pub(crate) struct EventRow {
    transaction_id: Xid8,
    position: i64,
    event_id: Uuid,
    stream_type: String,
    stream_id: Uuid,
    version: i32,
    event_type: String,
    payload: Vec<u8>,
    recorded_at: PgTimestamp,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    actor: String,
    traceparent: Option<String>,
    tracestate: Option<String>,
    policy_version: Option<String>,
    calendar_version: Option<String>,
}

/// The column list every event query selects, matching [`EventRow`].
pub(crate) const EVENT_COLUMNS: &str = "transaction_id, position, event_id, stream_type, stream_id, version, \
     event_type, payload, recorded_at, correlation_id, causation_id, actor, traceparent, tracestate, \
     policy_version, calendar_version";

impl From<EventRow> for RecordedEvent {
    fn from(row: EventRow) -> Self {
        RecordedEvent {
            position: Position {
                transaction: row.transaction_id.0,
                sequence: row.position,
            },
            event_id: row.event_id,
            stream_type: row.stream_type,
            stream_id: row.stream_id,
            // The column has CHECK (version > 0).
            version: row.version.unsigned_abs(),
            event_type: row.event_type,
            payload: row.payload,
            recorded_at: row.recorded_at.0,
            metadata: Metadata {
                correlation_id: row.correlation_id,
                causation_id: row.causation_id,
                actor: row.actor,
                traceparent: row.traceparent,
                tracestate: row.tracestate,
                policy_version: row.policy_version,
                calendar_version: row.calendar_version,
            },
        }
    }
}

/// Reads up to `limit` events after `after`, in log order, from transactions that have all
/// finished. An empty page means "nothing more below the horizon yet", not "end of log".
///
/// One statement, so the horizon and the rows come from the same snapshot.
///
/// # Errors
/// Database errors.
pub async fn read_after<'e>(
    executor: impl PgExecutor<'e>,
    after: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE (transaction_id, position) > ($1, $2)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY transaction_id, position
         LIMIT $3"
    );
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Xid8(after.transaction))
        .bind(after.sequence)
        .bind(limit)
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(RecordedEvent::from).collect())
}

/// The reading horizon: the oldest transaction still running, which readers wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// Every transaction below this id has finished.
    pub xmin: u64,
    /// The next transaction id to be assigned: once the horizon reaches a value read earlier,
    /// every transaction running at that earlier moment has finished.
    pub xmax: u64,
}

/// Reads the current horizon.
///
/// # Errors
/// Database errors.
pub async fn horizon<'e>(executor: impl PgExecutor<'e>) -> Result<Horizon, sqlx::Error> {
    let (xmin, xmax): (Xid8, Xid8) = sqlx::query_as(
        "SELECT pg_snapshot_xmin(s), pg_snapshot_xmax(s) FROM pg_current_snapshot() AS s",
    )
    .fetch_one(executor)
    .await?;
    Ok(Horizon {
        xmin: xmin.0,
        xmax: xmax.0,
    })
}

/// The transaction holding the horizon back, for operators: its age, and what it is doing.
#[derive(Clone, Debug, PartialEq)]
pub struct HorizonHolder {
    pub pid: i32,
    pub age_seconds: f64,
    pub state: String,
    pub application: String,
    pub query: String,
}

/// Finds the oldest transaction that holds a transaction id, cluster-wide.
///
/// # Errors
/// Database errors.
pub async fn oldest_transaction<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<Option<HorizonHolder>, sqlx::Error> {
    let row: Option<(i32, f64, String, String, String)> = sqlx::query_as(
        "SELECT pid, extract(epoch FROM now() - xact_start)::float8, coalesce(state, ''),
                coalesce(application_name, ''), left(coalesce(query, ''), 200)
         FROM pg_stat_activity
         WHERE backend_xid IS NOT NULL AND xact_start IS NOT NULL
         ORDER BY xact_start LIMIT 1",
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(
        |(pid, age_seconds, state, application, query)| HorizonHolder {
            pid,
            age_seconds,
            state,
            application,
            query,
        },
    ))
}

/// Waits between polls of the log. It wakes at once when this process commits events, and
/// after a poll that found nothing it knows whether that is the end: when the reader has
/// reached every transaction this process announced, it sleeps until the next announcement
/// (or `idle`, for other processes' commits); when an announced commit is still hidden behind
/// the horizon, or was announced without its transaction id, it re-polls quickly and backs off
/// to `idle`.
#[derive(Debug)]
pub struct Wakeup {
    committed: Option<tokio::sync::watch::Receiver<crate::event_store::Committed>>,
    idle: std::time::Duration,
    next: std::time::Duration,
    /// The untracked-commit count the reader has finished re-polling for.
    untracked_done: u64,
}

const FIRST_REPOLL: std::time::Duration = std::time::Duration::from_millis(1);

impl Wakeup {
    pub fn new(
        committed: Option<tokio::sync::watch::Receiver<crate::event_store::Committed>>,
        idle: std::time::Duration,
    ) -> Self {
        let untracked_done = committed.as_ref().map_or(0, |rx| rx.borrow().untracked);
        Wakeup {
            committed,
            idle,
            next: FIRST_REPOLL,
            untracked_done,
        }
    }

    /// The last poll found events: the next wait starts from a quick re-poll again.
    pub fn progressed(&mut self) {
        self.next = FIRST_REPOLL;
    }

    /// Waits after a poll that found nothing, having read up to transaction `reached`.
    /// Returns false when `shutdown` fired.
    pub async fn wait(
        &mut self,
        shutdown: &tokio_util::sync::CancellationToken,
        reached: u64,
    ) -> bool {
        let (behind, fresh) = match &mut self.committed {
            Some(rx) => {
                let fresh = rx.has_changed().unwrap_or(false);
                let committed = *rx.borrow_and_update();
                let behind =
                    committed.transaction > reached || committed.untracked != self.untracked_done;
                (behind, fresh)
            }
            None => (true, false),
        };
        if behind && fresh {
            // Committed since the last look, and not read yet: read now.
            self.next = FIRST_REPOLL;
            return !shutdown.is_cancelled();
        }
        let delay = if behind {
            let delay = self.next;
            self.next = (self.next * 2).min(self.idle);
            if self.next == self.idle {
                // Re-polled for long enough: an untracked commit's events were read (or are
                // held by the horizon and come with the idle polls).
                if let Some(rx) = &self.committed {
                    self.untracked_done = rx.borrow().untracked;
                }
            }
            delay
        } else {
            self.idle
        };
        let committed = async {
            match &mut self.committed {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = committed => self.next = FIRST_REPOLL,
            () = tokio::time::sleep(delay) => {}
        }
        true
    }
}

#[derive(Clone, Copy, Debug)]
pub struct CatchUp {
    target: u64,
    deadline: std::time::Instant,
}

impl CatchUp {
    /// Starts a catch-up that must finish within `timeout`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn start<'e>(
        executor: impl PgExecutor<'e>,
        timeout: std::time::Duration,
    ) -> Result<Self, sqlx::Error> {
        let horizon = horizon(executor).await?;
        Ok(CatchUp {
            target: horizon.xmax,
            deadline: std::time::Instant::now() + timeout,
        })
    }

    /// Whether every transaction running at the start has finished.
    ///
    /// # Errors
    /// Database errors.
    pub async fn ready<'e>(&self, executor: impl PgExecutor<'e>) -> Result<bool, sqlx::Error> {
        Ok(horizon(executor).await?.xmin >= self.target)
    }

    /// Waits a moment for old transactions to finish.
    ///
    /// # Errors
    /// When the deadline has passed: an open transaction held the horizon throughout.
    pub async fn pause(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            std::time::Instant::now() < self.deadline,
            "an open transaction held the read horizon for the whole catch-up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        Ok(())
    }
}
