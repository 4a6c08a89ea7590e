//! The formal-complaints read models, each a function of the service's own `formal_complaint`
//! events, and the queries the handlers run on them.
//!
//! * `complaints`: one row per complaint — inspection, provider, status, route, grounds,
//!   investigator, outcome, the escalation in progress. Answers `GetComplaint`, `ListComplaints`
//!   and the "one open complaint per inspection and provider" fact a submission needs. An answered
//!   complaint is `ESCALATED` exactly while an escalation is in progress; a reopened one is
//!   `UNDER_RECONSIDERATION` until answered again. `sensitive` once a learning review's incident
//!   flagged it (`SensitiveCaseFlagged`); the learning-reviews policy also finds an inspection's
//!   complaints here ([`complaints_about`]). When the complainant is forgotten
//!   (`DataSubjectForgotten` names the contact's or narrative's vault record), `contact_ref` and
//!   `narrative_ref` are blanked and `personal_data_erased` is set: the table holds references
//!   only, never decrypted personal data, and after an erasure not even those.
//! * `complaint_deadlines`: draft issued, window closes, route, acknowledgement and response due
//!   (a reconsideration's once reopened), overdue, escalation window closes (unset again while a
//!   reconsideration awaits its response), escalation in progress, reopened and closed, with the
//!   policy and calendar versions.
//! * `closed_complaint_samples`: the pseudonymised view for the external panel. The complaint id
//!   is kept only as the row key; answers carry a random `sample_id` (so a rebuild issues new
//!   sample ids), never the provider, a person, a document ref or the sensitive-case flag.
//! * `complaint_timers` (in [`super::timers`]): the response-overdue and escalation-window timers.
//!
//! Timestamps are stored as `timestamptz`, so deadlines read back with microsecond precision
//! (23:59:59.999999); the events keep the nanosecond instant.
//!
//! The provider a complaint is from is `ComplaintSubmitted.provider_id`, taken from the
//! inspection's notification; `ComplaintSubmitted.complainant_ref` is the vault reference of the
//! complainant's contact record.

use std::sync::Arc;
use std::time::Duration;

use platform::aggregate::{Aggregate, DomainEvent};
use platform::grpc::Principal;
use platform::pg::PgTimestamp;
use platform::projection::{Projection, ProjectionRunner, wait_for_position};
use platform::tail::{Position, RecordedEvent};
use platform::timer::Scheduler;
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod batch;

use super::timers::{ComplaintTimers, TIMERS_TABLE, TimerFiring};
use crate::app::Context;
use crate::domain::complaint::{Event, FormalComplaint};
use crate::domain::data_subject::{self, DataSubject};
use crate::domain::v1;

/// `ComplaintStatus` values as stored.
pub(crate) mod status {
    use proto::complaints::v1::ComplaintStatus;

    pub(crate) const SUBMITTED: i32 = ComplaintStatus::Submitted as i32;
    pub(crate) const ACKNOWLEDGED: i32 = ComplaintStatus::Acknowledged as i32;
    pub(crate) const UNDER_INVESTIGATION: i32 = ComplaintStatus::UnderInvestigation as i32;
    pub(crate) const RESPONSE_ISSUED: i32 = ComplaintStatus::ResponseIssued as i32;
    pub(crate) const WITHDRAWN: i32 = ComplaintStatus::Withdrawn as i32;
    pub(crate) const CLOSED: i32 = ComplaintStatus::Closed as i32;
    pub(crate) const ESCALATED: i32 = ComplaintStatus::Escalated as i32;
    pub(crate) const UNDER_RECONSIDERATION: i32 = ComplaintStatus::UnderReconsideration as i32;
}

/// The prefix of the doc ref under which a submission records its narrative's vault record.
pub(crate) const NARRATIVE_PREFIX: &str = "vault:";

