//! The learning-reviews read models, a function of the service's own events, and their queries.
//!
//! One projection, `learning_reviews`, owns four tables:
//! * `incidents`: per incident, its status, source, category, related inspections and the
//!   decision (`GetIncident`).
//! * `reviews`: per review, its status, scope, approvals, reviewer, evidence counts, audiences
//!   and dates (`GetLearningReview`, `ListLearningReviews`).
//! * `review_recommendations`: each review's recommendations in the report's order, with the
//!   response and the action.
//! * `recommendation_register`: the accountability register across contexts — the adjudicator's
//!   recommendations (from the `RegisterEntry` streams the escalation link fills) and the
//!   learning reviews' (from the reviews' own events), each with its decision, public reason
//!   and implementation (`ListRegister`).
//!
//! Timestamps are stored as `timestamptz` (microseconds). Enumerations are stored as their
//! protobuf numbers, so a value a newer writer added is kept, not lost.

use std::sync::Arc;
use std::time::Duration;

use platform::aggregate::{Aggregate, DecodeError, DomainEvent};
use platform::pg::PgTimestamp;
use platform::projection::{Projection, ProjectionRunner, wait_for_position};
use platform::tail::{Position, RecordedEvent};
use proto::learning_reviews::v1::{IncidentStatus, RegisterDecision, ReviewStatus};
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::Context;
use crate::domain::incident::{self, IncidentNotification};
use crate::domain::register::{self, RegisterEntry};
use crate::domain::review::{self, LearningReview};
use crate::domain::{RecommendationResponse, RecommendationSource, instant, parse_id, parse_ids};

/// The projection's name, also its checkpoint's.
const NAME: &str = "learning_reviews";

/// The `learning_reviews` projection.
#[derive(Debug)]
pub(crate) struct LearningReviews;

impl Projection for LearningReviews {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "incidents",
            "reviews",
            "review_recommendations",
            "recommendation_register",
        ]
    }

    fn create_tables(&self) -> &'static str {
        "CREATE TABLE incidents (
             incident_id            uuid        NOT NULL PRIMARY KEY,
             status                 integer     NOT NULL,
             source                 integer     NOT NULL,
             category               integer     NOT NULL,
             related_inspection_ids uuid[]      NOT NULL,
             reported_at            timestamptz NOT NULL,
             policy_version         text        NOT NULL DEFAULT '',
             review_id              uuid,
             no_review_reasons_ref  text        NOT NULL DEFAULT '',
             decided_at             timestamptz
         );
         CREATE TABLE reviews (
             review_id                 uuid        NOT NULL PRIMARY KEY,
             incident_id               uuid        NOT NULL,
             status                    integer     NOT NULL,
             related_inspection_ids    uuid[]      NOT NULL,
             scope_in                  integer[]   NOT NULL,
             scope_out                 integer[]   NOT NULL,
             required_approvers        integer[]   NOT NULL,
             approvals                 integer[]   NOT NULL DEFAULT '{}',
             policy_version            text        NOT NULL,
             reviewer_ref              text        NOT NULL DEFAULT '',
             reviewer_prior_roles      integer[]   NOT NULL DEFAULT '{}',
             terms_of_reference_ref    text        NOT NULL,
             interviews                integer     NOT NULL DEFAULT 0,
             anonymised_interviews     integer     NOT NULL DEFAULT 0,
             family_engagement_offered boolean     NOT NULL DEFAULT false,
             family_engagement_held    boolean     NOT NULL DEFAULT false,
             report_ref                text        NOT NULL DEFAULT '',
             audiences                 integer[]   NOT NULL DEFAULT '{}',
             monitoring_reports        integer     NOT NULL DEFAULT 0,
             proposed_at               timestamptz NOT NULL,
             commissioned_at           timestamptz,
             closed_at                 timestamptz
         );
         CREATE INDEX reviews_by_status ON reviews (status, review_id);
         CREATE TABLE review_recommendations (
             review_id         uuid    NOT NULL,
             recommendation_id text    NOT NULL,
             ordinal           integer NOT NULL,
             text_ref          text    NOT NULL,
             response          integer NOT NULL DEFAULT 0,
             reasons_ref       text    NOT NULL DEFAULT '',
             action            text    NOT NULL DEFAULT '',
             PRIMARY KEY (review_id, recommendation_id)
         );
         CREATE TABLE recommendation_register (
             case_id           uuid        NOT NULL,
             recommendation_id text        NOT NULL,
             source            integer     NOT NULL,
             case_ref          text        NOT NULL,
             kind              text        NOT NULL DEFAULT '',
             decision          integer     NOT NULL,
             public_reason_ref text        NOT NULL DEFAULT '',
             implemented       boolean     NOT NULL DEFAULT false,
             issued_at         timestamptz NOT NULL,
             decided_at        timestamptz,
             implemented_at    timestamptz,
             PRIMARY KEY (case_id, recommendation_id)
         );
         CREATE INDEX recommendation_register_by_source
             ON recommendation_register (source, decision, case_id, recommendation_id);"
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[
            IncidentNotification::STREAM_TYPE,
            LearningReview::STREAM_TYPE,
            RegisterEntry::STREAM_TYPE,
        ];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for recorded in events {
            let id = recorded.stream_id;
            let (kind, payload) = (&recorded.event_type, &recorded.payload);
            if recorded.stream_type == IncidentNotification::STREAM_TYPE {
                if let Some(event) = known(incident::Event::decode(kind, payload))? {
                    apply_incident(conn, id, &event).await?;
                }
            } else if recorded.stream_type == LearningReview::STREAM_TYPE {
                if let Some(event) = known(review::Event::decode(kind, payload))? {
                    apply_review(conn, id, &event).await?;
                }
            } else if recorded.stream_type == RegisterEntry::STREAM_TYPE
                && let Some(event) = known(register::Event::decode(kind, payload))?
            {
                apply_register(conn, &event).await?;
            }
        }
        Ok(())
    }
}

