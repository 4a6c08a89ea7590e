//! Appending events with optimistic concurrency and idempotent commands, and reading streams.
//!
//! An append is one SQL statement (one round trip): it reads the stream's current version,
//! checks the caller's expectation, records the command's idempotency key and inserts the
//! events. `UNIQUE (stream_id, version)` is the backstop when two writers race past the check:
//! the second fails and nothing it wrote survives. A command's answer is therefore either all of
//! its events committed together or none of them.
//!
//! A command loads its stream, decides and appends. One that begins a stream is decided on the
//! default state and appended expecting no stream, without the load; only if the stream exists
//! after all is it loaded and decided again (`docs/adr/0011`).

use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use sqlx::FromRow;
use tokio::sync::watch;
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::pg::{Pool, Xid8};
use crate::tail::{EVENT_COLUMNS, EventRow, Metadata, Position, RecordedEvent, SharedTail};
use crate::telemetry::names;

/// What the writer believes about the stream before appending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No expectation: append after whatever is there.
    #[default]
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version.
    Exact(u32),
}

impl ExpectedVersion {
    /// Whether a stream that does not exist yet meets this expectation.
    fn allows_no_stream(self) -> bool {
        matches!(
            self,
            ExpectedVersion::Any | ExpectedVersion::NoStream | ExpectedVersion::Exact(0)
        )
    }

    fn as_sql(self) -> Option<i32> {
        match self {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(v) => Some(i32::try_from(v).unwrap_or(i32::MAX)),
        }
    }
}

/// An event ready to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: String,
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// Encodes a domain event.
    pub fn from_domain(event: &impl DomainEvent) -> Self {
        NewEvent {
            event_type: event.event_type().to_owned(),
            payload: event.encode_payload(),
        }
    }
}

/// A command's idempotency key, scoped to the caller, with a hash of the request it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandKey {
    pub scope: String,
    pub key: String,
    pub request_hash: [u8; 32],
}

/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 128;

/// The failpoint between an append's commit and the answer to the caller (feature
/// `failpoints`): the reliability suite crashes a service there.
pub const AFTER_COMMIT_BEFORE_REPLY: &str = "event_store::after_commit_before_reply";

impl CommandKey {
    /// Builds a key for `request` (its encoded bytes) sent to `rpc` by `scope`.
    ///
    /// # Errors
    /// A human-readable reason when `key` is empty, longer than [`MAX_KEY_LEN`] bytes, or has
    /// characters other than printable ASCII.
    pub fn new(scope: &str, key: &str, rpc: &str, request: &[u8]) -> Result<Self, &'static str> {
        if key.is_empty() {
            return Err("must not be empty");
        }
        if key.len() > MAX_KEY_LEN {
            return Err("must be at most 128 characters");
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces");
        }
        let mut hash = Sha256::new();
        hash.update(rpc.as_bytes());
        hash.update([0]);
        hash.update(request);
        Ok(CommandKey {
            scope: scope.to_owned(),
            key: key.to_owned(),
            request_hash: hash.finalize().into(),
        })
    }
}

/// One stored event of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedEvent {
    pub event_id: Uuid,
    pub version: u32,
    pub position: Position,
}

/// The answer to an append or a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub stream_id: Uuid,
    /// The stream's version after the command.
    pub version: u32,
    pub events: Vec<AppendedEvent>,
    /// True when this is the recorded answer to an earlier call with the same key.
    pub replayed: bool,
}

impl Appended {
    /// Position of the last event, to wait on for read-your-writes.
    pub fn position(&self) -> Option<Position> {
        self.events.last().map(|e| e.position)
    }

    /// The shared gRPC answer to a command.
    pub fn receipt(&self) -> proto::common::v1::CommandReceipt {
        proto::common::v1::CommandReceipt {
            stream_id: self.stream_id.to_string(),
            version: u64::from(self.version),
            event_ids: self.events.iter().map(|e| e.event_id.to_string()).collect(),
            position: self.position().map(Into::into),
            replayed: self.replayed,
        }
    }
}