fn complaint_events(events: &[RecordedEvent]) -> anyhow::Result<Vec<(Uuid, Event)>> {
    let mut decoded = Vec::new();
    for recorded in events {
        if recorded.stream_type != FormalComplaint::STREAM_TYPE {
            continue;
        }
        match Event::decode(&recorded.event_type, &recorded.payload) {
            Ok(event) => decoded.push((recorded.stream_id, event)),
            // A newer writer's event type: nothing this build's read models show depends on it.
            Err(platform::aggregate::DecodeError::UnknownType(_)) => {}
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!(
                    "Failed to decode event {} of complaint {}",
                    recorded.version, recorded.stream_id
                )));
            }
        }
    }
    Ok(decoded)
}

/// The vault records the page's `DataSubjectForgotten` events made unreadable.
fn forgotten_records(events: &[RecordedEvent]) -> anyhow::Result<Vec<String>> {
    let mut records = Vec::new();
    for recorded in events {
        if recorded.stream_type != DataSubject::STREAM_TYPE {
            continue;
        }
        match data_subject::Event::decode(&recorded.event_type, &recorded.payload) {
            Ok(data_subject::Event::DataSubjectForgotten(e)) => records.extend(e.record_refs),
            Err(platform::aggregate::DecodeError::UnknownType(_)) => {}
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!(
                    "Failed to decode event {} of data subject stream {}",
                    recorded.version, recorded.stream_id
                )));
            }
        }
    }
    Ok(records)
}

/// The `complaints` read model.
#[derive(Debug)]
pub(crate) struct Complaints;

impl Projection for Complaints {
    fn name(&self) -> &'static str {
        "complaints"
    }

    fn version(&self) -> i32 {
        // 5: the open-complaint index carries `complaint_id`, the order `open_complaint` reads in.
        5
    }

    fn tables(&self) -> &'static [&'static str] {
        &["complaints"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE complaints (
             complaint_id     uuid        NOT NULL PRIMARY KEY,
             inspection_id    uuid        NOT NULL,
             provider_id      text        NOT NULL,
             contact_ref      text        NOT NULL,
             narrative_ref    text        NOT NULL,
             status           integer     NOT NULL,
             route            integer     NOT NULL,
             remit            integer     NOT NULL,
             grounds          integer[]   NOT NULL,
             submitted_at     timestamptz NOT NULL,
             investigator_ref text        NOT NULL DEFAULT '',
             outcome          integer     NOT NULL DEFAULT 0,
             remedies         integer[]   NOT NULL DEFAULT '{}',
             escalation_id    uuid,
             sensitive        boolean     NOT NULL DEFAULT false,
             personal_data_erased boolean NOT NULL DEFAULT false
         );
         CREATE INDEX complaints_open_by_inspection ON complaints (inspection_id, provider_id, complaint_id)
             WHERE status IN (1, 2, 3);
         CREATE INDEX complaints_by_inspection ON complaints (inspection_id);
         CREATE INDEX complaints_by_provider ON complaints (provider_id, complaint_id);
         CREATE INDEX complaints_by_status ON complaints (status, complaint_id);"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[FormalComplaint::STREAM_TYPE, DataSubject::STREAM_TYPE];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        batch::complaints(conn, &complaint_events(events)?).await?;
        batch::erasures(conn, &forgotten_records(events)?).await
    }
}

/// The `complaint_deadlines` read model.
#[derive(Debug)]
pub(crate) struct Deadlines;

impl Projection for Deadlines {
    fn name(&self) -> &'static str {
        "complaint_deadlines"
    }

    fn version(&self) -> i32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &["complaint_deadlines"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE complaint_deadlines (
             complaint_id                uuid        NOT NULL PRIMARY KEY,
             draft_issued_at             timestamptz NOT NULL,
             window_closes_at            timestamptz NOT NULL,
             route                       integer     NOT NULL,
             acknowledgement_due_at      timestamptz NOT NULL,
             response_due_at             timestamptz,
             overdue                     boolean     NOT NULL DEFAULT false,
             escalation_window_closes_at timestamptz,
             policy_version              text        NOT NULL,
             calendar_version            text        NOT NULL,
             escalation_in_progress      boolean     NOT NULL DEFAULT false,
             reopened_at                 timestamptz,
             closed_at                   timestamptz
         );"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[FormalComplaint::STREAM_TYPE];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        batch::deadlines(conn, &complaint_events(events)?).await
    }
}

