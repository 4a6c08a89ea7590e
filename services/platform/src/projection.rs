//! Projections: read models kept in PostgreSQL from the service's own log, exactly once in effect.
//!
//! A runner reads a page of the log in tail order, then in ONE transaction moves its checkpoint
//! row, in a statement that locks it and checks nobody else moved it, and applies the page. An
//! event's effect and the checkpoint that records it commit together, so a crash at any point
//! either keeps both or neither, and replicas racing for the same projection serialise on the
//! row lock.
//!
//! A read model is a function of the service's events alone, so it can always be rebuilt:
//! [`ProjectionRunner::rebuild`] replays the log into fresh tables in a scratch schema while the
//! live tables keep serving, then swaps them in under the checkpoint lock.
//!
//! For the same reason a rebuildable projection's transactions commit without waiting for their
//! WAL flush (`synchronous_commit = off` for that transaction alone; ADR 0009, `docs/adr`). A crash can lose
//! its last commits, the read model and its checkpoint together, and the runner applies those
//! events again; the events themselves were committed durably before it could read them, and
//! any durable commit made after seeing the read model flushes it too. A projection whose
//! output is durable (not rebuildable) commits durably.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::event_store::EventStore;
use crate::pg::{Pool, Xid8, validate_schema_name};
use crate::tail::{self, CatchUp, Position, RecordedEvent, Wakeup};
use crate::telemetry::names;

/// A read model.
pub trait Projection: Send + Sync + 'static {
    /// Stable name; the checkpoint is stored as `projection.<name>`.
    fn name(&self) -> &'static str;

    /// Bump when the tables or what `apply` writes change: the runner then rebuilds.
    fn version(&self) -> i32;

    /// The tables this projection owns; a rebuild replaces exactly these.
    fn tables(&self) -> &'static [&'static str];

    /// SQL creating the tables with unqualified names (it runs with the target schema first on
    /// the search path).
    fn create_tables(&self) -> &'static str;

    /// Whether the projection may be replayed from the start of the log. A read model may; a
    /// translator whose output is itself durable and numbered (the independent body's feed, appended
    /// to the log as it goes) must not, or its output would be written twice. For such a
    /// projection a changed `version()` stops the service at start and `rebuild` is refused, and
    /// its transactions commit durably (a rebuildable one's need not wait for the WAL flush).
    fn rebuildable(&self) -> bool {
        true
    }

    /// The stream types whose events this projection reads, or `None` for every event. The
    /// runner hands `apply` only events of these types, and moves past a page holding none of
    /// them without a transaction (saving that checkpoint later, see [`ProjectionRunner::run`]).
    fn stream_types(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Whether the projection reads `event`, one of its [`stream_types`](Self::stream_types):
    /// by default every one. The runner hands `apply` only events it reads, and moves past a
    /// page without one the same way as past other stream types. Cheap: it runs for every event
    /// of those stream types.
    fn reads(&self, event: &RecordedEvent) -> bool {
        let _ = event;
        true
    }

    /// Whether `apply` appends events to the log (a translator does): after each commit the
    /// runner then wakes the service's other tailers (its relays) at once.
    fn appends_events(&self) -> bool {
        false
    }

    /// Applies events, in log order, inside the runner's transaction.
    fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What an operator sees of a projection without running it: `redress projections list` shows
/// these, and each service lists its projections as these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectionInfo {
    /// [`Projection::name`]; the checkpoint is `projection.<name>`.
    pub name: &'static str,
    /// [`Projection::version`] in this build.
    pub version: i32,
    /// [`Projection::tables`].
    pub tables: &'static [&'static str],
    /// [`Projection::rebuildable`].
    pub rebuildable: bool,
}

impl ProjectionInfo {
    /// The description of `projection`.
    pub fn of(projection: &impl Projection) -> Self {
        ProjectionInfo {
            name: projection.name(),
            version: projection.version(),
            tables: projection.tables(),
            rebuildable: projection.rebuildable(),
        }
    }