/// Why an append wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("expected the stream at {expected:?} but it is at version {actual}")]
    WrongExpectedVersion {
        expected: ExpectedVersion,
        actual: u32,
    },
    #[error("the idempotency key was already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a command wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<R: std::error::Error + 'static> {
    #[error("rejected: {0}")]
    Rejected(#[source] R),
    /// The caller's expected version did not match, or concurrent writers kept winning.
    #[error("expected the stream at {expected:?} but it is at version {actual}")]
    Conflict {
        expected: ExpectedVersion,
        actual: u32,
    },
    #[error("the idempotency key was already used for a different request")]
    KeyReused,
    /// The id belongs to a stream of another aggregate type.
    #[error("stream {0} is not of this aggregate type")]
    WrongStreamType(Uuid),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A failed append as the answer to a command: a version that did not hold is a conflict.
impl<R: std::error::Error + 'static> From<AppendError> for ExecuteError<R> {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::WrongExpectedVersion { expected, actual } => {
                ExecuteError::Conflict { expected, actual }
            }
            AppendError::KeyReused => ExecuteError::KeyReused,
            AppendError::Unexpected(e) => ExecuteError::Unexpected(e),
        }
    }
}

/// Everything about a command that is not the command itself.
#[derive(Clone, Debug, Default)]
pub struct CommandContext {
    pub metadata: Metadata,
    pub key: Option<CommandKey>,
    /// `Any` lets the store retry a command that lost a race against a fresh state; an explicit
    /// expectation from the caller is never retried.
    pub expected: ExpectedVersion,
}

/// How many times a command with no explicit expectation is re-decided after losing a race.
const MAX_ATTEMPTS: usize = 5;

/// One service's event store.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: Pool,
    appended: watch::Sender<Committed>,
    tail: Arc<SharedTail>,
}

/// What in-process tailers (relays, projection runners) learn of this process's commits, so
/// they wake at once instead of waiting for their next poll, and know when they have read
/// everything this process committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// The highest transaction id in which this process committed events through
    /// [`EventStore::append`] or a [`UnitOfWork`].
    pub transaction: u64,
    /// How many commits have been announced whose transaction id is not known: events
    /// appended inside another component's transaction (a policy consumer's, a translator's),
    /// announced with [`EventStore::committed_elsewhere`].
    pub untracked: u64,
}

#[derive(FromRow)]
struct AppendRow {
    current_version: i32,
    expected_ok: bool,
    event_id: Option<Uuid>,
    transaction_id: Option<Xid8>,
    position: Option<i64>,
    version: Option<i32>,
}

#[derive(FromRow)]
struct CommandRow {
    request_hash: Vec<u8>,
    stream_id: Uuid,
    first_version: i32,
    last_version: i32,
}

const APPEND_SQL: &str = "
WITH current AS (
    SELECT coalesce(max(version), 0) AS version FROM events WHERE stream_id = $1
), checked AS (
    SELECT version FROM current WHERE $4::integer IS NULL OR version = $4
), command AS (
    INSERT INTO commands (scope, idempotency_key, request_hash, stream_id, first_version, last_version)
    SELECT $14, $15, $16, $1, checked.version + 1, checked.version + cardinality($5::uuid[])
    FROM checked
    WHERE $15::text IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
), inserted AS (
    INSERT INTO events (event_id, stream_type, stream_id, version, event_type, payload, correlation_id,
                        causation_id, actor, traceparent, tracestate, policy_version, calendar_version)
    SELECT e.event_id, $2, $1, checked.version + e.ordinality::integer, e.event_type, e.payload,
           $7, $8, $9, $10, $11, $12, $13
    FROM checked,
         unnest($5::uuid[], $6::text[], $3::bytea[]) WITH ORDINALITY AS e(event_id, event_type, payload, ordinality)
    WHERE $15::text IS NULL OR EXISTS (SELECT FROM command)
    RETURNING event_id, transaction_id, position, version
)
SELECT current.version AS current_version,
       EXISTS (SELECT FROM checked) AS expected_ok,
       i.event_id, i.transaction_id, i.position, i.version
FROM current LEFT JOIN inserted AS i ON true
ORDER BY i.version";

