//! The `inspections` projection and its queries.
//!
//! Tables (all functions of the service's own events, so [`ProjectionRunner::rebuild`] can
//! recreate them):
//! * `inspection_cases`: one row per case — provider, remit, stage, team, policy version, the
//!   tribunal appeals pending.
//! * `day_after_route`: per inspection, the last on-site day and the day-after window.
//! * `publication_gate` and `publication_holds`: the publication deadline, the explanation and
//!   publication instants, and the complaints holding publication now.
//! * `duty_desk_consultations` and `pause_register`: every pause with its consultation.
//! * `concerns`: one row per concern — channel, topic, status, handler.
//!
//! The queries the handlers run are in `queries`, re-exported here.
//!
//! Each event is applied with its own statement inside the runner's transaction, except the
//! cases' first events (`InspectionNotified`): runs of those, most of a page under load and in a
//! rebuild, are written with one statement. A case writes a handful of events a day, so for the
//! rest per-event upserts keep the mapping plain.
//!
//! [`ProjectionRunner::rebuild`]: platform::projection::ProjectionRunner::rebuild

use anyhow::Context as _;
use platform::aggregate::{Aggregate as _, DomainEvent};
use platform::pg::PgTimestamp;
use platform::projection::Projection;
use platform::tail::RecordedEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::concern::{self, Concern};
use crate::domain::inspection::{self, InspectionCase};
use crate::domain::{instant, v1};

mod queries;

pub use queries::{
    PauseCursor, PauseFilter, PauseRow, case_provider, concern, day_after_route, inspection_case,
    pauses, publication_gate,
};

/// The projection's name (its checkpoint is `projection.inspections`).
pub const NAME: &str = "inspections";

/// The inspections read models.
#[derive(Clone, Copy, Debug, Default)]
pub struct InspectionsProjection;