    /// The name of the projection's checkpoint row.
    pub fn checkpoint_name(&self) -> String {
        format!("projection.{}", self.name)
    }
}

/// Declares a service's projections by name, for operators (`redress projections`): a function
/// `projections()` listing each one's [`ProjectionInfo`], in the order given, and
/// `rebuild_projection(store, schema, name, progress)`, which replays the log into new tables for
/// the projection called `name` and swaps them in (see [`ProjectionRunner::rebuild`]), returning
/// how many events it replayed, or `None` when no projection has that name. A projection whose
/// output is durable is listed, and its rebuild refused.
///
/// ```ignore
/// platform::projection_registry! { InspectionsProjection, Complaints, Deadlines }
/// ```
#[macro_export]
macro_rules! projection_registry {
    ($($projection:expr),+ $(,)?) => {
        /// The service's projections, in the order it starts them.
        pub fn projections() -> ::std::vec::Vec<$crate::projection::ProjectionInfo> {
            ::std::vec![$($crate::projection::ProjectionInfo::of(&$projection)),+]
        }

        /// Replays the log into new tables for the projection `name` (one of [`projections`]) in
        /// `schema`, and swaps them in; see
        #[doc = "[`ProjectionRunner::rebuild`](platform::projection::ProjectionRunner::rebuild)."]
        /// Returns how many events it replayed, or `None` when the service has no projection of
        /// that name.
        ///
        /// # Errors
        /// A projection whose output is durable (it cannot be rebuilt); database errors and
        /// errors applying an event, which leave the live tables untouched.
        pub async fn rebuild_projection(
            store: &$crate::event_store::EventStore,
            schema: &str,
            name: &str,
            progress: impl FnMut($crate::projection::RebuildProgress),
        ) -> ::anyhow::Result<::std::option::Option<u64>> {
            use $crate::projection::Projection as _;
            match name {
                $(
                    n if n == $projection.name() => {
                        let runner = $crate::projection::ProjectionRunner::new(store, schema, $projection)?;
                        ::std::result::Result::Ok(::std::option::Option::Some(runner.rebuild(progress).await?))
                    }
                )+
                _ => ::std::result::Result::Ok(::std::option::Option::None),
            }
        }
    };
}

/// Progress of a rebuild, reported after every batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RebuildProgress {
    pub done: u64,
    /// Events in the log when the rebuild started (the log may grow meanwhile).
    pub total: u64,
    pub elapsed: Duration,
}

/// Keeps one projection up to date.
#[derive(Debug)]
pub struct ProjectionRunner<P> {
    store: EventStore,
    pool: Pool,
    schema: String,
    projection: Arc<P>,
    page_size: i64,
    idle_poll: Duration,
    applied: watch::Sender<Position>,
}

/// How long a runner may hold, unsaved, a checkpoint it moved past events it does not read;
/// at most this much of the log is read again after a restart.
const SAVE_SKIPPED_AFTER: Duration = Duration::from_millis(250);

/// How often a running projection refreshes its lag gauge.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(1);

/// Where a running projection stands: what its checkpoint row holds, and how far it has read.
/// `reached` runs ahead of `saved` only over events the projection does not read.
#[derive(Clone, Copy, Debug)]
struct Progress {
    saved: Position,
    reached: Position,
    /// When `reached` first ran ahead of `saved`.
    unsaved_since: Option<Instant>,
}

impl<P: Projection> ProjectionRunner<P> {
    /// A runner for `projection` over the store's log; tables live in `schema`.
    ///
    /// # Errors
    /// When the schema name is invalid.
    pub fn new(store: &EventStore, schema: &str, projection: P) -> anyhow::Result<Self> {
        validate_schema_name(schema)?;
        let (applied, _) = watch::channel(Position::START);
        Ok(ProjectionRunner {
            store: store.clone(),
            pool: store.pool().clone(),
            schema: schema.to_owned(),
            projection: Arc::new(projection),
            page_size: 500,
            idle_poll: Duration::from_millis(100),
            applied,
        })
    }