impl EventStore {
    /// A store over a pool whose `search_path` is the service's schema.
    pub fn new(pool: Pool) -> Self {
        let (appended, _) = watch::channel(Committed::default());
        EventStore {
            pool,
            appended,
            tail: Arc::default(),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// [`tail::read_after`](crate::tail::read_after) over the store's pool, shared by every
    /// tailer of this store (and its clones) in the process: one read of the log's end answers
    /// all the tailers a commit wakes (see [`SharedTail`]).
    ///
    /// # Errors
    /// Database errors.
    pub async fn read_after(
        &self,
        after: Position,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        self.tail.read_after(&self.pool, after, limit).await
    }

    /// What the store's tailers share (for its counters).
    pub fn shared_tail(&self) -> &SharedTail {
        &self.tail
    }

    /// Changes after every append this process commits (see [`Committed`]).
    pub fn appended(&self) -> watch::Receiver<Committed> {
        self.appended.subscribe()
    }

    /// Announces a commit of a transaction that may have appended events through
    /// [`within`], whose id the caller does not know.
    pub fn committed_elsewhere(&self) {
        self.appended
            .send_modify(|c| c.untracked = c.untracked.wrapping_add(1));
    }

    fn committed(&self, transaction: Option<u64>) {
        match transaction {
            Some(transaction) => self.appended.send_modify(|c| {
                c.transaction = c.transaction.max(transaction);
            }),
            None => self.committed_elsewhere(),
        }
    }

    /// Appends `events` to a stream in one transaction.
    ///
    /// With a `key`, a retry returns the first call's answer (`replayed: true`) and writes
    /// nothing; the same key with another request hash is refused.
    ///
    /// # Errors
    /// [`AppendError::WrongExpectedVersion`] when `expected` does not hold (including a
    /// concurrent writer winning the race), [`AppendError::KeyReused`], and database errors.
    #[tracing::instrument(skip_all, fields(%stream_type, %stream_id, events = events.len()))]
    pub async fn append(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        expected: ExpectedVersion,
        events: &[NewEvent],
        metadata: &Metadata,
        key: Option<&CommandKey>,
    ) -> Result<Appended, AppendError> {
        let stream = StreamAppend {
            stream_type,
            stream_id,
            expected,
            events,
        };
        let result = append_one(&self.pool, &stream, metadata, key).await;
        let appended = match result {
            Ok(Applied::Inserted(appended)) => appended,
            Ok(Applied::Refused { actual }) | Err(StatementError::Conflict { actual }) => {
                // A retry answers with the recorded result, whatever the stream's version is
                // now; a concurrent writer that won may have been this command's own attempt.
                if let Some(original) = self.find_recorded(key).await? {
                    return Ok(original);
                }
                let actual = match actual {
                    Some(actual) => actual,
                    None => self.current_version(stream_id).await?,
                };
                return Err(AppendError::WrongExpectedVersion { expected, actual });
            }
            Ok(Applied::KeyRecorded) => {
                return self.find_recorded(key).await?.ok_or_else(|| {
                    anyhow::anyhow!("the key was recorded by a transaction that left no record")
                        .into()
                });
            }
            Err(StatementError::Database(e)) => {
                return Err(e.context("Failed to append events").into());
            }
        };
        // Committed, not yet answered: a crash here leaves the caller with an unknown outcome
        // that its retry with the same key must resolve from the command record.
        fail::fail_point!(AFTER_COMMIT_BEFORE_REPLY, |_| Err(anyhow::anyhow!(
            "failpoint {AFTER_COMMIT_BEFORE_REPLY}"
        )
        .into()));
        self.committed(appended.position().map(|p| p.transaction));
        metrics::counter!(names::EVENTS_APPENDED_TOTAL, "stream_type" => stream_type.to_owned())
            .increment(appended.events.len() as u64);
        Ok(appended)
    }

    /// Starts a command that writes several streams atomically.
    pub fn unit_of_work(&self) -> UnitOfWork<'_> {
        UnitOfWork {
            store: self,
            staged: Vec::new(),
        }
    }

    /// The recorded answer for `key`, if it was used before.
    ///
    /// # Errors
    /// [`AppendError::KeyReused`] when the key was used with another request; database errors.
    pub async fn find_command(&self, key: &CommandKey) -> Result<Option<Appended>, AppendError> {
        let row: Option<CommandRow> = sqlx::query_as(
            "SELECT request_hash, stream_id, first_version, last_version FROM commands
             WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to look up an idempotency key"))?;
        let Some(row) = row else { return Ok(None) };
        if row.request_hash != key.request_hash {
            return Err(AppendError::KeyReused);
        }
        let events: Vec<(Uuid, i32, Xid8, i64)> = sqlx::query_as(
            "SELECT event_id, version, transaction_id, position FROM events
             WHERE stream_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version",
        )
        .bind(row.stream_id)
        .bind(row.first_version)
        .bind(row.last_version)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| anyhow::Error::new(e).context("Failed to read a command's events"))?;
        Ok(Some(Appended {
            stream_id: row.stream_id,
            version: row.last_version.unsigned_abs(),
            events: events
                .into_iter()
                .map(|(event_id, version, tx, sequence)| AppendedEvent {
                    event_id,
                    version: version.unsigned_abs(),
                    position: Position {
                        transaction: tx.0,
                        sequence,
                    },
                })
                .collect(),
            replayed: true,
        }))
    }

    async fn find_recorded(
        &self,
        key: Option<&CommandKey>,
    ) -> Result<Option<Appended>, AppendError> {
        match key {
            Some(key) => self.find_command(key).await,
            None => Ok(None),
        }
    }

    async fn current_version(&self, stream_id: Uuid) -> anyhow::Result<u32> {
        let version: i32 =
            sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unsigned_abs())
    }