/// A decoded event; `None` for a type a newer writer added, which this build skips.
fn known<E>(decoded: Result<E, DecodeError>) -> anyhow::Result<Option<E>> {
    match decoded {
        Ok(event) => Ok(Some(event)),
        Err(DecodeError::UnknownType(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn at(stamp: Option<&prost_types::Timestamp>) -> PgTimestamp {
    PgTimestamp(instant(stamp))
}

const PENDING: i32 = RegisterDecision::Pending as i32;
const LEARNING_REVIEW: i32 =
    proto::learning_reviews::v1::RecommendationSource::LearningReview as i32;

async fn apply_incident(
    conn: &mut PgConnection,
    id: Uuid,
    event: &incident::Event,
) -> sqlx::Result<()> {
    use incident::Event as E;
    match event {
        E::Reported(e) => {
            sqlx::query(
                "INSERT INTO incidents (incident_id, status, source, category,
                     related_inspection_ids, reported_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident_id) DO NOTHING",
            )
            .bind(id)
            .bind(IncidentStatus::Reported as i32)
            .bind(e.source)
            .bind(e.category)
            .bind(parse_ids(&e.related_inspection_ids))
            .bind(at(e.reported_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::Assessed(e) => {
            sqlx::query(
                "UPDATE incidents SET status = $2, policy_version = $3 WHERE incident_id = $1",
            )
            .bind(id)
            .bind(IncidentStatus::Assessed as i32)
            .bind(&e.policy_version)
            .execute(conn)
            .await?;
        }
        E::Decided(e) => {
            let (status, review) = if e.commissioned {
                (
                    IncidentStatus::ReviewCommissioned,
                    Some(parse_id(&e.review_id)),
                )
            } else {
                (IncidentStatus::NoReview, None)
            };
            sqlx::query(
                "UPDATE incidents SET status = $2, review_id = $3, no_review_reasons_ref = $4,
                     decided_at = $5
                 WHERE incident_id = $1",
            )
            .bind(id)
            .bind(status as i32)
            .bind(review)
            .bind(&e.reasons_ref)
            .bind(at(e.decided_at.as_ref()))
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Runs `UPDATE reviews SET <set> WHERE review_id = $1`, with `$2` bound to `value`.
async fn update_review<'q, T>(
    conn: &mut PgConnection,
    id: Uuid,
    set: &'static str,
    value: T,
) -> sqlx::Result<()>
where
    T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    let sql = format!("UPDATE reviews SET {set} WHERE review_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

async fn status(conn: &mut PgConnection, id: Uuid, status: ReviewStatus) -> sqlx::Result<()> {
    update_review(conn, id, "status = $2", status as i32).await
}

async fn apply_review(
    conn: &mut PgConnection,
    id: Uuid,
    event: &review::Event,
) -> sqlx::Result<()> {
    use review::Event as E;
    match event {
        E::Proposed(e) => {
            sqlx::query(
                "INSERT INTO reviews (review_id, incident_id, status, related_inspection_ids,
                     scope_in, scope_out, required_approvers, policy_version,
                     terms_of_reference_ref, proposed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (review_id) DO NOTHING",
            )
            .bind(id)
            .bind(parse_id(&e.incident_id))
            .bind(ReviewStatus::Proposed as i32)
            .bind(parse_ids(&e.related_inspection_ids))
            .bind(&e.scope_in)
            .bind(&e.scope_out)
            .bind(&e.required_approvers)
            .bind(&e.policy_version)
            .bind(&e.terms_of_reference_ref)
            .bind(at(e.proposed_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::CommissionApproved(e) => {
            update_review(
                conn,
                id,
                "approvals = CASE WHEN $2 = ANY(approvals) THEN approvals
                                  ELSE array_append(approvals, $2) END",
                e.approver,
            )
            .await?;
        }
        E::Commissioned(e) => {
            status(conn, id, ReviewStatus::Commissioned).await?;
            update_review(
                conn,
                id,
                "commissioned_at = $2",
                at(e.commissioned_at.as_ref()),
            )
            .await?;
        }
        E::ReviewerAppointed(e) => {
            status(conn, id, ReviewStatus::ReviewerAppointed).await?;
            update_review(conn, id, "reviewer_ref = $2", e.reviewer_ref.as_str()).await?;
            update_review(conn, id, "reviewer_prior_roles = $2", &e.prior_roles).await?;
        }
        E::TermsPublished(_) => status(conn, id, ReviewStatus::TermsPublished).await?,
        E::RecordsAccessGranted(_) | E::SpecialistAdviceObtained(_) => {}
        E::InterviewRecorded(e) => {
            update_review(
                conn,
                id,
                "interviews = interviews + 1,
                 anonymised_interviews = anonymised_interviews + $2::integer",
                i32::from(e.anonymised),
            )
            .await?;
        }
        E::FamilyEngagementOffered(_) => {
            update_review(conn, id, "family_engagement_offered = $2", true).await?;
        }
        E::FamilyEngagementHeld(_) => {
            update_review(conn, id, "family_engagement_held = $2", true).await?;
        }
        E::ReportSubmitted(e) => {
            status(conn, id, ReviewStatus::ReportSubmitted).await?;
            update_review(conn, id, "report_ref = $2", e.report_ref.as_str()).await?;
            let ids: Vec<&str> = e
                .recommendations
                .iter()
                .map(|r| r.recommendation_id.as_str())
                .collect();
            let texts: Vec<&str> = e
                .recommendations
                .iter()
                .map(|r| r.text_ref.as_str())
                .collect();
            sqlx::query(
                "INSERT INTO review_recommendations (review_id, recommendation_id, ordinal, text_ref)
                 SELECT $1, r.id, r.ordinal::integer, r.text_ref
                 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(id, text_ref, ordinal)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&ids)
            .bind(&texts)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO recommendation_register (case_id, recommendation_id, source, case_ref,
                     decision, issued_at)
                 SELECT $1, r.id, $3, $1::text, $4, $5
                 FROM unnest($2::text[]) AS r(id)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&ids)
            .bind(LEARNING_REVIEW)
            .bind(PENDING)
            .bind(at(e.submitted_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::ReportPublished(_) => status(conn, id, ReviewStatus::ReportPublished).await?,
        E::RecommendationResponded(e) => {
            sqlx::query(
                "UPDATE review_recommendations SET response = $3, reasons_ref = $4
                 WHERE review_id = $1 AND recommendation_id = $2",
            )
            .bind(id)
            .bind(&e.recommendation_id)
            .bind(e.response)
            .bind(&e.reasons_ref)
            .execute(&mut *conn)
            .await?;
            let decision = RecommendationResponse::from_proto(e.response)
                .map_or(RegisterDecision::Unspecified as i32, |r| {
                    r.register_decision().to_proto()
                });
            sqlx::query(
                "UPDATE recommendation_register SET decision = $3, public_reason_ref = $4,
                     decided_at = $5
                 WHERE case_id = $1 AND recommendation_id = $2",
            )
            .bind(id)
            .bind(&e.recommendation_id)
            .bind(decision)
            .bind(&e.reasons_ref)
            .bind(at(e.responded_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::ResponsePublished(_) => status(conn, id, ReviewStatus::ResponsePublished).await?,
        E::MonitoringReportPublished(_) => {
            update_review(conn, id, "monitoring_reports = monitoring_reports + $2", 1).await?;
        }
        E::ActionImplemented(e) => {
            action(conn, id, &e.recommendation_id, review::Action::Implemented).await?;
            sqlx::query(
                "UPDATE recommendation_register SET implemented = true, implemented_at = $3
                 WHERE case_id = $1 AND recommendation_id = $2",
            )
            .bind(id)
            .bind(&e.recommendation_id)
            .bind(at(e.implemented_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::ActionTransferred(e) => {
            action(conn, id, &e.recommendation_id, review::Action::Transferred).await?;
        }
        E::LessonsDisseminated(e) => {
            update_review(
                conn,
                id,
                "audiences = ARRAY(SELECT DISTINCT a FROM unnest(audiences || $2) AS a ORDER BY a)",
                &e.audiences,
            )
            .await?;
        }
        E::Closed(e) => {
            status(conn, id, ReviewStatus::Closed).await?;
            update_review(conn, id, "closed_at = $2", at(e.closed_at.as_ref())).await?;
        }
    }
    Ok(())
}

async fn action(
    conn: &mut PgConnection,
    id: Uuid,
    recommendation_id: &str,
    action: review::Action,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE review_recommendations SET action = $3
         WHERE review_id = $1 AND recommendation_id = $2",
    )
    .bind(id)
    .bind(recommendation_id)
    .bind(action.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply_register(conn: &mut PgConnection, event: &register::Event) -> sqlx::Result<()> {
    use register::Event as E;
    match event {
        E::RecommendationRecorded(e) => {
            sqlx::query(
                "INSERT INTO recommendation_register (case_id, recommendation_id, source, case_ref,
                     kind, decision, issued_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(parse_id(&e.case_id))
            .bind(&e.recommendation_id)
            .bind(e.source)
            .bind(&e.case_ref)
            .bind(&e.kind)
            .bind(PENDING)
            .bind(at(e.issued_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::DecisionRecorded(e) => {
            sqlx::query(
                "UPDATE recommendation_register SET decision = $3, public_reason_ref = $4,
                     decided_at = $5
                 WHERE case_id = $1 AND recommendation_id = $2",
            )
            .bind(parse_id(&e.case_id))
            .bind(&e.recommendation_id)
            .bind(e.decision)
            .bind(&e.public_reason_ref)
            .bind(at(e.decided_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::ImplementationRecorded(e) => {
            sqlx::query(
                "UPDATE recommendation_register SET implemented = true, implemented_at = $3
                 WHERE case_id = $1 AND recommendation_id = $2",
            )
            .bind(parse_id(&e.case_id))
            .bind(&e.recommendation_id)
            .bind(at(e.implemented_at.as_ref()))
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// A row of `incidents`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IncidentRow {
    pub(crate) incident_id: Uuid,
    pub(crate) status: i32,
    pub(crate) source: i32,
    pub(crate) category: i32,
    pub(crate) related_inspection_ids: Vec<Uuid>,
    pub(crate) reported_at: PgTimestamp,
    pub(crate) review_id: Option<Uuid>,
    pub(crate) no_review_reasons_ref: String,
}

/// A row of `reviews`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ReviewRow {
    pub(crate) review_id: Uuid,
    pub(crate) incident_id: Uuid,
    pub(crate) status: i32,
    pub(crate) related_inspection_ids: Vec<Uuid>,
    pub(crate) scope_in: Vec<i32>,
    pub(crate) scope_out: Vec<i32>,
    pub(crate) required_approvers: Vec<i32>,
    pub(crate) approvals: Vec<i32>,
    pub(crate) reviewer_ref: String,
    pub(crate) reviewer_prior_roles: Vec<i32>,
    pub(crate) terms_of_reference_ref: String,
    pub(crate) interviews: i32,
    pub(crate) anonymised_interviews: i32,
    pub(crate) family_engagement_offered: bool,
    pub(crate) family_engagement_held: bool,
    pub(crate) report_ref: String,
    pub(crate) audiences: Vec<i32>,
    pub(crate) monitoring_reports: i32,
    pub(crate) commissioned_at: Option<PgTimestamp>,
    pub(crate) closed_at: Option<PgTimestamp>,
}

/// A row of `review_recommendations`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecommendationRow {
    pub(crate) review_id: Uuid,
    pub(crate) recommendation_id: String,
    pub(crate) text_ref: String,
    pub(crate) response: i32,
    pub(crate) reasons_ref: String,
    pub(crate) action: String,
}

/// A row of `recommendation_register`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RegisterRow {
    pub(crate) case_id: Uuid,
    pub(crate) recommendation_id: String,
    pub(crate) source: i32,
    pub(crate) case_ref: String,
    pub(crate) kind: String,
    pub(crate) decision: i32,
    pub(crate) public_reason_ref: String,
    pub(crate) implemented: bool,
    pub(crate) issued_at: PgTimestamp,
    pub(crate) decided_at: Option<PgTimestamp>,
    pub(crate) implemented_at: Option<PgTimestamp>,
}

const REVIEW_COLUMNS: &str = "review_id, incident_id, status, related_inspection_ids, scope_in, \
     scope_out, required_approvers, approvals, reviewer_ref, reviewer_prior_roles, \
     terms_of_reference_ref, interviews, anonymised_interviews, family_engagement_offered, \
     family_engagement_held, report_ref, audiences, monitoring_reports, commissioned_at, closed_at";

const REGISTER_COLUMNS: &str = "case_id, recommendation_id, source, case_ref, kind, decision, \
     public_reason_ref, implemented, issued_at, decided_at, implemented_at";

/// Which reviews `ListLearningReviews` lists.
#[derive(Debug)]
pub(crate) struct ReviewFilter {
    pub(crate) status: Option<i32>,
    pub(crate) after: Option<Uuid>,
    pub(crate) limit: i64,
}

/// Which recommendations the register lists.
#[derive(Debug)]
pub(crate) struct RegisterFilter {
    pub(crate) source: Option<RecommendationSource>,
    pub(crate) decision: Option<i32>,
    /// Rows after this `(case_id, recommendation_id)`.
    pub(crate) after: Option<(Uuid, String)>,
    pub(crate) limit: i64,
}

/// The read models and their runner.
#[derive(Debug)]
pub struct ReadModels {
    context: Arc<Context>,
    runner: ProjectionRunner<LearningReviews>,
}

impl ReadModels {
    /// Creates the projection runner and its tables.
    ///
    /// # Errors
    /// Database errors while creating the tables, or a failed rebuild.
    pub async fn start(context: &Arc<Context>) -> anyhow::Result<Arc<ReadModels>> {
        let read_models = ReadModels {
            context: Arc::clone(context),
            runner: ProjectionRunner::new(&context.store, &context.schema, LearningReviews)?,
        };
        read_models.runner.init().await?;
        Ok(Arc::new(read_models))
    }

    /// Spawns the projection's run loop.
    pub fn spawn(
        self: &Arc<Self>,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        stop: &CancellationToken,
    ) {
        let (me, token) = (Arc::clone(self), stop.clone());
        tasks.spawn(async move { me.runner.run(token).await });
    }

    /// Rebuilds the tables from the event store and swaps them in.
    ///
    /// # Errors
    /// Database errors; the live tables are untouched then.
    pub async fn rebuild(&self) -> anyhow::Result<()> {
        self.runner.rebuild(|_| {}).await?;
        Ok(())
    }

    /// Applies every committed event (tests and operator tools).
    ///
    /// # Errors
    /// Database errors.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        self.runner.run_once().await
    }

    /// Read-your-writes: true once the projection has applied `position`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn wait_for(&self, position: Position, max_wait: Duration) -> anyhow::Result<bool> {
        wait_for_position(
            self.context.store.pool(),
            NAME,
            Some(self.runner.applied()),
            position,
            max_wait,
        )
        .await
    }

    pub(crate) async fn incident(&self, id: Uuid) -> sqlx::Result<Option<IncidentRow>> {
        sqlx::query_as(
            "SELECT incident_id, status, source, category, related_inspection_ids, reported_at,
                 review_id, no_review_reasons_ref
             FROM incidents WHERE incident_id = $1",
        )
        .bind(id)
        .fetch_optional(self.context.store.pool())
        .await
    }

    pub(crate) async fn review(&self, id: Uuid) -> sqlx::Result<Option<ReviewRow>> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE review_id = $1");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.context.store.pool())
            .await
    }

    /// The reviews, oldest first.
    pub(crate) async fn reviews(&self, filter: &ReviewFilter) -> sqlx::Result<Vec<ReviewRow>> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews
             WHERE ($1::integer IS NULL OR status = $1)
               AND ($2::uuid IS NULL OR review_id > $2)
             ORDER BY review_id LIMIT $3"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.status)
            .bind(filter.after)
            .bind(filter.limit)
            .fetch_all(self.context.store.pool())
            .await
    }

    /// The recommendations of `reviews`, each review's in the report's order.
    pub(crate) async fn recommendations(
        &self,
        reviews: &[Uuid],
    ) -> sqlx::Result<Vec<RecommendationRow>> {
        sqlx::query_as(
            "SELECT review_id, recommendation_id, text_ref, response, reasons_ref, action
             FROM review_recommendations WHERE review_id = ANY($1)
             ORDER BY review_id, ordinal",
        )
        .bind(reviews)
        .fetch_all(self.context.store.pool())
        .await
    }

    /// The register, in `(case_id, recommendation_id)` order (oldest cases first).
    pub(crate) async fn register(&self, filter: &RegisterFilter) -> sqlx::Result<Vec<RegisterRow>> {
        let (after_case, after_recommendation) = match &filter.after {
            Some((c, r)) => (Some(*c), Some(r.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {REGISTER_COLUMNS} FROM recommendation_register
             WHERE ($1::integer IS NULL OR source = $1)
               AND ($2::integer IS NULL OR decision = $2)
               AND ($3::uuid IS NULL OR (case_id, recommendation_id) > ($3, $4::text))
             ORDER BY case_id, recommendation_id LIMIT $5"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.source.map(RecommendationSource::to_proto))
            .bind(filter.decision)
            .bind(after_case)
            .bind(after_recommendation)
            .bind(filter.limit)
            .fetch_all(self.context.store.pool())
            .await
    }
}