const CREATE: &str = "
CREATE TABLE inspection_cases (
    inspection_id       uuid    PRIMARY KEY,
    provider_id         text,
    remit               integer NOT NULL DEFAULT 0,
    stage               integer NOT NULL DEFAULT 0,
    lead_inspector_ref  text    NOT NULL DEFAULT '',
    team_inspector_refs text[]  NOT NULL DEFAULT '{}',
    policy_version      text    NOT NULL DEFAULT '',
    on_site_starts_on   text    NOT NULL DEFAULT '',
    last_onsite_date    text    NOT NULL DEFAULT '',
    version             bigint  NOT NULL DEFAULT 0,
    -- The references of the tribunal appeals lodged and not yet concluded; a set, kept by
    -- appending only a reference not already there.
    pending_tribunal_appeal_refs text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX inspection_cases_provider ON inspection_cases (provider_id);
CREATE TABLE day_after_route (
    inspection_id    uuid        PRIMARY KEY,
    last_onsite_date text        NOT NULL,
    opens_at         timestamptz NOT NULL,
    closes_at        timestamptz NOT NULL
);
CREATE TABLE publication_gate (
    inspection_id           uuid        PRIMARY KEY,
    publication_expected_by timestamptz,
    explanation_due_since   timestamptz,
    explained_at            timestamptz,
    final_issued_at         timestamptz,
    published_at            timestamptz
);
CREATE TABLE publication_holds (
    inspection_id uuid        NOT NULL,
    complaint_id  uuid        NOT NULL,
    held_since    timestamptz NOT NULL,
    PRIMARY KEY (inspection_id, complaint_id)
);
CREATE TABLE duty_desk_consultations (
    inspection_id    uuid        NOT NULL,
    consultation_ref text        NOT NULL,
    duty_desk        integer     NOT NULL,
    consulted_at     timestamptz NOT NULL,
    PRIMARY KEY (inspection_id, consultation_ref)
);
-- Keyed by the pause's instant: a case pauses at most once at a time.
CREATE TABLE pause_register (
    inspection_id            uuid        NOT NULL,
    paused_at                timestamptz NOT NULL,
    initiated_by             integer     NOT NULL,
    recorded_by_ref          text        NOT NULL,
    reason                   integer     NOT NULL,
    consultation_ref         text        NOT NULL,
    resume_deadline          timestamptz NOT NULL,
    pause_limit_working_days integer     NOT NULL,
    policy_version           text        NOT NULL,
    calendar_version         text        NOT NULL,
    resumed_at               timestamptz,
    deemed_incomplete_at     timestamptz,
    PRIMARY KEY (inspection_id, paused_at)
);
CREATE INDEX pause_register_newest ON pause_register (paused_at DESC, inspection_id DESC);
CREATE TABLE concerns (
    concern_id             uuid        PRIMARY KEY,
    inspection_id          uuid        NOT NULL,
    channel                integer     NOT NULL,
    topic                  integer     NOT NULL,
    status                 integer     NOT NULL,
    raised_by_ref          text        NOT NULL,
    raised_at              timestamptz NOT NULL,
    handler_ref            text        NOT NULL DEFAULT '',
    assigned_at            timestamptz,
    closed_at              timestamptz,
    advice                 integer     NOT NULL DEFAULT 0,
    wellbeing_risk_flagged boolean     NOT NULL DEFAULT false
);
CREATE INDEX concerns_inspection ON concerns (inspection_id);
";

impl Projection for InspectionsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        // 2: `inspection_cases.pending_tribunal_appeal_refs`.
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "inspection_cases",
            "day_after_route",
            "publication_gate",
            "publication_holds",
            "duty_desk_consultations",
            "pause_register",
            "concerns",
        ]
    }

    fn create_tables(&self) -> &'static str {
        CREATE
    }

    fn stream_types(&self) -> Option<&'static [&'static str]> {
        const READS: &[&str] = &[InspectionCase::STREAM_TYPE, Concern::STREAM_TYPE];
        Some(READS)
    }

    async fn apply(&self, conn: &mut PgConnection, events: &[RecordedEvent]) -> anyhow::Result<()> {
        let mut notified = Notified::default();
        for event in events {
            let decode_failed = || {
                format!(
                    "Failed to decode event {} ({})",
                    event.event_id, event.event_type
                )
            };
            if event.stream_type == InspectionCase::STREAM_TYPE {
                let decoded = inspection::Event::decode(&event.event_type, &event.payload)
                    .with_context(decode_failed)?;
                if let inspection::Event::InspectionNotified(e) = &decoded {
                    notified.push(conn, event, e).await?;
                    continue;
                }
                notified.write(conn).await?;
                apply_case(conn, event, &decoded).await?;
            } else if event.stream_type == Concern::STREAM_TYPE {
                let decoded = concern::Event::decode(&event.event_type, &event.payload)
                    .with_context(decode_failed)?;
                notified.write(conn).await?;
                apply_concern(conn, event.stream_id, &decoded).await?;
            }
        }
        notified.write(conn).await
    }
}

/// Consecutive `InspectionNotified` events, each a case's first, written with one statement:
/// under load and in a rebuild most of a page is notifications. Written before any other event
/// and before a second notification of a case already held, so the order of effects is the log's.
#[derive(Debug, Default)]
struct Notified {
    ids: Vec<Uuid>,
    remits: Vec<i32>,
    leads: Vec<String>,
    /// Each case's team as a JSON array: PostgreSQL arrays cannot be ragged.
    teams: Vec<String>,
    policies: Vec<String>,
    starts: Vec<String>,
    versions: Vec<i64>,
    providers: Vec<String>,
}

impl Notified {
    async fn push(
        &mut self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
        e: &v1::InspectionNotified,
    ) -> anyhow::Result<()> {
        if self.ids.contains(&event.stream_id) {
            self.write(conn).await?;
        }
        self.ids.push(event.stream_id);
        self.remits.push(e.remit);
        self.leads.push(e.lead_inspector_ref.clone());
        self.teams
            .push(serde_json::to_string(&e.team_inspector_refs)?);
        self.policies.push(e.policy_version.clone());
        self.starts.push(e.on_site_starts_on.clone());
        self.versions.push(i64::from(event.version));
        self.providers.push(e.provider_id.clone());
        Ok(())
    }