    /// Every event of a stream after `after_version`, in version order.
    ///
    /// # Errors
    /// Database errors.
    pub async fn read_stream(
        &self,
        stream_id: Uuid,
        after_version: u32,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        read_stream_from(&self.pool, stream_id, after_version).await
    }

    /// Folds an aggregate's stream into its state. A stream that does not exist gives the
    /// default state at version 0.
    ///
    /// # Errors
    /// [`ExecuteError::WrongStreamType`] when the id belongs to another aggregate type; an
    /// unexpected error when a stored event cannot be decoded.
    pub async fn load<A: Aggregate>(
        &self,
        stream_id: Uuid,
    ) -> Result<(A, u32), ExecuteError<A::Rejection>> {
        load_from(&self.pool, stream_id).await
    }

    /// Runs a command: load, decide, append, with idempotency and bounded retries. A command
    /// that [begins a stream](Aggregate::starts_stream) is first decided on the default state
    /// and appended expecting no stream, which saves the load when the stream is new.
    ///
    /// A retry of a command whose key was recorded returns the recorded answer even when the
    /// aggregate would now reject the command (it already happened). A command that produces no
    /// events returns the current version and records nothing.
    ///
    /// # Errors
    /// See [`ExecuteError`].
    #[tracing::instrument(skip_all, fields(stream_type = A::STREAM_TYPE, %stream_id))]
    pub async fn execute<A>(
        &self,
        stream_id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Appended, ExecuteError<A::Rejection>>
    where
        A: Aggregate,
        A::Command: Clone,
    {
        let started = Instant::now();
        let result = self.execute_inner::<A>(stream_id, command, context).await;
        let outcome = match &result {
            Ok(a) if a.replayed => "replayed",
            Ok(_) => "ok",
            Err(ExecuteError::Rejected(_)) => "rejected",
            Err(ExecuteError::Conflict { .. }) => "conflict",
            Err(ExecuteError::KeyReused) => "key_reused",
            Err(ExecuteError::WrongStreamType(_)) => "not_found",
            Err(ExecuteError::Unexpected(_)) => "error",
        };
        metrics::histogram!(names::COMMAND_DURATION_SECONDS, "stream_type" => A::STREAM_TYPE, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        // So the conflict series exists (at 0) for every stream type that takes commands.
        metrics::counter!(names::APPEND_CONFLICTS_TOTAL, "stream_type" => A::STREAM_TYPE)
            .increment(0);
        result
    }

    async fn execute_inner<A>(
        &self,
        stream_id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Appended, ExecuteError<A::Rejection>>
    where
        A: Aggregate,
        A::Command: Clone,
    {
        if A::starts_stream(&command)
            && context.expected.allows_no_stream()
            && let Some(answer) = self
                .execute_on_no_stream::<A>(stream_id, command.clone(), context)
                .await
        {
            return answer;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (state, version) = self.load::<A>(stream_id).await?;
            let stale = match context.expected {
                ExpectedVersion::Any => false,
                ExpectedVersion::NoStream => version != 0,
                ExpectedVersion::Exact(expected) => version != expected,
            };
            if stale {
                let conflict = ExecuteError::Conflict {
                    expected: context.expected,
                    actual: version,
                };
                return self.recorded_or(context, Err(conflict)).await;
            }
            let events = match state.decide(command.clone()) {
                Ok(events) => events,
                Err(rejection) => {
                    return self
                        .recorded_or(context, Err(ExecuteError::Rejected(rejection)))
                        .await;
                }
            };
            if events.is_empty() {
                let unchanged = Appended {
                    stream_id,
                    version,
                    events: Vec::new(),
                    replayed: false,
                };
                return self.recorded_or(context, Ok(unchanged)).await;
            }
            let new_events: Vec<NewEvent> = events.iter().map(NewEvent::from_domain).collect();
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            match self
                .append(
                    A::STREAM_TYPE,
                    stream_id,
                    expected,
                    &new_events,
                    &context.metadata,
                    context.key.as_ref(),
                )
                .await
            {
                Ok(appended) => return Ok(appended),
                Err(AppendError::WrongExpectedVersion { actual, .. }) => {
                    metrics::counter!(names::APPEND_CONFLICTS_TOTAL, "stream_type" => A::STREAM_TYPE).increment(1);
                    if context.expected != ExpectedVersion::Any || attempt >= MAX_ATTEMPTS {
                        return Err(ExecuteError::Conflict {
                            expected: context.expected,
                            actual,
                        });
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// A command that begins a stream, decided on the default state and appended expecting no
    /// stream, without a load: the append's version check confirms the state it was decided on.
    /// `None` when this cannot answer and the command must be loaded and decided as usual: the
    /// default state rejects it or it changes nothing (the stored state may differ), or the
    /// stream exists. A retry of a recorded command is answered here, by the append.
    async fn execute_on_no_stream<A: Aggregate>(
        &self,
        stream_id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Option<Result<Appended, ExecuteError<A::Rejection>>> {
        let events = match A::default().decide(command) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) | Err(_) => return None,
        };
        let events: Vec<NewEvent> = events.iter().map(NewEvent::from_domain).collect();
        let appended = self
            .append(
                A::STREAM_TYPE,
                stream_id,
                ExpectedVersion::NoStream,
                &events,
                &context.metadata,
                context.key.as_ref(),
            )
            .await;
        match appended {
            Ok(appended) => Some(Ok(appended)),
            Err(AppendError::WrongExpectedVersion { .. }) => None,
            Err(other) => Some(Err(other.into())),
        }
    }

    /// The recorded answer when the command's key was used before, otherwise `answer`: a retry
    /// of a command that already happened answers as it did then.
    async fn recorded_or<R: std::error::Error + 'static>(
        &self,
        context: &CommandContext,
        answer: Result<Appended, ExecuteError<R>>,
    ) -> Result<Appended, ExecuteError<R>> {
        match self.recorded(context).await? {
            Some(original) => Ok(original),
            None => answer,
        }
    }

    async fn recorded<R: std::error::Error + 'static>(
        &self,
        context: &CommandContext,
    ) -> Result<Option<Appended>, ExecuteError<R>> {
        let Some(key) = &context.key else {
            return Ok(None);
        };
        Ok(self.find_command(key).await?)
    }
}

/// Every event of a stream after `after_version`, read through `executor`.
async fn read_stream_from<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    stream_id: Uuid,
    after_version: u32,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version"
    );
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(i32::try_from(after_version).unwrap_or(i32::MAX))
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(RecordedEvent::from).collect())
}

/// Folds an aggregate's stream read through `executor` (a pool, or a transaction that must see
/// its own writes).
async fn load_from<'e, A: Aggregate>(
    executor: impl sqlx::PgExecutor<'e>,
    stream_id: Uuid,
) -> Result<(A, u32), ExecuteError<A::Rejection>> {
    let rows: Vec<(String, i32, String, Vec<u8>)> = sqlx::query_as(
        "SELECT stream_type, version, event_type, payload FROM events WHERE stream_id = $1 ORDER BY version",
    )
    .bind(stream_id)
    .fetch_all(executor)
    .await
    .map_err(|e| anyhow::Error::new(e).context("Failed to load a stream"))?;
    let mut state = A::default();
    let mut version = 0;
    for (stream_type, v, event_type, payload) in rows {
        if stream_type != A::STREAM_TYPE {
            return Err(ExecuteError::WrongStreamType(stream_id));
        }
        let event = A::Event::decode(&event_type, &payload).map_err(|e| {
            anyhow::Error::new(e)
                .context(format!("Failed to decode event {v} of stream {stream_id}"))
        })?;
        state = state.evolve(&event);
        version = v.unsigned_abs();
    }
    Ok((state, version))
}

/// Commands run inside a transaction the caller owns, so their events commit together with
/// whatever else it writes: a consumer's inbox record, or a second command.
///
/// There is no idempotency key and no retry here. The caller's transaction is the unit: when a
/// concurrent writer wins the race the append fails with [`ExecuteError::Conflict`] (the
/// transaction is then aborted and must be rolled back), and the caller retries it whole; a
/// consumer does that by redelivering the message, whose inbox record keeps the effect single.
/// In-process tailers are not woken early unless whoever commits the transaction calls
/// [`EventStore::committed_elsewhere`] after the commit; otherwise they see these events on
/// their next poll.
pub mod within {
    use sqlx::PgConnection;
    use uuid::Uuid;

