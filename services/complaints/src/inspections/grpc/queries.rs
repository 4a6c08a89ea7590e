//! The queries: each waits (bounded) for the requested `ReadConsistency`, reads a read model and
//! keeps provider callers to their own inspections (another provider's is NOT_FOUND).

use platform::calendar::local_date;
use platform::grpc::Principal;
use platform::grpc::parse::FieldViolations;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Answer, InspectionsService, parse, reply};
use crate::domain::{timestamp, v1};
use crate::inspections::read_models::{self, PauseCursor, PauseFilter};

/// Default and largest page of the pause register.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;

/// Waits until the read models have applied the requested position, at most the server's cap.
async fn caught_up(
    service: &InspectionsService,
    consistency: Option<proto::common::v1::ReadConsistency>,
) -> Result<(), Status> {
    let Some((position, wait)) = parse::consistency(consistency) else {
        return Ok(());
    };
    let cap = service.context.max_read_wait;
    let wait = wait.map_or(cap, |w| w.min(cap));
    if service
        .read_models
        .wait_for(position, wait)
        .await
        .map_err(reply::internal)?
    {
        Ok(())
    } else {
        Err(reply::not_caught_up())
    }
}

/// Whether `principal` may see a case of `provider`.
fn may_see(principal: &Principal, provider: Option<&str>) -> bool {
    !principal.role.acts_for_provider()
        || (provider.is_some() && provider == principal.provider.as_deref())
}

/// A known case the caller may see; NOT_FOUND otherwise.
async fn visible_case(
    service: &InspectionsService,
    principal: &Principal,
    id: Uuid,
) -> Result<(), Status> {
    let provider = read_models::case_provider(service.context.store.pool(), id)
        .await
        .map_err(reply::internal)?
        .ok_or_else(|| reply::not_found("inspection case"))?;
    if may_see(principal, provider.as_deref()) {
        Ok(())
    } else {
        Err(reply::not_found("inspection case"))
    }
}

