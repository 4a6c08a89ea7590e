//! The queries the gRPC handlers run against the `inspections` read models. Each reads only
//! the tables; none writes.

use anyhow::Context as _;
use jiff::Timestamp;
use platform::pg::{PgTimestamp, Pool};
use uuid::Uuid;

use crate::domain::v1;

fn stamp(t: Option<PgTimestamp>) -> Option<prost_types::Timestamp> {
    t.map(|t| crate::domain::timestamp(t.0))
}

/// A case's summary; `None` when the case is unknown.
///
/// # Errors
/// Database errors.
pub async fn inspection_case(
    pool: &Pool,
    id: Uuid,
) -> anyhow::Result<Option<v1::InspectionCaseView>> {
    type Row = (
        Option<String>,
        i32,
        i32,
        String,
        Vec<String>,
        String,
        String,
        String,
        i64,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT provider_id, remit, stage, lead_inspector_ref, team_inspector_refs, policy_version,
                on_site_starts_on, last_onsite_date, version,
                cardinality(pending_tribunal_appeal_refs) > 0
         FROM inspection_cases WHERE inspection_id = $1 AND stage <> 0",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("Failed to read an inspection case")?;
    Ok(row.map(
        |(provider, remit, stage, lead, team, policy, starts, last, version, appeal_pending)| {
            v1::InspectionCaseView {
                inspection_id: id.to_string(),
                provider_id: provider.unwrap_or_default(),
                remit,
                stage,
                lead_inspector_ref: lead,
                team_inspector_refs: team,
                policy_version: policy,
                on_site_starts_on: starts,
                last_onsite_date: last,
                version: version.unsigned_abs(),
                tribunal_appeal_pending: appeal_pending,
            }
        },
    ))
}

/// The provider of a case as the read model knows it; `None` for an unknown case.
///
/// # Errors
/// Database errors.
pub async fn case_provider(pool: &Pool, id: Uuid) -> anyhow::Result<Option<Option<String>>> {
    let row: Option<Option<String>> =
        sqlx::query_scalar("SELECT provider_id FROM inspection_cases WHERE inspection_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .context("Failed to read an inspection's provider")?;
    Ok(row)
}

/// A concern and its inspection's provider; `None` when unknown.
///
/// # Errors
/// Database errors.
pub async fn concern(
    pool: &Pool,
    id: Uuid,
) -> anyhow::Result<Option<(v1::ConcernView, Option<String>)>> {
    type Row = (
        Uuid,
        i32,
        i32,
        i32,
        String,
        PgTimestamp,
        String,
        Option<PgTimestamp>,
        i32,
        bool,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.inspection_id, c.channel, c.topic, c.status, c.raised_by_ref, c.raised_at,
                c.handler_ref, c.closed_at, c.advice, c.wellbeing_risk_flagged, i.provider_id
         FROM concerns c LEFT JOIN inspection_cases i USING (inspection_id)
         WHERE c.concern_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("Failed to read a concern")?;
    Ok(row.map(
        |(
            inspection,
            channel,
            topic,
            status,
            by,
            raised,
            handler,
            closed,
            advice,
            flagged,
            provider,
        )| {
            (
                v1::ConcernView {
                    concern_id: id.to_string(),
                    inspection_id: inspection.to_string(),
                    channel,
                    topic,
                    status,
                    raised_by_ref: by,
                    raised_at: stamp(Some(raised)),
                    handler_ref: handler,
                    closed_at: stamp(closed),
                    advice,
                    wellbeing_risk_flagged: flagged,
                },
                provider,
            )
        },
    ))
}

/// The day-after route of a known case at `now`.
///
/// # Errors
/// Database errors.
pub async fn day_after_route(
    pool: &Pool,
    id: Uuid,
    now: Timestamp,
) -> anyhow::Result<v1::DayAfterRouteView> {
    let window: Option<(String, PgTimestamp, PgTimestamp)> = sqlx::query_as(
        "SELECT last_onsite_date, opens_at, closes_at FROM day_after_route WHERE inspection_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("Failed to read a day-after route")?;
    let open: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT concern_id, handler_ref FROM concerns
         WHERE inspection_id = $1 AND channel = $2 AND status IN ($3, $4)
         ORDER BY raised_at, concern_id",
    )
    .bind(id)
    .bind(v1::ConcernChannel::DayAfterContact as i32)
    .bind(v1::ConcernStatus::Raised as i32)
    .bind(v1::ConcernStatus::Assigned as i32)
    .fetch_all(pool)
    .await
    .context("Failed to read open day-after concerns")?;
    let handler: Option<String> = sqlx::query_scalar(
        "SELECT handler_ref FROM concerns WHERE inspection_id = $1 AND channel = $2 AND handler_ref <> ''
         ORDER BY assigned_at DESC NULLS LAST LIMIT 1",
    )
    .bind(id)
    .bind(v1::ConcernChannel::DayAfterContact as i32)
    .fetch_optional(pool)
    .await
    .context("Failed to read a day-after handler")?;
    let (last, opens, closes) = match window {
        Some((last, opens, closes)) => (last, Some(opens), Some(closes)),
        None => (String::new(), None, None),
    };
    Ok(v1::DayAfterRouteView {
        inspection_id: id.to_string(),
        last_onsite_date: last,
        open_now: matches!((opens, closes), (Some(o), Some(c)) if o.0 <= now && now <= c.0),
        opens_at: stamp(opens),
        closes_at: stamp(closes),
        open_concern_ids: open.into_iter().map(|(c, _)| c.to_string()).collect(),
        handler_ref: handler.unwrap_or_default(),
    })
}

/// The publication gate of a known case.
///
/// # Errors
/// Database errors.
pub async fn publication_gate(pool: &Pool, id: Uuid) -> anyhow::Result<v1::PublicationGateView> {
    type Row = (
        Option<PgTimestamp>,
        Option<PgTimestamp>,
        Option<PgTimestamp>,
        Option<PgTimestamp>,
        Option<PgTimestamp>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT publication_expected_by, explanation_due_since, explained_at, final_issued_at, published_at
         FROM publication_gate WHERE inspection_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("Failed to read a publication gate")?;
    let holds: Vec<(Uuid, PgTimestamp)> = sqlx::query_as(
        "SELECT complaint_id, held_since FROM publication_holds WHERE inspection_id = $1
         ORDER BY held_since, complaint_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .context("Failed to read publication holds")?;
    let (expected, due, explained, final_issued, published) =
        row.unwrap_or((None, None, None, None, None));
    Ok(v1::PublicationGateView {
        inspection_id: id.to_string(),
        publishable: final_issued.is_some() && published.is_none() && holds.is_empty(),
        holds: holds
            .into_iter()
            .map(|(complaint, since)| v1::PublicationHold {
                complaint_id: complaint.to_string(),
                held_since: stamp(Some(since)),
            })
            .collect(),
        publication_expected_by: stamp(expected),
        explanation_due_since: stamp(due),
        explained_at: stamp(explained),
        published_at: stamp(published),
    })
}

/// One stored pause, before its duration is counted.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PauseRow {
    pub inspection_id: Uuid,
    pub paused_at: PgTimestamp,
    pub initiated_by: i32,
    pub recorded_by_ref: String,
    pub reason: i32,
    pub duty_desk: Option<i32>,
    pub consultation_ref: String,
    pub consulted_at: Option<PgTimestamp>,
    pub resume_deadline: PgTimestamp,
    pub pause_limit_working_days: i32,
    pub resumed_at: Option<PgTimestamp>,
    pub deemed_incomplete_at: Option<PgTimestamp>,
    pub policy_version: String,
    pub calendar_version: String,
}

/// Where a page of the pause register starts: after this pause, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseCursor {
    pub paused_at: Timestamp,
    pub inspection_id: Uuid,
}

/// Which pauses a caller may list.
#[derive(Clone, Debug)]
pub struct PauseFilter {
    pub inspection_id: Option<Uuid>,
    /// Only this provider's inspections.
    pub provider_id: Option<String>,
}

/// Up to `limit` pauses after `after`, newest first.
///
/// # Errors
/// Database errors.
pub async fn pauses(
    pool: &Pool,
    filter: &PauseFilter,
    after: Option<PauseCursor>,
    limit: i64,
) -> anyhow::Result<Vec<PauseRow>> {
    sqlx::query_as(
        "SELECT p.inspection_id, p.paused_at, p.initiated_by, p.recorded_by_ref, p.reason,
                d.duty_desk, p.consultation_ref, d.consulted_at, p.resume_deadline,
                p.pause_limit_working_days, p.resumed_at, p.deemed_incomplete_at,
                p.policy_version, p.calendar_version
         FROM pause_register p
         LEFT JOIN duty_desk_consultations d USING (inspection_id, consultation_ref)
         LEFT JOIN inspection_cases i USING (inspection_id)
         WHERE ($1::uuid IS NULL OR p.inspection_id = $1)
           AND ($2::text IS NULL OR i.provider_id = $2)
           AND ($3::timestamptz IS NULL OR (p.paused_at, p.inspection_id) < ($3, $4::uuid))
         ORDER BY p.paused_at DESC, p.inspection_id DESC
         LIMIT $5",
    )
    .bind(filter.inspection_id)
    .bind(filter.provider_id.as_deref())
    .bind(after.map(|c| PgTimestamp(c.paused_at)))
    .bind(after.map(|c| c.inspection_id))
    .bind(limit)
    .fetch_all(pool)
    .await
    .context("Failed to read the pause register")
}