    use super::{
        AppendError, Appended, Applied, ExecuteError, ExpectedVersion, NewEvent, StatementError,
        StreamAppend, append_one,
    };
    use crate::aggregate::Aggregate;
    use crate::tail::Metadata;
    use crate::telemetry::names;

    /// Every event of a stream after `after_version`, as `conn`'s transaction sees it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn read_stream(
        conn: &mut PgConnection,
        stream_id: Uuid,
        after_version: u32,
    ) -> Result<Vec<crate::tail::RecordedEvent>, sqlx::Error> {
        super::read_stream_from(&mut *conn, stream_id, after_version).await
    }

    /// Folds an aggregate's stream as `conn`'s transaction sees it.
    ///
    /// # Errors
    /// As [`super::EventStore::load`].
    pub async fn load<A: Aggregate>(
        conn: &mut PgConnection,
        stream_id: Uuid,
    ) -> Result<(A, u32), ExecuteError<A::Rejection>> {
        super::load_from(&mut *conn, stream_id).await
    }

    /// Loads, decides and appends in `conn`'s transaction. A command that decides no events
    /// writes nothing and answers the current version.
    ///
    /// # Errors
    /// [`ExecuteError::Rejected`], [`ExecuteError::Conflict`] when another writer appended to
    /// the stream first, [`ExecuteError::WrongStreamType`], and database errors.
    pub async fn execute<A: Aggregate>(
        conn: &mut PgConnection,
        stream_id: Uuid,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Appended, ExecuteError<A::Rejection>> {
        let (state, version) = load::<A>(conn, stream_id).await?;
        let events = state.decide(command).map_err(ExecuteError::Rejected)?;
        if events.is_empty() {
            return Ok(Appended {
                stream_id,
                version,
                events: Vec::new(),
                replayed: false,
            });
        }
        let events: Vec<NewEvent> = events.iter().map(NewEvent::from_domain).collect();
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        Ok(append(conn, A::STREAM_TYPE, stream_id, expected, &events, metadata).await?)
    }

    /// Appends `events` to one stream in `conn`'s transaction.
    ///
    /// # Errors
    /// [`AppendError::WrongExpectedVersion`] when `expected` does not hold (the transaction is
    /// aborted when a concurrent writer inserted the same version), and database errors.
    pub async fn append(
        conn: &mut PgConnection,
        stream_type: &str,
        stream_id: Uuid,
        expected: ExpectedVersion,
        events: &[NewEvent],
        metadata: &Metadata,
    ) -> Result<Appended, AppendError> {
        let stream = StreamAppend {
            stream_type,
            stream_id,
            expected,
            events,
        };
        match append_one(&mut *conn, &stream, metadata, None).await {
            Ok(Applied::Inserted(appended)) => {
                metrics::counter!(names::EVENTS_APPENDED_TOTAL, "stream_type" => stream_type.to_owned())
                    .increment(appended.events.len() as u64);
                Ok(appended)
            }
            Ok(Applied::Refused { actual }) => Err(AppendError::WrongExpectedVersion {
                expected,
                actual: actual.unwrap_or(0),
            }),
            Err(StatementError::Conflict { actual }) => Err(AppendError::WrongExpectedVersion {
                expected,
                actual: actual.unwrap_or(0),
            }),
            Ok(Applied::KeyRecorded) => Err(AppendError::Unexpected(anyhow::anyhow!(
                "an append without a key reported a recorded key"
            ))),
            Err(StatementError::Database(e)) => {
                Err(e.context("Failed to append events in a transaction").into())
            }
        }
    }
}

/// One stream's part of an append.
#[derive(Clone, Copy, Debug)]
struct StreamAppend<'a> {
    stream_type: &'a str,
    stream_id: Uuid,
    expected: ExpectedVersion,
    events: &'a [NewEvent],
}