    /// Writes what is held, and empties it.
    async fn write(&mut self, conn: &mut PgConnection) -> anyhow::Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO inspection_cases (inspection_id, remit, stage, lead_inspector_ref,
                 team_inspector_refs, policy_version, on_site_starts_on, version, provider_id)
             SELECT id, remit, $9, lead,
                    ARRAY(SELECT jsonb_array_elements_text(team::jsonb)), policy, starts, version,
                    provider
             FROM unnest($1::uuid[], $2::integer[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::bigint[], $8::text[])
                  AS n(id, remit, lead, team, policy, starts, version, provider)
             ON CONFLICT (inspection_id) DO UPDATE SET remit = excluded.remit,
                 provider_id = excluded.provider_id,
                 stage = excluded.stage, lead_inspector_ref = excluded.lead_inspector_ref,
                 team_inspector_refs = excluded.team_inspector_refs,
                 policy_version = excluded.policy_version,
                 on_site_starts_on = excluded.on_site_starts_on, version = excluded.version",
        )
        .bind(&self.ids)
        .bind(&self.remits)
        .bind(&self.leads)
        .bind(&self.teams)
        .bind(&self.policies)
        .bind(&self.starts)
        .bind(&self.versions)
        .bind(&self.providers)
        .bind(v1::InspectionCaseStage::Notified as i32)
        .execute(&mut *conn)
        .await?;
        *self = Notified::default();
        Ok(())
    }
}

fn at(t: Option<&prost_types::Timestamp>) -> PgTimestamp {
    PgTimestamp(instant(t))
}

/// Moves a case to `stage` and records the stream version.
async fn set_stage(
    conn: &mut PgConnection,
    id: Uuid,
    version: u32,
    stage: v1::InspectionCaseStage,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO inspection_cases (inspection_id, stage, version) VALUES ($1, $2, $3)
         ON CONFLICT (inspection_id) DO UPDATE SET stage = excluded.stage, version = excluded.version",
    )
    .bind(id)
    .bind(stage as i32)
    .bind(i64::from(version))
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_version(conn: &mut PgConnection, id: Uuid, version: u32) -> anyhow::Result<()> {
    sqlx::query("UPDATE inspection_cases SET version = $2 WHERE inspection_id = $1")
        .bind(id)
        .bind(i64::from(version))
        .execute(conn)
        .await?;
    Ok(())
}

