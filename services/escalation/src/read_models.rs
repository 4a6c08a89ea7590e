//! The escalation read models, a function of the service's own events, and their queries.
//!
//! One projection, `escalations`, owns three tables, so each can read the others consistently
//! while it applies:
//! * `escalation_complaints`: per complaint record, the provider, remit and outcome.
//! * `escalations`: per escalation, its status, grounds, dates and adjudicator, with the
//!   provider for scoping. Answers `GetEscalation` and, minimised, `ListEscalationQueue`.
//! * `escalation_recommendations`: the recommendation register — every recommendation with its
//!   decision, public reason and implementation.
//!
//! Timestamps are stored as `timestamptz` (microseconds).

use std::sync::Arc;
use std::time::Duration;

use platform::aggregate::{Aggregate, DomainEvent};
use platform::pg::PgTimestamp;
use platform::projection::{Projection, ProjectionRunner, wait_for_position};
use platform::tail::{Position, RecordedEvent};
use proto::escalation::v1::{EscalationStatus, RecommendationDecision};
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::Context;
use crate::domain::complaint_record::{self, ComplaintRecord};
use crate::domain::escalation::{self, Escalation};
use crate::domain::instant;

/// The `escalations` projection.
#[derive(Debug)]
pub(crate) struct Escalations;