/// What one append statement did.
enum Applied {
    Inserted(Appended),
    /// The expected version did not hold; `actual` is the stream's version then.
    Refused {
        actual: Option<u32>,
    },
    /// The checks passed but the key was already recorded: nothing was inserted.
    KeyRecorded,
}

enum StatementError {
    /// A concurrent writer inserted the same version first.
    Conflict {
        actual: Option<u32>,
    },
    Database(anyhow::Error),
}

/// Runs the one-statement append on `executor` (the pool for a single stream, or a transaction).
async fn append_one<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    stream: &StreamAppend<'_>,
    metadata: &Metadata,
    key: Option<&CommandKey>,
) -> Result<Applied, StatementError> {
    if stream.events.is_empty() {
        return Err(StatementError::Database(anyhow::anyhow!(
            "an append needs at least one event"
        )));
    }
    let ids: Vec<Uuid> = stream.events.iter().map(|_| Uuid::now_v7()).collect();
    let types: Vec<&str> = stream
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    let payloads: Vec<&[u8]> = stream.events.iter().map(|e| e.payload.as_slice()).collect();
    let result = sqlx::query_as::<_, AppendRow>(APPEND_SQL)
        .bind(stream.stream_id)
        .bind(stream.stream_type)
        .bind(&payloads)
        .bind(stream.expected.as_sql())
        .bind(&ids)
        .bind(&types)
        .bind(metadata.correlation_id)
        .bind(metadata.causation_id)
        .bind(&metadata.actor)
        .bind(&metadata.traceparent)
        .bind(&metadata.tracestate)
        .bind(&metadata.policy_version)
        .bind(&metadata.calendar_version)
        .bind(key.map(|k| k.scope.as_str()))
        .bind(key.map(|k| k.key.as_str()))
        .bind(key.map(|k| k.request_hash.as_slice()))
        .fetch_all(executor)
        .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("events_stream_version") => {
            return Err(StatementError::Conflict { actual: None });
        }
        Err(e) => return Err(StatementError::Database(e.into())),
    };
    // The final SELECT always yields at least one row: `current` has exactly one.
    let Some(first) = rows.first() else {
        return Err(StatementError::Database(anyhow::anyhow!(
            "append returned no rows"
        )));
    };
    if first.event_id.is_none() {
        return Ok(if first.expected_ok {
            Applied::KeyRecorded
        } else {
            Applied::Refused {
                actual: Some(first.current_version.unsigned_abs()),
            }
        });
    }
    let events = rows
        .iter()
        .map(
            |row| match (row.event_id, row.transaction_id, row.position, row.version) {
                (Some(event_id), Some(tx), Some(sequence), Some(version)) => Ok(AppendedEvent {
                    event_id,
                    version: version.unsigned_abs(),
                    position: Position {
                        transaction: tx.0,
                        sequence,
                    },
                }),
                _ => Err(StatementError::Database(anyhow::anyhow!(
                    "append returned a partial row"
                ))),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    let version = events.last().map_or(0, |e| e.version);
    Ok(Applied::Inserted(Appended {
        stream_id: stream.stream_id,
        version,
        events,
        replayed: false,
    }))
}

/// A command that writes several streams in one transaction, e.g. a complaint and the
/// publication hold it places on its inspection: both commit, or neither does.
///
/// The idempotency key and the command's answer belong to the LAST staged stream, so stage the
/// stream the caller asked about last.
#[derive(Debug)]
pub struct UnitOfWork<'s> {
    store: &'s EventStore,
    staged: Vec<(String, Uuid, ExpectedVersion, Vec<NewEvent>)>,
}