/// The `closed_complaint_samples` read model. Rows exist from submission (to collect what the
/// panel may see); only closed complaints drawn for review are answered.
#[derive(Debug)]
pub(crate) struct Samples;

impl Projection for Samples {
    fn name(&self) -> &'static str {
        "closed_complaint_samples"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["closed_complaint_samples"]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE closed_complaint_samples (
             complaint_id uuid        NOT NULL PRIMARY KEY,
             sample_id    uuid        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
             remit        integer     NOT NULL,
             route        integer     NOT NULL,
             grounds      integer[]   NOT NULL,
             submitted_at timestamptz NOT NULL,
             outcome      integer     NOT NULL DEFAULT 0,
             remedies     integer[]   NOT NULL DEFAULT '{}',
             responded_at timestamptz,
             late         boolean     NOT NULL DEFAULT false,
             closed_at    timestamptz,
             sampled      boolean     NOT NULL DEFAULT false
         );
         CREATE INDEX closed_complaint_samples_sampled ON closed_complaint_samples (sample_id)
             WHERE sampled AND closed_at IS NOT NULL;"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[FormalComplaint::STREAM_TYPE];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        batch::samples(conn, &complaint_events(events)?).await
    }
}

/// A row of `complaints`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ComplaintRow {
    pub(crate) complaint_id: Uuid,
    pub(crate) inspection_id: Uuid,
    pub(crate) provider_id: String,
    pub(crate) contact_ref: String,
    pub(crate) narrative_ref: String,
    pub(crate) status: i32,
    pub(crate) route: i32,
    pub(crate) remit: i32,
    pub(crate) grounds: Vec<i32>,
    pub(crate) submitted_at: PgTimestamp,
    pub(crate) investigator_ref: String,
    pub(crate) outcome: i32,
    pub(crate) remedies: Vec<i32>,
    pub(crate) escalation_id: Option<Uuid>,
    pub(crate) sensitive: bool,
    pub(crate) personal_data_erased: bool,
}

/// A row of `complaint_deadlines`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeadlinesRow {
    pub(crate) complaint_id: Uuid,
    pub(crate) draft_issued_at: PgTimestamp,
    pub(crate) window_closes_at: PgTimestamp,
    pub(crate) route: i32,
    pub(crate) acknowledgement_due_at: PgTimestamp,
    pub(crate) response_due_at: Option<PgTimestamp>,
    pub(crate) overdue: bool,
    pub(crate) escalation_window_closes_at: Option<PgTimestamp>,
    pub(crate) policy_version: String,
    pub(crate) calendar_version: String,
    pub(crate) escalation_in_progress: bool,
    pub(crate) reopened_at: Option<PgTimestamp>,
    pub(crate) closed_at: Option<PgTimestamp>,
}

/// A row of `closed_complaint_samples`, as the panel sees it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SampleRow {
    pub(crate) sample_id: Uuid,
    pub(crate) remit: i32,
    pub(crate) route: i32,
    pub(crate) grounds: Vec<i32>,
    pub(crate) submitted_at: PgTimestamp,
    pub(crate) outcome: i32,
    pub(crate) remedies: Vec<i32>,
    pub(crate) responded_at: Option<PgTimestamp>,
    pub(crate) late: bool,
    pub(crate) closed_at: Option<PgTimestamp>,
}

/// Which complaints a list asks for.
#[derive(Debug)]
pub(crate) struct ComplaintFilter {
    pub(crate) provider_id: Option<String>,
    pub(crate) status: Option<i32>,
    /// Complaints after this id (the previous page's last).
    pub(crate) after: Option<Uuid>,
    pub(crate) limit: i64,
}

const COMPLAINT_COLUMNS: &str = "complaint_id, inspection_id, provider_id, contact_ref, narrative_ref, status, \
     route, remit, grounds, submitted_at, investigator_ref, outcome, remedies, escalation_id, sensitive, personal_data_erased";