    fn checkpoint_name(&self) -> String {
        format!("projection.{}", self.projection.name())
    }

    /// The position this runner has applied up to, updated after every commit.
    pub fn applied(&self) -> watch::Receiver<Position> {
        self.applied.subscribe()
    }

    /// Creates the tables and checkpoint on first start, and rebuilds when the stored version
    /// differs from the code's.
    ///
    /// # Errors
    /// Database errors, or a failed rebuild.
    pub async fn init(&self) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('redress.projection.init.' || $1))")
            .bind(self.checkpoint_name())
            .execute(&mut *tx)
            .await?;
        let stored: Option<i32> =
            sqlx::query_scalar("SELECT projection_version FROM checkpoints WHERE name = $1")
                .bind(self.checkpoint_name())
                .fetch_optional(&mut *tx)
                .await?;
        match stored {
            None => {
                sqlx::raw_sql(AssertSqlSafe(self.projection.create_tables()))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO checkpoints (name, projection_version) VALUES ($1, $2)")
                    .bind(self.checkpoint_name())
                    .bind(self.projection.version())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Some(version) if version == self.projection.version() => tx.commit().await?,
            Some(version) if !self.projection.rebuildable() => {
                anyhow::bail!(
                    "projection {} is at version {version} but the code is at {}, and it cannot be rebuilt: \
                     its output is durable; migrate it explicitly",
                    self.projection.name(),
                    self.projection.version()
                );
            }
            Some(version) => {
                tx.commit().await?;
                tracing::info!(
                    projection = self.projection.name(),
                    from = version,
                    to = self.projection.version(),
                    "projection version changed; rebuilding"
                );
                self.rebuild(|_| {}).await?;
            }
        }
        let checkpoint = crate::relay::load_checkpoint(&self.pool, &self.checkpoint_name()).await?;
        self.applied.send_replace(checkpoint);
        Ok(())
    }

    /// Applies events as they are committed until `shutdown`.
    ///
    /// A page holding no event of the projection's [`Projection::stream_types`] moves it on
    /// without a transaction; that checkpoint is saved with the next page it applies, when
    /// idle once [`SAVE_SKIPPED_AFTER`] has passed, or at shutdown.
    ///
    /// # Errors
    /// Only when `init` fails; failures while running are logged and retried.
    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.init().await?;
        let mut wakeup = Wakeup::new(Some(self.store.appended()), self.idle_poll);
        let start = *self.applied.borrow();
        let mut progress = Progress {
            saved: start,
            reached: start,
            unsaved_since: None,
        };
        let mut lag_reported: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            // A page shorter than a full one read everything visible: then wait for the next
            // commit rather than read again at once.
            let caught_up = match self.step(progress).await {
                Ok(Step::Applied(next, _, more)) => {
                    progress = next;
                    wakeup.progressed();
                    !more
                }
                Ok(Step::Idle(next)) => {
                    progress = next;
                    true
                }
                Ok(Step::Moved(actual)) => {
                    progress = Progress {
                        saved: actual,
                        reached: actual,
                        unsaved_since: None,
                    };
                    false
                }
                Err(error) => {
                    tracing::error!(
                        projection = self.projection.name(),
                        error = format!("{error:#}"),
                        "projection failed; retrying"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    let saved = crate::relay::load_checkpoint(&self.pool, &self.checkpoint_name())
                        .await
                        .unwrap_or(progress.saved);
                    progress = Progress {
                        saved,
                        reached: saved,
                        unsaved_since: None,
                    };
                    false
                }
            };
            if caught_up {
                if lag_reported.is_none_or(|at| at.elapsed() >= LAG_REPORT_EVERY) {
                    self.report_lag(progress.reached).await;
                    lag_reported = Some(Instant::now());
                }
                if !wakeup.wait(&shutdown, progress.reached.transaction).await {
                    break;
                }
            }
        }
        if progress.reached != progress.saved {
            // Best effort: what is not saved is read again, and skipped again, after a restart.
            self.save(progress).await.ok();
        }
        Ok(())
    }

    /// Applies every event committed before the call; returns how many it applied.
    ///
    /// # Errors
    /// Database errors and errors from `apply`.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        self.init().await?;
        let catch_up = CatchUp::start(&self.pool, Duration::from_secs(30)).await?;
        let start = *self.applied.borrow();
        let mut progress = Progress {
            saved: start,
            reached: start,
            unsaved_since: None,
        };
        let mut applied = 0;
        loop {
            let ready = catch_up.ready(&self.pool).await?;
            match self.step(progress).await? {
                Step::Applied(next, count, _) => {
                    progress = next;
                    applied += count;
                }
                Step::Moved(actual) => {
                    progress = Progress {
                        saved: actual,
                        reached: actual,
                        unsaved_since: None,
                    };
                }
                Step::Idle(next) if ready => {
                    if next.reached != next.saved {
                        self.save(next).await?;
                    }
                    return Ok(applied);
                }
                Step::Idle(next) => {
                    progress = next;
                    catch_up.pause().await?;
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(projection = self.projection.name(), from = %progress.reached))]
    async fn step(&self, progress: Progress) -> anyhow::Result<Step> {
        let page = self
            .store
            .read_after(progress.reached, self.page_size)
            .await?;
        let Some(last) = page.last().map(|e| e.position) else {
            let due = progress
                .unsaved_since
                .is_some_and(|since| since.elapsed() >= SAVE_SKIPPED_AFTER);
            if due {
                return match self.save(progress).await? {
                    Some(moved) => Ok(Step::Moved(moved)),
                    None => Ok(Step::Idle(Progress {
                        saved: progress.reached,
                        reached: progress.reached,
                        unsaved_since: None,
                    })),
                };
            }
            return Ok(Step::Idle(progress));
        };
        let more = i64::try_from(page.len()).is_ok_and(|n| n >= self.page_size);
        let types = self.projection.stream_types();
        let page: Vec<RecordedEvent> = page
            .into_iter()
            .filter(|e| {
                types.is_none_or(|types| types.contains(&e.stream_type.as_str()))
                    && self.projection.reads(e)
            })
            .collect();
        if page.is_empty() {
            // Nothing here for this read model: move on, and save the checkpoint later.
            self.applied.send_replace(last);
            let skipped = Progress {
                saved: progress.saved,
                reached: last,
                unsaved_since: progress.unsaved_since.or_else(|| Some(Instant::now())),
            };
            if skipped
                .unsaved_since
                .is_some_and(|since| since.elapsed() >= SAVE_SKIPPED_AFTER)
            {
                if let Some(moved) = self.save(skipped).await? {
                    return Ok(Step::Moved(moved));
                }
                let saved = Progress {
                    saved: last,
                    reached: last,
                    unsaved_since: None,
                };
                return Ok(Step::Applied(saved, 0, more));
            }
            return Ok(Step::Applied(skipped, 0, more));
        }
        let mut tx = self.pool.begin().await?;
        if let Some(moved) = self.move_checkpoint(&mut *tx, progress.saved, last).await? {
            tx.rollback().await?;
            return Ok(Step::Moved(moved));
        }
        self.projection.apply(&mut tx, &page).await?;
        fail::fail_point!("projection::after_apply_before_commit", |_| Err(
            anyhow::anyhow!("failpoint projection::after_apply_before_commit")
        ));
        tx.commit().await?;
        if self.projection.appends_events() {
            self.store.committed_elsewhere();
        }
        self.applied.send_replace(last);
        // One short span per event in the trace of the command that wrote it, so a trace shows
        // when each read model caught up.
        for event in &page {
            if let Some(context) = event.metadata.trace_context() {
                let span = tracing::info_span!("projection.applied", projection = self.projection.name(), event_id = %event.event_id);
                crate::telemetry::set_parent_from_trace_context(&span, &context);
                span.in_scope(|| {});
            }
        }
        metrics::counter!(names::PROJECTION_EVENTS_APPLIED_TOTAL, "service" => self.schema.clone(), "projection" => self.projection.name())
            .increment(page.len() as u64);
        Ok(Step::Applied(
            Progress {
                saved: last,
                reached: last,
                unsaved_since: None,
            },
            page.len(),
            more,
        ))
    }

    /// Moves the checkpoint row from `expected` to `to`, locking it for the rest of `tx`;
    /// returns where it stands instead, having told `applied`, when that is not `expected`
    /// (another replica or a rebuild moved it).
    async fn move_checkpoint<'e>(
        &self,
        tx: impl sqlx::PgExecutor<'e>,
        expected: Position,
        to: Position,
    ) -> anyhow::Result<Option<Position>> {
        // A read model's transaction need not wait for its WAL flush (see the module's
        // documentation); set here, in the statement every transaction of the runner starts with.
        let moved: Option<String> = sqlx::query_scalar(
            "UPDATE checkpoints SET transaction_id = $4, position = $5, updated_at = now()
             WHERE name = $1 AND transaction_id = $2 AND position = $3
             RETURNING set_config('synchronous_commit', CASE WHEN $6 THEN 'on' ELSE 'off' END, true)",
        )
        .bind(self.checkpoint_name())
        .bind(Xid8(expected.transaction))
        .bind(expected.sequence)
        .bind(Xid8(to.transaction))
        .bind(to.sequence)
        .bind(!self.projection.rebuildable())
        .fetch_optional(tx)
        .await?;
        if moved.is_some() {
            return Ok(None);
        }
        let Some(stored) =
            crate::relay::find_checkpoint(&self.pool, &self.checkpoint_name()).await?
        else {
            // Created by `init`: gone only if removed by hand. Fail (and retry) rather than
            // start again from the beginning of the log.
            anyhow::bail!(
                "the checkpoint row {} is missing; restart the service to create it",
                self.checkpoint_name()
            );
        };
        self.applied.send_replace(stored);
        Ok(Some(stored))
    }

    /// Saves a checkpoint moved past events the projection does not read. Returns where the
    /// checkpoint stands instead when someone else moved it.
    async fn save(&self, progress: Progress) -> anyhow::Result<Option<Position>> {
        // One statement: it needs no transaction around it.
        self.move_checkpoint(&self.pool, progress.saved, progress.reached)
            .await
    }

    async fn report_lag(&self, reached: Position) {
        // Not prepared: a generic plan made while the table was small would scan it whole.
        let lag: Result<Option<f64>, _> = sqlx::query_scalar(
            "SELECT extract(epoch FROM now() - min(recorded_at))::float8
             FROM events WHERE (transaction_id, position) > ($1, $2)",
        )
        .bind(Xid8(reached.transaction))
        .bind(reached.sequence)
        .persistent(false)
        .fetch_one(&self.pool)
        .await;
        if let Ok(lag) = lag {
            metrics::gauge!(names::PROJECTION_LAG_SECONDS, "service" => self.schema.clone(), "projection" => self.projection.name())
                .set(lag.unwrap_or(0.0));
        }
    }

    /// Replays the whole log into fresh tables and swaps them in; safe while the service runs.
    /// Returns how many events were replayed.
    ///
    /// # Errors
    /// Database errors and errors from `apply`; the live tables are untouched then.
    pub async fn rebuild(&self, mut progress: impl FnMut(RebuildProgress)) -> anyhow::Result<u64> {
        anyhow::ensure!(
            self.projection.rebuildable(),
            "projection {} cannot be rebuilt: its output is durable",
            self.projection.name()
        );
        let started = Instant::now();
        let scratch = format!(
            "{}_rebuild_{}",
            self.schema,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let options: PgConnectOptions = (*self.pool.connect_options()).clone();
        let mut conn = PgConnection::connect_with(
            &options.options([("search_path", format!("{scratch},{}", self.schema))]),
        )
        .await?;
        let result = self
            .rebuild_into(&mut conn, &scratch, started, &mut progress)
            .await;
        if result.is_err() {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {scratch} CASCADE"
            )))
            .execute(&mut conn)
            .await
            .ok();
        }
        conn.close().await.ok();
        result
    }

    async fn rebuild_into(
        &self,
        conn: &mut PgConnection,
        scratch: &str,
        started: Instant,
        progress: &mut impl FnMut(RebuildProgress),
    ) -> anyhow::Result<u64> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&mut *conn)
            .await?;
        let total = total.unsigned_abs();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {scratch}")))
            .execute(&mut *conn)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(self.projection.create_tables()))
            .execute(&mut *conn)
            .await?;
        let batch = 5_000;
        let catch_up = CatchUp::start(&mut *conn, Duration::from_secs(300)).await?;
        let mut position = Position::START;
        let mut done = 0u64;
        loop {
            let ready = catch_up.ready(&mut *conn).await?;
            let page = tail::read_after(&mut *conn, position, batch).await?;
            if let Some(last) = page.last() {
                position = last.position;
                let mut tx = conn.begin().await?;
                self.projection.apply(&mut tx, &page).await?;
                tx.commit().await?;
                done += page.len() as u64;
                progress(RebuildProgress {
                    done,
                    total,
                    elapsed: started.elapsed(),
                });
            } else if ready {
                break;
            } else {
                catch_up.pause().await?;
            }
        }
        // Tests widen the moment between catching up and swapping, while events keep arriving.
        fail::fail_point!("projection::rebuild_before_swap");
        // Swap under the checkpoint lock: the live runner cannot commit a batch meanwhile, and
        // resumes from the swapped-in checkpoint when the lock is released.
        let mut tx = conn.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT 1 FROM {}.checkpoints WHERE name = $1 FOR UPDATE",
            self.schema
        )))
        .bind(self.checkpoint_name())
        .fetch_optional(&mut *tx)
        .await?;
        loop {
            let page = tail::read_after(&mut *tx, position, batch).await?;
            let Some(last) = page.last() else { break };
            position = last.position;
            self.projection.apply(&mut tx, &page).await?;
            done += page.len() as u64;
        }
        for table in self.projection.tables() {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {schema}.{table}; ALTER TABLE {scratch}.{table} SET SCHEMA {schema};",
                schema = self.schema
            )))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {}.checkpoints (name, transaction_id, position, projection_version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id, position = excluded.position,
                 projection_version = excluded.projection_version, updated_at = now()",
            self.schema
        )))
        .bind(self.checkpoint_name())
        .bind(Xid8(position.transaction))
        .bind(position.sequence)
        .bind(self.projection.version())
        .execute(&mut *tx)
        .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {scratch} CASCADE")))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.applied.send_replace(position);
        progress(RebuildProgress {
            done,
            total,
            elapsed: started.elapsed(),
        });
        Ok(done)
    }
}

