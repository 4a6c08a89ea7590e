//! Handling a concern: an unconnected senior inspector takes it, and it is resolved, left
//! unresolved with advice, or withdrawn; a wellbeing risk may be flagged on it. Summaries go to
//! the vault.

use platform::aggregate::Aggregate as _;
use platform::grpc::parse::FieldViolations;
use proto::common::v1::CommandReceipt;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::concerns::{concern_id, execute, load, recorded};
use super::{Answer, Call, InspectionsService, parse, reply};
use crate::domain::concern::Command;
use crate::domain::inspection::InspectionCase;
use crate::domain::{Actor, Redirect, v1};

#[tracing::instrument(skip_all, fields(concern_id = %request.get_ref().concern_id))]
pub(super) async fn assign_concern(
    service: &InspectionsService,
    request: Request<v1::AssignConcernRequest>,
) -> Answer<v1::AssignConcernResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let (request_id, id) = concern_id(&r.request_id, &r.concern_id)?;

    let call = Call::new(&request, "AssignConcern", &request_id)?;
    if let Some(receipt) = recorded(service, &call).await? {
        return Ok(Response::new(v1::AssignConcernResponse {
            receipt: Some(receipt),
        }));
    }
    let (_, raised) = load(service, &call, id).await?;
    let (case, _) = service
        .context
        .store
        .load::<InspectionCase>(raised.inspection_id)
        .await
        .map_err(reply::case)?;
    let team = case
        .team()
        .ok_or_else(|| reply::not_found("inspection case"))?;
    let command = Command::AssignConcern {
        handler: Actor::new(call.principal.subject.clone(), call.principal.role),
        assigned_at: now,
        team,
    };
    let receipt = execute(service, &call, id, command).await?;
    Ok(Response::new(v1::AssignConcernResponse {
        receipt: Some(receipt),
    }))
}

/// Closes a concern with a summary kept in the vault, checking the rules first so a refused
/// close stores nothing.
async fn close_with_summary(
    service: &InspectionsService,
    call: &Call,
    id: Uuid,
    summary: &str,
    command: impl Fn(String) -> Command,
) -> Result<CommandReceipt, Status> {
    if let Some(receipt) = recorded(service, call).await? {
        return Ok(receipt);
    }
    let (concern, raised) = load(service, call, id).await?;
    concern
        .decide(command(String::new()))
        .map_err(|rejection| reply::concern_rejected(&rejection))?;
    let summary_ref = service
        .context
        .vault
        .put(raised.inspection_id, "concern_summary", summary.as_bytes())
        .await
        .map_err(reply::vault)?;
    execute(service, call, id, command(summary_ref.to_string())).await
}

#[tracing::instrument(skip_all, fields(concern_id = %request.get_ref().concern_id))]
pub(super) async fn resolve_concern(
    service: &InspectionsService,
    request: Request<v1::ResolveConcernRequest>,
) -> Answer<v1::ResolveConcernResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "concern_id", &r.concern_id);
    let summary = parse::text(&mut v, "summary", r.summary.clone(), parse::NARRATIVE_MAX);
    let (request_id, id, summary) = v.finish((request_id, id, summary))?;

    let call = Call::new(&request, "ResolveConcern", &request_id)?;
    let receipt = close_with_summary(service, &call, id, &summary, |summary_ref| {
        Command::ResolveConcern {
            summary_ref,
            closed_by_ref: call.principal.subject.clone(),
            resolved_at: now,
        }
    })
    .await?;
    Ok(Response::new(v1::ResolveConcernResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(concern_id = %request.get_ref().concern_id))]
pub(super) async fn leave_concern_unresolved(
    service: &InspectionsService,
    request: Request<v1::LeaveConcernUnresolvedRequest>,
) -> Answer<v1::LeaveConcernUnresolvedResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "concern_id", &r.concern_id);
    let advice = parse::category(&mut v, "advice", r.advice, Redirect::from_proto);
    let summary = parse::text(&mut v, "summary", r.summary.clone(), parse::NARRATIVE_MAX);
    let (request_id, id, advice, summary) = v.finish((request_id, id, advice, summary))?;

    let call = Call::new(&request, "LeaveConcernUnresolved", &request_id)?;
    let receipt = close_with_summary(service, &call, id, &summary, |summary_ref| {
        Command::LeaveConcernUnresolved {
            advice,
            summary_ref,
            closed_by_ref: call.principal.subject.clone(),
            closed_at: now,
        }
    })
    .await?;
    Ok(Response::new(v1::LeaveConcernUnresolvedResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(concern_id = %request.get_ref().concern_id))]
pub(super) async fn withdraw_concern(
    service: &InspectionsService,
    request: Request<v1::WithdrawConcernRequest>,
) -> Answer<v1::WithdrawConcernResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let (request_id, id) = concern_id(&r.request_id, &r.concern_id)?;

    let call = Call::new(&request, "WithdrawConcern", &request_id)?;
    if let Some(receipt) = recorded(service, &call).await? {
        return Ok(Response::new(v1::WithdrawConcernResponse {
            receipt: Some(receipt),
        }));
    }
    load(service, &call, id).await?;
    let receipt = execute(
        service,
        &call,
        id,
        Command::WithdrawConcern { withdrawn_at: now },
    )
    .await?;
    Ok(Response::new(v1::WithdrawConcernResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(concern_id = %request.get_ref().concern_id))]
pub(super) async fn flag_wellbeing_risk(
    service: &InspectionsService,
    request: Request<v1::FlagWellbeingRiskRequest>,
) -> Answer<v1::FlagWellbeingRiskResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let (request_id, id) = concern_id(&r.request_id, &r.concern_id)?;

    let call = Call::new(&request, "FlagWellbeingRisk", &request_id)?;
    if let Some(receipt) = recorded(service, &call).await? {
        return Ok(Response::new(v1::FlagWellbeingRiskResponse {
            receipt: Some(receipt),
        }));
    }
    load(service, &call, id).await?;
    let command = Command::FlagWellbeingRisk {
        flagged_by_ref: call.principal.subject.clone(),
        flagged_at: now,
    };
    let receipt = execute(service, &call, id, command).await?;
    Ok(Response::new(v1::FlagWellbeingRiskResponse {
        receipt: Some(receipt),
    }))
}