/// The read models of this vertical, their runners and the scheduler of the complaint timers.
#[derive(Debug)]
pub struct ReadModels {
    context: Arc<Context>,
    complaints: ProjectionRunner<Complaints>,
    deadlines: ProjectionRunner<Deadlines>,
    samples: ProjectionRunner<Samples>,
    timers: ProjectionRunner<ComplaintTimers>,
    scheduler: Scheduler<TimerFiring>,
}

impl ReadModels {
    /// Creates the projection runners and the timer scheduler; creates tables (runner.init()).
    ///
    /// # Errors
    /// Database errors while creating the tables, or a failed rebuild.
    pub async fn start(context: &Arc<Context>) -> anyhow::Result<Arc<ReadModels>> {
        let read_models = ReadModels {
            context: Arc::clone(context),
            complaints: ProjectionRunner::new(&context.store, &context.schema, Complaints)?,
            deadlines: ProjectionRunner::new(&context.store, &context.schema, Deadlines)?,
            samples: ProjectionRunner::new(&context.store, &context.schema, Samples)?,
            timers: ProjectionRunner::new(&context.store, &context.schema, ComplaintTimers)?,
            scheduler: Scheduler::new(
                context.store.pool().clone(),
                TIMERS_TABLE,
                TimerFiring::new(Arc::clone(context)),
            )?,
        };
        read_models.complaints.init().await?;
        read_models.deadlines.init().await?;
        read_models.samples.init().await?;
        read_models.timers.init().await?;
        Ok(Arc::new(read_models))
    }