impl UnitOfWork<'_> {
    /// Adds events for one stream; appending nothing for a stream is allowed and skipped.
    pub fn stage(
        &mut self,
        stream_type: &str,
        stream_id: Uuid,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) {
        if !events.is_empty() {
            self.staged
                .push((stream_type.to_owned(), stream_id, expected, events));
        }
    }

    /// Stages a decided aggregate's events.
    pub fn stage_events<A: Aggregate>(
        &mut self,
        stream_id: Uuid,
        expected: ExpectedVersion,
        events: &[A::Event],
    ) {
        self.stage(
            A::STREAM_TYPE,
            stream_id,
            expected,
            events.iter().map(NewEvent::from_domain).collect(),
        );
    }

    /// Commits every staged stream atomically. Returns one answer per staged stream, the last
    /// being the command's; a retry with a recorded key returns only the recorded answer.
    ///
    /// # Errors
    /// [`AppendError::WrongExpectedVersion`] when any stream's expectation fails (nothing is
    /// written), [`AppendError::KeyReused`], and database errors.
    pub async fn commit(
        self,
        metadata: &Metadata,
        key: Option<&CommandKey>,
    ) -> Result<Vec<Appended>, AppendError> {
        let unexpected = |e: sqlx::Error| {
            AppendError::Unexpected(
                anyhow::Error::new(e).context("Failed to commit a unit of work"),
            )
        };
        let count = self.staged.len();
        // One stream's append is one statement, atomic by itself: it needs no transaction
        // around it, which saves two round trips.
        let mut tx = if count > 1 {
            Some(self.store.pool.begin().await.map_err(unexpected)?)
        } else {
            None
        };
        let mut answers = Vec::with_capacity(count);
        for (i, (stream_type, stream_id, expected, events)) in self.staged.iter().enumerate() {
            let stream = StreamAppend {
                stream_type,
                stream_id: *stream_id,
                expected: *expected,
                events,
            };
            let stream_key = if i + 1 == count { key } else { None };
            let applied = match tx.as_mut() {
                Some(tx) => append_one(&mut **tx, &stream, metadata, stream_key).await,
                None => append_one(&self.store.pool, &stream, metadata, stream_key).await,
            };
            match applied {
                Ok(Applied::Inserted(appended)) => answers.push(appended),
                Ok(Applied::Refused { actual }) | Err(StatementError::Conflict { actual }) => {
                    drop(tx);
                    if let Some(original) = self.store.find_recorded(key).await? {
                        return Ok(vec![original]);
                    }
                    let actual = match actual {
                        Some(actual) => actual,
                        None => self.store.current_version(*stream_id).await?,
                    };
                    return Err(AppendError::WrongExpectedVersion {
                        expected: *expected,
                        actual,
                    });
                }
                Ok(Applied::KeyRecorded) => {
                    drop(tx);
                    return self
                        .store
                        .find_recorded(key)
                        .await?
                        .map(|a| vec![a])
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "the key was recorded by a transaction that left no record"
                            )
                            .into()
                        });
                }
                Err(StatementError::Database(e)) => {
                    return Err(e.context("Failed to commit a unit of work").into());
                }
            }
        }
        if let Some(tx) = tx {
            tx.commit().await.map_err(unexpected)?;
        }
        fail::fail_point!(AFTER_COMMIT_BEFORE_REPLY, |_| Err(anyhow::anyhow!(
            "failpoint {AFTER_COMMIT_BEFORE_REPLY}"
        )
        .into()));
        self.store.committed(
            answers
                .iter()
                .filter_map(|a| a.position().map(|p| p.transaction))
                .max(),
        );
        for (appended, (stream_type, ..)) in answers.iter().zip(&self.staged) {
            metrics::counter!(names::EVENTS_APPENDED_TOTAL, "stream_type" => stream_type.clone())
                .increment(appended.events.len() as u64);
        }
        Ok(answers)
    }
}