impl Projection for Escalations {
    fn name(&self) -> &'static str {
        "escalations"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "escalation_complaints",
            "escalations",
            "escalation_recommendations",
        ]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE escalation_complaints (
             complaint_id     uuid    NOT NULL PRIMARY KEY,
             inspection_id    uuid    NOT NULL,
             provider_id      text    NOT NULL,
             remit            integer NOT NULL,
             outcome          integer NOT NULL DEFAULT 0,
             response_overdue boolean NOT NULL DEFAULT false
         );
         CREATE TABLE escalations (
             escalation_id     uuid        NOT NULL PRIMARY KEY,
             case_ref          text        NOT NULL,
             complaint_id      uuid        NOT NULL,
             inspection_id     uuid        NOT NULL,
             provider_id       text        NOT NULL,
             status            integer     NOT NULL,
             refusal_reason    integer     NOT NULL DEFAULT 0,
             grounds           integer[]   NOT NULL DEFAULT '{}',
             out_of_remit      integer[]   NOT NULL DEFAULT '{}',
             requested_at      timestamptz NOT NULL,
             window_closes_at  timestamptz,
             remit             integer     NOT NULL DEFAULT 0,
             complaint_outcome integer     NOT NULL DEFAULT 0,
             response_overdue  boolean     NOT NULL DEFAULT false,
             referred_at       timestamptz,
             adjudicator_ref   text        NOT NULL DEFAULT '',
             upheld_grounds    integer[]   NOT NULL DEFAULT '{}',
             concluded_at      timestamptz
         );
         CREATE INDEX escalations_by_complaint ON escalations (complaint_id, escalation_id);
         CREATE INDEX escalations_referred ON escalations (status, escalation_id)
             WHERE referred_at IS NOT NULL;
         CREATE TABLE escalation_recommendations (
             escalation_id      uuid        NOT NULL,
             recommendation_id  text        NOT NULL,
             case_ref           text        NOT NULL,
             kind               integer     NOT NULL,
             text_ref           text        NOT NULL,
             decision           integer     NOT NULL,
             planned_action_ref text        NOT NULL DEFAULT '',
             due_on             text        NOT NULL DEFAULT '',
             public_reason_ref  text        NOT NULL DEFAULT '',
             statement_ref      text        NOT NULL DEFAULT '',
             evidence_ref       text        NOT NULL DEFAULT '',
             issued_at          timestamptz NOT NULL,
             decided_at         timestamptz,
             implemented_at     timestamptz,
             PRIMARY KEY (escalation_id, recommendation_id)
         );
         CREATE INDEX escalation_recommendations_by_decision
             ON escalation_recommendations (decision, escalation_id, recommendation_id);"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[ComplaintRecord::STREAM_TYPE, Escalation::STREAM_TYPE];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for recorded in events {
            let id = recorded.stream_id;
            if recorded.stream_type == ComplaintRecord::STREAM_TYPE {
                match complaint_record::Event::decode(&recorded.event_type, &recorded.payload) {
                    Ok(event) => apply_record(conn, id, &event).await?,
                    Err(platform::aggregate::DecodeError::UnknownType(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            } else if recorded.stream_type == Escalation::STREAM_TYPE {
                match escalation::Event::decode(&recorded.event_type, &recorded.payload) {
                    Ok(event) => apply_escalation(conn, id, &event).await?,
                    Err(platform::aggregate::DecodeError::UnknownType(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

fn at(stamp: Option<&prost_types::Timestamp>) -> PgTimestamp {
    PgTimestamp(instant(stamp))
}

const REFERRED: i32 = EscalationStatus::Referred as i32;
const PENDING: i32 = RecommendationDecision::Pending as i32;

async fn apply_record(
    conn: &mut PgConnection,
    id: Uuid,
    event: &complaint_record::Event,
) -> sqlx::Result<()> {
    use complaint_record::Event as E;
    match event {
        E::SubmissionRecorded(e) => {
            sqlx::query(
                "INSERT INTO escalation_complaints (complaint_id, inspection_id, provider_id, remit)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (complaint_id) DO NOTHING",
            )
            .bind(id)
            .bind(Uuid::parse_str(&e.inspection_id).unwrap_or_default())
            .bind(&e.provider_id)
            .bind(e.remit)
            .execute(conn)
            .await?;
        }
        E::ResponseRecorded(e) => {
            sqlx::query(
                "UPDATE escalation_complaints SET outcome = $2, response_overdue = false
                 WHERE complaint_id = $1",
            )
            .bind(id)
            .bind(e.outcome)
            .execute(conn)
            .await?;
        }
        E::ResponseOverdueRecorded(_) => {
            sqlx::query(
                "UPDATE escalation_complaints SET response_overdue = true WHERE complaint_id = $1",
            )
            .bind(id)
            .execute(conn)
            .await?;
        }
        E::InformationRecorded(_) | E::WithdrawalRecorded(_) | E::EscalationOpened(_) => {}
    }
    Ok(())
}

/// Sets an escalation's status, and when it concluded for a terminal one.
async fn status(
    conn: &mut PgConnection,
    id: Uuid,
    status: EscalationStatus,
    concluded_at: Option<PgTimestamp>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE escalations SET status = $2, concluded_at = coalesce($3, concluded_at)
         WHERE escalation_id = $1",
    )
    .bind(id)
    .bind(status as i32)
    .bind(concluded_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Updates one recommendation of the register: `set` assigns from `$3` (text) and `$4` (time).
async fn recommendation(
    conn: &mut PgConnection,
    id: Uuid,
    recommendation_id: &str,
    set: &'static str,
    text: &str,
    when: PgTimestamp,
) -> sqlx::Result<()> {
    let sql = format!(
        "UPDATE escalation_recommendations SET {set}
         WHERE escalation_id = $1 AND recommendation_id = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(recommendation_id)
        .bind(text)
        .bind(when)
        .execute(conn)
        .await?;
    Ok(())
}

async fn apply_escalation(
    conn: &mut PgConnection,
    id: Uuid,
    event: &escalation::Event,
) -> sqlx::Result<()> {
    use escalation::Event as E;
    match event {
        E::Requested(e) => {
            sqlx::query(
                "INSERT INTO escalations (escalation_id, case_ref, complaint_id, inspection_id,
                     provider_id, status, grounds, requested_at, window_closes_at, remit,
                     complaint_outcome, response_overdue)
                 SELECT $1, $2, c.complaint_id, c.inspection_id, c.provider_id, $3, $4, $5, $6,
                     c.remit, c.outcome, $7
                 FROM escalation_complaints c WHERE c.complaint_id = $8
                 ON CONFLICT (escalation_id) DO NOTHING",
            )
            .bind(id)
            .bind(&e.case_ref)
            .bind(EscalationStatus::Unspecified as i32)
            .bind(&e.grounds)
            .bind(at(e.requested_at.as_ref()))
            .bind(e.window_closes_at.as_ref().map(|t| at(Some(t))))
            .bind(e.response_issued_at.is_none())
            .bind(Uuid::parse_str(&e.complaint_id).unwrap_or_default())
            .execute(conn)
            .await?;
        }
        E::Refused(e) => {
            sqlx::query(
                "INSERT INTO escalations (escalation_id, case_ref, complaint_id, inspection_id,
                     provider_id, status, refusal_reason, requested_at, concluded_at, remit)
                 SELECT $1, '', c.complaint_id, c.inspection_id, c.provider_id, $2, $3, $4, $4,
                     c.remit
                 FROM escalation_complaints c WHERE c.complaint_id = $5
                 ON CONFLICT (escalation_id) DO NOTHING",
            )
            .bind(id)
            .bind(EscalationStatus::Refused as i32)
            .bind(e.reason)
            .bind(at(e.refused_at.as_ref()))
            .bind(Uuid::parse_str(&e.complaint_id).unwrap_or_default())
            .execute(conn)
            .await?;
        }
        E::OutOfRemitNoted(e) => {
            sqlx::query("UPDATE escalations SET out_of_remit = $2 WHERE escalation_id = $1")
                .bind(id)
                .bind(&e.asks)
                .execute(conn)
                .await?;
        }
        E::Referred(e) => {
            sqlx::query(
                "UPDATE escalations SET status = $2, referred_at = $3 WHERE escalation_id = $1",
            )
            .bind(id)
            .bind(REFERRED)
            .bind(at(e.referred_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::AcceptedByIndependentBody(_) => {
            status(conn, id, EscalationStatus::Accepted, None).await?;
        }
        E::DeclinedByIndependentBody(e) => {
            let when = at(e.declined_at.as_ref());
            status(conn, id, EscalationStatus::Declined, Some(when)).await?;
        }
        E::AdjudicatorAppointed(e) => {
            sqlx::query(
                "UPDATE escalations SET status = $2, adjudicator_ref = $3 WHERE escalation_id = $1",
            )
            .bind(id)
            .bind(EscalationStatus::AdjudicatorAppointed as i32)
            .bind(&e.adjudicator_ref)
            .execute(conn)
            .await?;
        }
        E::CaseFileAccessed(_) => {}
        E::FindingsIssued(e) => {
            sqlx::query(
                "UPDATE escalations SET status = $2, upheld_grounds = $3 WHERE escalation_id = $1",
            )
            .bind(id)
            .bind(EscalationStatus::FindingsIssued as i32)
            .bind(&e.upheld_grounds)
            .execute(&mut *conn)
            .await?;
            let ids: Vec<&str> = e
                .recommendations
                .iter()
                .map(|r| r.recommendation_id.as_str())
                .collect();
            let kinds: Vec<i32> = e.recommendations.iter().map(|r| r.kind).collect();
            let texts: Vec<&str> = e
                .recommendations
                .iter()
                .map(|r| r.text_ref.as_str())
                .collect();
            sqlx::query(
                "INSERT INTO escalation_recommendations (escalation_id, recommendation_id, case_ref,
                     kind, text_ref, decision, issued_at)
                 SELECT $1, r.id, x.case_ref, r.kind, r.text_ref, $5, $6
                 FROM unnest($2::text[], $3::integer[], $4::text[]) AS r(id, kind, text_ref),
                      escalations x
                 WHERE x.escalation_id = $1
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&ids)
            .bind(&kinds)
            .bind(&texts)
            .bind(PENDING)
            .bind(at(e.issued_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::RecommendationAccepted(e) => {
            sqlx::query(
                "UPDATE escalation_recommendations
                 SET decision = $3, planned_action_ref = $4, due_on = $5, decided_at = $6
                 WHERE escalation_id = $1 AND recommendation_id = $2",
            )
            .bind(id)
            .bind(&e.recommendation_id)
            .bind(RecommendationDecision::Accepted as i32)
            .bind(&e.planned_action_ref)
            .bind(&e.due_on)
            .bind(at(e.accepted_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::RecommendationDeclined(e) => {
            recommendation(
                conn,
                id,
                &e.recommendation_id,
                "decision = 3, public_reason_ref = $3, decided_at = $4",
                &e.public_reason_ref,
                at(e.declined_at.as_ref()),
            )
            .await?;
        }
        E::PublicStatementPublished(e) => {
            recommendation(
                conn,
                id,
                &e.recommendation_id,
                "statement_ref = $3, decided_at = coalesce(decided_at, $4)",
                &e.statement_ref,
                at(e.published_at.as_ref()),
            )
            .await?;
        }
        E::RecommendationImplemented(e) => {
            recommendation(
                conn,
                id,
                &e.recommendation_id,
                "decision = 4, evidence_ref = $3, implemented_at = $4",
                &e.evidence_ref,
                at(e.implemented_at.as_ref()),
            )
            .await?;
        }
        E::Closed(e) => {
            let when = at(e.closed_at.as_ref());
            status(conn, id, EscalationStatus::Closed, Some(when)).await?;
        }
        E::Withdrawn(e) => {
            let when = at(e.withdrawn_at.as_ref());
            status(conn, id, EscalationStatus::Withdrawn, Some(when)).await?;
        }
    }
    Ok(())
}

/// A row of `escalations`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EscalationRow {
    pub(crate) escalation_id: Uuid,
    pub(crate) case_ref: String,
    pub(crate) complaint_id: Uuid,
    pub(crate) inspection_id: Uuid,
    pub(crate) provider_id: String,
    pub(crate) status: i32,
    pub(crate) refusal_reason: i32,
    pub(crate) grounds: Vec<i32>,
    pub(crate) out_of_remit: Vec<i32>,
    pub(crate) requested_at: PgTimestamp,
    pub(crate) window_closes_at: Option<PgTimestamp>,
    pub(crate) remit: i32,
    pub(crate) complaint_outcome: i32,
    pub(crate) response_overdue: bool,
    pub(crate) referred_at: Option<PgTimestamp>,
    pub(crate) adjudicator_ref: String,
    pub(crate) upheld_grounds: Vec<i32>,
    pub(crate) concluded_at: Option<PgTimestamp>,
}

/// A row of `escalation_recommendations`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecommendationRow {
    pub(crate) escalation_id: Uuid,
    pub(crate) recommendation_id: String,
    pub(crate) case_ref: String,
    pub(crate) kind: i32,
    pub(crate) text_ref: String,
    pub(crate) decision: i32,
    pub(crate) planned_action_ref: String,
    pub(crate) due_on: String,
    pub(crate) public_reason_ref: String,
    pub(crate) statement_ref: String,
    pub(crate) evidence_ref: String,
    pub(crate) issued_at: PgTimestamp,
    pub(crate) decided_at: Option<PgTimestamp>,
    pub(crate) implemented_at: Option<PgTimestamp>,
}

const ESCALATION_COLUMNS: &str = "escalation_id, case_ref, complaint_id, inspection_id, provider_id, \
     status, refusal_reason, grounds, out_of_remit, requested_at, window_closes_at, remit, \
     complaint_outcome, response_overdue, referred_at, adjudicator_ref, upheld_grounds, concluded_at";

const RECOMMENDATION_COLUMNS: &str = "escalation_id, recommendation_id, case_ref, kind, text_ref, \
     decision, planned_action_ref, due_on, public_reason_ref, statement_ref, evidence_ref, \
     issued_at, decided_at, implemented_at";

/// Which escalations the queue lists.
#[derive(Debug)]
pub(crate) struct QueueFilter {
    pub(crate) status: Option<i32>,
    /// Only the escalations this adjudicator is appointed to.
    pub(crate) adjudicator_ref: Option<String>,
    pub(crate) after: Option<Uuid>,
    pub(crate) limit: i64,
}

/// Which recommendations the register lists.
#[derive(Debug)]
pub(crate) struct RegisterFilter {
    pub(crate) escalation_id: Option<Uuid>,
    pub(crate) decision: Option<i32>,
    /// Rows after this `(escalation_id, recommendation_id)`.
    pub(crate) after: Option<(Uuid, String)>,
    pub(crate) limit: i64,
}

/// The read models and their runner.
#[derive(Debug)]
pub struct ReadModels {
    context: Arc<Context>,
    escalations: ProjectionRunner<Escalations>,
}

impl ReadModels {
    /// Creates the projection runner and its tables.
    ///
    /// # Errors
    /// Database errors while creating the tables, or a failed rebuild.
    pub async fn start(context: &Arc<Context>) -> anyhow::Result<Arc<ReadModels>> {
        let read_models = ReadModels {
            context: Arc::clone(context),
            escalations: ProjectionRunner::new(&context.store, &context.schema, Escalations)?,
        };
        read_models.escalations.init().await?;
        Ok(Arc::new(read_models))
    }

    /// Spawns the projection's run loop.
    pub fn spawn(
        self: &Arc<Self>,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        stop: &CancellationToken,
    ) {
        let (me, token) = (Arc::clone(self), stop.clone());
        tasks.spawn(async move { me.escalations.run(token).await });
    }

    /// Rebuilds the tables from the event store and swaps them in.
    ///
    /// # Errors
    /// Database errors; the live tables are untouched then.
    pub async fn rebuild(&self) -> anyhow::Result<()> {
        self.escalations.rebuild(|_| {}).await?;
        Ok(())
    }

    /// Applies every committed event (tests).
    ///
    /// # Errors
    /// Database errors.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        self.escalations.run_once().await
    }

    /// Read-your-writes: true once the projection has applied `position`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn wait_for(&self, position: Position, max_wait: Duration) -> anyhow::Result<bool> {
        wait_for_position(
            self.context.store.pool(),
            "escalations",
            Some(self.escalations.applied()),
            position,
            max_wait,
        )
        .await
    }

    pub(crate) async fn escalation(&self, id: Uuid) -> sqlx::Result<Option<EscalationRow>> {
        let sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE escalation_id = $1");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.context.store.pool())
            .await
    }

    /// The referred escalations, oldest first.
    pub(crate) async fn queue(&self, filter: &QueueFilter) -> sqlx::Result<Vec<EscalationRow>> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations
             WHERE referred_at IS NOT NULL
               AND ($1::integer IS NULL OR status = $1)
               AND ($2::text IS NULL OR adjudicator_ref = $2)
               AND ($3::uuid IS NULL OR escalation_id > $3)
             ORDER BY escalation_id LIMIT $4"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.status)
            .bind(filter.adjudicator_ref.as_deref())
            .bind(filter.after)
            .bind(filter.limit)
            .fetch_all(self.context.store.pool())
            .await
    }

    /// The register, in `(escalation_id, recommendation_id)` order (oldest escalations first).
    pub(crate) async fn recommendations(
        &self,
        filter: &RegisterFilter,
    ) -> sqlx::Result<Vec<RecommendationRow>> {
        let (after_escalation, after_recommendation) = match &filter.after {
            Some((e, r)) => (Some(*e), Some(r.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {RECOMMENDATION_COLUMNS} FROM escalation_recommendations
             WHERE ($1::uuid IS NULL OR escalation_id = $1)
               AND ($2::integer IS NULL OR decision = $2)
               AND ($3::uuid IS NULL OR (escalation_id, recommendation_id) > ($3, $4::text))
             ORDER BY escalation_id, recommendation_id LIMIT $5"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.escalation_id)
            .bind(filter.decision)
            .bind(after_escalation)
            .bind(after_recommendation)
            .bind(filter.limit)
            .fetch_all(self.context.store.pool())
            .await
    }
}