    /// Spawns every projection's run loop and the scheduler's run loop.
    pub fn spawn(
        self: &Arc<Self>,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) {
        // The loops share these runners, so `wait_for` sees each commit as it happens.
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.complaints.run(token).await });
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.deadlines.run(token).await });
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.samples.run(token).await });
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.timers.run(token).await });
        let (me, token) = (Arc::clone(self), shutdown.clone());
        tasks.spawn(async move { me.scheduler.run(me.context.clock.clone(), token).await });
    }

    /// Rebuilds every projection of this vertical from the event store into fresh tables and
    /// swaps them in (operators, and the convergence tests).
    ///
    /// # Errors
    /// Database errors and errors from a projection; the live tables are untouched then.
    pub async fn rebuild(&self) -> anyhow::Result<()> {
        self.complaints.rebuild(|_| {}).await?;
        self.deadlines.rebuild(|_| {}).await?;
        self.samples.rebuild(|_| {}).await?;
        self.timers.rebuild(|_| {}).await?;
        Ok(())
    }

    /// Tests: applies every committed event to every projection of this vertical, then fires
    /// every timer due at `context.clock.now()`, then applies again.
    ///
    /// # Errors
    /// Database errors and errors from a projection.
    pub async fn run_once(&self) -> anyhow::Result<()> {
        self.apply_all().await?;
        self.scheduler.run_due(self.context.clock.now()).await?;
        self.apply_all().await
    }

    async fn apply_all(&self) -> anyhow::Result<()> {
        self.complaints.run_once().await?;
        self.deadlines.run_once().await?;
        self.samples.run_once().await?;
        self.timers.run_once().await?;
        Ok(())
    }

    /// Read-your-writes: true once every projection of this vertical has applied `position`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn wait_for(&self, position: Position, max_wait: Duration) -> anyhow::Result<bool> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let pool = self.context.store.pool();
        let waits = [
            ("complaints", self.complaints.applied()),
            ("complaint_deadlines", self.deadlines.applied()),
            ("closed_complaint_samples", self.samples.applied()),
            ("complaint_timers", self.timers.applied()),
        ];
        for (name, applied) in waits {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !wait_for_position(pool, name, Some(applied), position, left).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One complaint.
    pub(crate) async fn complaint(&self, id: Uuid) -> Result<Option<ComplaintRow>, sqlx::Error> {
        let sql = format!("SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE complaint_id = $1");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.context.store.pool())
            .await
    }

    /// The open complaint from `provider_id` about an inspection, if any.
    ///
    /// `complaints_open_by_inspection` holds `complaint_id` after its two keys, so it answers
    /// in the order asked for. Without it, a plan the connection made while the table was
    /// small walked `complaints_by_provider` instead, through every complaint of the provider.
    pub(crate) async fn open_complaint(
        &self,
        inspection_id: Uuid,
        provider_id: &str,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT complaint_id FROM complaints
             WHERE inspection_id = $1 AND provider_id = $2 AND status IN (1, 2, 3)
             ORDER BY complaint_id LIMIT 1",
        )
        .bind(inspection_id)
        .bind(provider_id)
        .fetch_optional(self.context.store.pool())
        .await
    }

    /// A page of complaints in complaint-id order (time-ordered ids, so oldest first).
    pub(crate) async fn complaints(
        &self,
        filter: &ComplaintFilter,
    ) -> Result<Vec<ComplaintRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {COMPLAINT_COLUMNS} FROM complaints
             WHERE ($1::text IS NULL OR provider_id = $1)
               AND ($2::integer IS NULL OR status = $2)
               AND ($3::uuid IS NULL OR complaint_id > $3)
             ORDER BY complaint_id LIMIT $4"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.provider_id.as_deref())
            .bind(filter.status)
            .bind(filter.after)
            .bind(filter.limit)
            .fetch_all(self.context.store.pool())
            .await
    }

    /// A complaint's deadlines.
    pub(crate) async fn deadlines(&self, id: Uuid) -> Result<Option<DeadlinesRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT complaint_id, draft_issued_at, window_closes_at, route, acknowledgement_due_at,
                 response_due_at, overdue, escalation_window_closes_at, policy_version, calendar_version,
                 escalation_in_progress, reopened_at, closed_at
             FROM complaint_deadlines WHERE complaint_id = $1",
        )
        .bind(id)
        .fetch_optional(self.context.store.pool())
        .await
    }

    /// A page of closed complaints drawn for review, in sample-id order.
    pub(crate) async fn samples(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<SampleRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT sample_id, remit, route, grounds, submitted_at, outcome, remedies, responded_at,
                 late, closed_at
             FROM closed_complaint_samples
             WHERE sampled AND closed_at IS NOT NULL AND ($1::uuid IS NULL OR sample_id > $1)
             ORDER BY sample_id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.context.store.pool())
        .await
    }
}

/// Every complaint about `inspection_id` the `complaints` read model holds, open or ended, in
/// complaint-id order, as `conn`'s transaction sees the table.
pub(crate) async fn complaints_about(
    conn: &mut PgConnection,
    inspection_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT complaint_id FROM complaints WHERE inspection_id = $1 ORDER BY complaint_id",
    )
    .bind(inspection_id)
    .fetch_all(conn)
    .await
}

/// `Some(t)` as a protobuf timestamp.
pub(crate) fn timestamp(at: PgTimestamp) -> Option<prost_types::Timestamp> {
    Some(crate::domain::timestamp(at.0))
}

/// A read model row of `complaints` as the API shows it to `caller`: the sensitive-case flag is
/// for the complaints team and auditors, never for a provider caller.
pub(crate) fn complaint_message(row: ComplaintRow, caller: &Principal) -> v1::Complaint {
    v1::Complaint {
        complaint_id: row.complaint_id.to_string(),
        inspection_id: row.inspection_id.to_string(),
        provider_id: row.provider_id,
        status: row.status,
        route: row.route,
        remit: row.remit,
        grounds: row.grounds,
        submitted_at: timestamp(row.submitted_at),
        investigator_ref: row.investigator_ref,
        outcome: row.outcome,
        remedies: row.remedies,
        contact_ref: row.contact_ref,
        narrative_ref: row.narrative_ref,
        escalation_id: row
            .escalation_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        sensitive: row.sensitive && !caller.role.acts_for_provider(),
        personal_data_erased: row.personal_data_erased,
    }
}