enum Step {
    /// Read a page and applied this many of its events; true when the page was full (more
    /// may follow at once).
    Applied(Progress, usize, bool),
    /// Someone else moved the checkpoint to here.
    Moved(Position),
    /// Nothing to read.
    Idle(Progress),
}

/// Waits until the projection `name` has applied `target`, for read-your-writes.
///
/// Uses the in-process runner's updates when given, and the checkpoint row otherwise (another
/// replica may be applying). Returns whether the position was reached within `max_wait`.
///
/// # Errors
/// Database errors.
pub async fn wait_for_position(
    pool: &Pool,
    name: &str,
    local: Option<watch::Receiver<Position>>,
    target: Position,
    max_wait: Duration,
) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + max_wait;
    let checkpoint = format!("projection.{name}");
    let mut delay = Duration::from_millis(1);
    let mut local = local;
    loop {
        if local.as_ref().is_some_and(|rx| *rx.borrow() >= target) {
            return Ok(true);
        }
        if crate::relay::load_checkpoint(pool, &checkpoint).await? >= target {
            return Ok(true);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let sleep = tokio::time::sleep(delay.min(deadline - now));
        match &mut local {
            Some(rx) => {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { local = None },
                    () = sleep => {}
                }
            }
            None => sleep.await,
        }
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}