/// Runs one gate statement, creating the inspection's gate row first.
async fn gate(
    conn: &mut PgConnection,
    id: Uuid,
    column: &'static str,
    value: PgTimestamp,
) -> anyhow::Result<()> {
    // `column` is one of this module's literals, never input.
    let sql = format!(
        "INSERT INTO publication_gate (inspection_id, {column}) VALUES ($1, $2)
         ON CONFLICT (inspection_id) DO UPDATE SET {column} = excluded.{column}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

async fn apply_case(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    decoded: &inspection::Event,
) -> anyhow::Result<()> {
    use inspection::Event as E;
    use v1::InspectionCaseStage as S;
    let id = event.stream_id;
    let version = event.version;
    match decoded {
        // Written in batches by `Notified`.
        E::InspectionNotified(_) => {}
        E::InspectionDeferred(e) => {
            set_stage(conn, id, version, S::Deferred).await?;
            sqlx::query(
                "UPDATE inspection_cases SET on_site_starts_on = $2 WHERE inspection_id = $1",
            )
            .bind(id)
            .bind(&e.on_site_starts_on)
            .execute(conn)
            .await?;
        }
        E::OnSiteVisitStarted(e) => {
            set_stage(conn, id, version, S::OnSite).await?;
            sqlx::query("UPDATE inspection_cases SET policy_version = $2 WHERE inspection_id = $1")
                .bind(id)
                .bind(&e.policy_version)
                .execute(conn)
                .await?;
        }
        E::DutyDeskConsulted(e) => {
            set_version(conn, id, version).await?;
            sqlx::query(
                "INSERT INTO duty_desk_consultations (inspection_id, consultation_ref, duty_desk, consulted_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&e.consultation_ref)
            .bind(e.duty_desk)
            .bind(at(e.consulted_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::InspectionPaused(e) => {
            set_stage(conn, id, version, S::Paused).await?;
            sqlx::query(
                "INSERT INTO pause_register (inspection_id, paused_at, initiated_by, recorded_by_ref,
                     reason, consultation_ref, resume_deadline, pause_limit_working_days,
                     policy_version, calendar_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(at(e.paused_at.as_ref()))
            .bind(e.initiated_by)
            .bind(&e.recorded_by_ref)
            .bind(e.reason)
            .bind(&e.consultation_ref)
            .bind(at(e.resume_deadline.as_ref()))
            .bind(i32::try_from(e.pause_limit_working_days).unwrap_or(i32::MAX))
            .bind(&e.policy_version)
            .bind(&e.calendar_version)
            .execute(conn)
            .await?;
        }
        E::InspectionResumed(e) => {
            set_stage(conn, id, version, S::OnSite).await?;
            sqlx::query(
                "UPDATE pause_register SET resumed_at = $3 WHERE inspection_id = $1 AND paused_at = $2",
            )
            .bind(id)
            .bind(at(e.paused_at.as_ref()))
            .bind(at(e.resumed_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::InspectionDeemedIncomplete(e) => {
            set_stage(conn, id, version, S::Incomplete).await?;
            sqlx::query(
                "UPDATE pause_register SET deemed_incomplete_at = $3 WHERE inspection_id = $1 AND paused_at = $2",
            )
            .bind(id)
            .bind(at(e.paused_at.as_ref()))
            .bind(at(e.deemed_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::OnSiteVisitEnded(e) => {
            set_stage(conn, id, version, S::OnSiteEnded).await?;
            sqlx::query(
                "UPDATE inspection_cases SET last_onsite_date = $2 WHERE inspection_id = $1",
            )
            .bind(id)
            .bind(&e.last_onsite_date)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO day_after_route (inspection_id, last_onsite_date, opens_at, closes_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (inspection_id) DO UPDATE SET last_onsite_date = excluded.last_onsite_date,
                     opens_at = excluded.opens_at, closes_at = excluded.closes_at",
            )
            .bind(id)
            .bind(&e.last_onsite_date)
            .bind(at(e.day_after_window_opens_at.as_ref()))
            .bind(at(e.day_after_window_closes_at.as_ref()))
            .execute(&mut *conn)
            .await?;
            gate(
                conn,
                id,
                "publication_expected_by",
                at(e.publication_expected_by.as_ref()),
            )
            .await?;
        }
        E::DraftReportIssued(_) => set_stage(conn, id, version, S::DraftIssued).await?,
        E::FinalReportIssued(e) => {
            set_stage(conn, id, version, S::FinalIssued).await?;
            gate(conn, id, "final_issued_at", at(e.issued_at.as_ref())).await?;
        }
        E::ReportPublished(e) => {
            set_stage(conn, id, version, S::Published).await?;
            gate(conn, id, "published_at", at(e.published_at.as_ref())).await?;
        }
        E::PublicationDelayExplanationDue(e) => {
            set_version(conn, id, version).await?;
            gate(conn, id, "explanation_due_since", at(e.raised_at.as_ref())).await?;
        }
        E::PublicationDelayExplained(e) => {
            set_version(conn, id, version).await?;
            gate(conn, id, "explained_at", at(e.explained_at.as_ref())).await?;
        }
        E::PublicationHoldPlaced(e) => {
            set_version(conn, id, version).await?;
            sqlx::query(
                "INSERT INTO publication_holds (inspection_id, complaint_id, held_since)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(e.complaint_id.parse::<Uuid>().unwrap_or_default())
            .bind(at(e.placed_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::PublicationHoldReleased(e) => {
            set_version(conn, id, version).await?;
            sqlx::query(
                "DELETE FROM publication_holds WHERE inspection_id = $1 AND complaint_id = $2",
            )
            .bind(id)
            .bind(e.complaint_id.parse::<Uuid>().unwrap_or_default())
            .execute(conn)
            .await?;
        }
        E::TribunalAppealLodged(e) => {
            set_version(conn, id, version).await?;
            sqlx::query(
                "UPDATE inspection_cases
                 SET pending_tribunal_appeal_refs = array_append(pending_tribunal_appeal_refs, $2)
                 WHERE inspection_id = $1 AND NOT ($2 = ANY (pending_tribunal_appeal_refs))",
            )
            .bind(id)
            .bind(&e.appeal_ref)
            .execute(conn)
            .await?;
        }
        E::TribunalAppealConcluded(e) => {
            set_version(conn, id, version).await?;
            sqlx::query(
                "UPDATE inspection_cases
                 SET pending_tribunal_appeal_refs = array_remove(pending_tribunal_appeal_refs, $2)
                 WHERE inspection_id = $1",
            )
            .bind(id)
            .bind(&e.appeal_ref)
            .execute(conn)
            .await?;
        }
        E::FormalComplaintWindowOpened(_)
        | E::FactualAccuracyPointsSubmitted(_)
        | E::WellbeingContactRecorded(_) => set_version(conn, id, version).await?,
    }
    Ok(())
}

async fn close_concern(
    conn: &mut PgConnection,
    id: Uuid,
    status: v1::ConcernStatus,
    closed_at: PgTimestamp,
    advice: i32,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE concerns SET status = $2, closed_at = $3, advice = $4 WHERE concern_id = $1",
    )
    .bind(id)
    .bind(status as i32)
    .bind(closed_at)
    .bind(advice)
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply_concern(
    conn: &mut PgConnection,
    id: Uuid,
    decoded: &concern::Event,
) -> anyhow::Result<()> {
    use concern::Event as E;
    use v1::ConcernStatus as S;
    match decoded {
        E::ConcernRaised(e) => {
            sqlx::query(
                "INSERT INTO concerns (concern_id, inspection_id, channel, topic, status, raised_by_ref, raised_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(e.inspection_id.parse::<Uuid>().unwrap_or_default())
            .bind(e.channel)
            .bind(e.topic)
            .bind(S::Raised as i32)
            .bind(&e.raised_by_ref)
            .bind(at(e.raised_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::ConcernAssigned(e) => {
            sqlx::query(
                "UPDATE concerns SET status = $2, handler_ref = $3, assigned_at = $4 WHERE concern_id = $1",
            )
            .bind(id)
            .bind(S::Assigned as i32)
            .bind(&e.handler_ref)
            .bind(at(e.assigned_at.as_ref()))
            .execute(conn)
            .await?;
        }
        E::ConcernResolved(e) => {
            close_concern(conn, id, S::Resolved, at(e.resolved_at.as_ref()), 0).await?;
        }
        E::ConcernLeftUnresolved(e) => {
            close_concern(
                conn,
                id,
                S::LeftUnresolved,
                at(e.closed_at.as_ref()),
                e.advice,
            )
            .await?;
        }
        E::ConcernWithdrawn(e) => {
            close_concern(conn, id, S::Withdrawn, at(e.withdrawn_at.as_ref()), 0).await?;
        }
        E::WellbeingRiskFlagged(_) => {
            sqlx::query("UPDATE concerns SET wellbeing_risk_flagged = true WHERE concern_id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