fn inspection_id(value: &str) -> Result<Uuid, Status> {
    let mut v = FieldViolations::new();
    let id = parse::id(&mut v, "inspection_id", value);
    v.finish(id)
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn get_inspection_case(
    service: &InspectionsService,
    request: Request<v1::GetInspectionCaseRequest>,
) -> Answer<v1::InspectionCaseView> {
    let id = inspection_id(&request.get_ref().inspection_id)?;
    let principal = platform::grpc::principal(&request)?.clone();
    caught_up(service, request.into_inner().consistency).await?;
    let view = read_models::inspection_case(service.context.store.pool(), id)
        .await
        .map_err(reply::internal)?
        .filter(|view| may_see(&principal, Some(view.provider_id.as_str())))
        .ok_or_else(|| reply::not_found("inspection case"))?;
    Ok(Response::new(view))
}

#[tracing::instrument(skip_all, fields(concern_id = %request.get_ref().concern_id))]
pub(super) async fn get_concern(
    service: &InspectionsService,
    request: Request<v1::GetConcernRequest>,
) -> Answer<v1::ConcernView> {
    let mut v = FieldViolations::new();
    let id = parse::id(&mut v, "concern_id", &request.get_ref().concern_id);
    let id = v.finish(id)?;
    let principal = platform::grpc::principal(&request)?.clone();
    caught_up(service, request.into_inner().consistency).await?;
    let (view, _) = read_models::concern(service.context.store.pool(), id)
        .await
        .map_err(reply::internal)?
        .filter(|(_, provider)| may_see(&principal, provider.as_deref()))
        .ok_or_else(|| reply::not_found("concern"))?;
    Ok(Response::new(view))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn get_day_after_route(
    service: &InspectionsService,
    request: Request<v1::GetDayAfterRouteRequest>,
) -> Answer<v1::DayAfterRouteView> {
    let id = inspection_id(&request.get_ref().inspection_id)?;
    let principal = platform::grpc::principal(&request)?.clone();
    caught_up(service, request.into_inner().consistency).await?;
    visible_case(service, &principal, id).await?;
    let view = read_models::day_after_route(
        service.context.store.pool(),
        id,
        service.context.clock.now(),
    )
    .await
    .map_err(reply::internal)?;
    Ok(Response::new(view))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn get_publication_gate(
    service: &InspectionsService,
    request: Request<v1::GetPublicationGateRequest>,
) -> Answer<v1::PublicationGateView> {
    let id = inspection_id(&request.get_ref().inspection_id)?;
    let principal = platform::grpc::principal(&request)?.clone();
    caught_up(service, request.into_inner().consistency).await?;
    visible_case(service, &principal, id).await?;
    let view = read_models::publication_gate(service.context.store.pool(), id)
        .await
        .map_err(reply::internal)?;
    Ok(Response::new(view))
}

/// A page token: `<paused_at in microseconds>.<inspection id>` of the page's last pause.
fn page_token(v: &mut FieldViolations, value: &str) -> Option<Option<PauseCursor>> {
    if value.is_empty() {
        return Some(None);
    }
    let cursor = value.split_once('.').and_then(|(micros, id)| {
        let paused_at = jiff::Timestamp::from_microsecond(micros.parse().ok()?).ok()?;
        let inspection_id = Uuid::try_parse(id).ok()?;
        Some(PauseCursor {
            paused_at,
            inspection_id,
        })
    });
    if cursor.is_none() {
        v.push(
            "page_token",
            "must be a next_page_token from an earlier answer",
        );
    }
    cursor.map(Some)
}

#[tracing::instrument(skip_all)]
pub(super) async fn list_pauses(
    service: &InspectionsService,
    request: Request<v1::ListPausesRequest>,
) -> Answer<v1::ListPausesResponse> {
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let filter_id = if r.inspection_id.is_empty() {
        Some(None)
    } else {
        parse::id(&mut v, "inspection_id", &r.inspection_id).map(Some)
    };
    let after = page_token(&mut v, &r.page_token);
    let size = match r.page_size {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let (filter_id, after) = v.finish((filter_id, after))?;
    let principal = platform::grpc::principal(&request)?.clone();
    caught_up(service, request.into_inner().consistency).await?;

    let filter = PauseFilter {
        inspection_id: filter_id,
        provider_id: principal
            .role
            .acts_for_provider()
            .then(|| principal.provider.clone().unwrap_or_default()),
    };
    let mut rows = read_models::pauses(
        service.context.store.pool(),
        &filter,
        after,
        i64::from(size) + 1,
    )
    .await
    .map_err(reply::internal)?;
    let more = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => format!(
            "{}.{}",
            last.paused_at.0.as_microsecond(),
            last.inspection_id
        ),
        _ => String::new(),
    };
    let now = service.context.clock.now();
    let calendar = service.context.calendar;
    let pauses = rows
        .into_iter()
        .map(|row| {
            // A pause deemed incomplete ran to the last day of its limit; the timer fires just
            // after it, on the next day, which the pause did not last.
            let ended = match (row.resumed_at, row.deemed_incomplete_at) {
                (Some(resumed), _) => resumed.0,
                (None, Some(_)) => row.resume_deadline.0,
                (None, None) => now,
            };
            let outcome = if row.resumed_at.is_some() {
                v1::PauseOutcome::Resumed
            } else if row.deemed_incomplete_at.is_some() {
                v1::PauseOutcome::DeemedIncomplete
            } else {
                v1::PauseOutcome::Ongoing
            };
            v1::PauseRecord {
                inspection_id: row.inspection_id.to_string(),
                initiated_by: row.initiated_by,
                recorded_by_ref: row.recorded_by_ref,
                reason: row.reason,
                duty_desk: row.duty_desk.unwrap_or_default(),
                consultation_ref: row.consultation_ref,
                consulted_at: row.consulted_at.map(|t| timestamp(t.0)),
                paused_at: Some(timestamp(row.paused_at.0)),
                resume_deadline: Some(timestamp(row.resume_deadline.0)),
                pause_limit_working_days: u32::try_from(row.pause_limit_working_days).unwrap_or(0),
                resumed_at: row.resumed_at.map(|t| timestamp(t.0)),
                deemed_incomplete_at: row.deemed_incomplete_at.map(|t| timestamp(t.0)),
                // A date outside the calendar's years cannot be counted; 0 rather than a guess.
                duration_working_days: calendar
                    .working_days_between(local_date(row.paused_at.0), local_date(ended))
                    .unwrap_or(0),
                outcome: outcome as i32,
                policy_version: row.policy_version,
                calendar_version: row.calendar_version,
            }
        })
        .collect();
    Ok(Response::new(v1::ListPausesResponse {
        pauses,
        next_page_token,
    }))
}
