//! Raising a concern: a provider raises one about its own inspection (a refusal is recorded in
//! the intake log and answered with the channel to use); the narrative goes to the vault and the
//! event carries its reference. Also the helpers the handling of a concern shares.

use platform::aggregate::{Aggregate as _, DomainEvent as _};
use platform::event_store::{CommandContext, ExecuteError};
use platform::grpc::parse::FieldViolations;
use platform::grpc::{Principal, Role};
use proto::common::v1::CommandReceipt;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::case::all;
use super::{Answer, Call, InspectionsService, parse, reply};
use crate::domain::concern::{self, Command, Concern, Raised};
use crate::domain::inspection::{InspectionCase, InspectionStage};
use crate::domain::intake::{self, IntakeLog};
use crate::domain::{ConcernChannel, ConcernTopic, v1};
use crate::formal_complaints::intake_stream_id;

/// Keeps provider callers to their own inspections: another provider's inspection, like an
/// unknown one, is NOT_FOUND, so its existence does not leak.
pub(super) async fn check_provider(
    service: &InspectionsService,
    principal: &Principal,
    inspection_id: Uuid,
) -> Result<(), Status> {
    if !principal.role.acts_for_provider() {
        return Ok(());
    }
    let (case, _) = service
        .context
        .store
        .load::<InspectionCase>(inspection_id)
        .await
        .map_err(reply::internal)?;
    match (case.provider_id(), &principal.provider) {
        (Some(own), Some(caller)) if own == caller => Ok(()),
        _ => Err(reply::not_found("inspection case")),
    }
}

pub(super) fn raised(concern: &Concern) -> Option<&Raised> {
    match concern {
        Concern::NotRaised => None,
        Concern::Raised(raised)
        | Concern::Assigned { raised, .. }
        | Concern::Resolved(raised)
        | Concern::LeftUnresolved(raised)
        | Concern::Withdrawn(raised) => Some(raised),
    }
}

/// A concern the caller may act on; NOT_FOUND when unknown or another provider's.
pub(super) async fn load(
    service: &InspectionsService,
    call: &Call,
    id: Uuid,
) -> Result<(Concern, Raised), Status> {
    let (concern, _) = service
        .context
        .store
        .load::<Concern>(id)
        .await
        .map_err(reply::concern)?;
    let raised = raised(&concern)
        .cloned()
        .ok_or_else(|| reply::not_found("concern"))?;
    check_provider(service, &call.principal, raised.inspection_id).await?;
    Ok((concern, raised))
}

pub(super) async fn execute(
    service: &InspectionsService,
    call: &Call,
    id: Uuid,
    command: Command,
) -> Result<CommandReceipt, Status> {
    let context = CommandContext {
        metadata: platform::tail::Metadata::for_command(
            &call.principal.subject,
            call.correlation_id,
            None,
        ),
        key: Some(call.key.clone()),
        ..CommandContext::default()
    };
    let appended = service
        .context
        .store
        .execute::<Concern>(id, command, &context)
        .await
        .map_err(reply::concern)?;
    Ok(appended.receipt())
}

/// The recorded receipt of a retried request, if any.
pub(super) async fn recorded(
    service: &InspectionsService,
    call: &Call,
) -> Result<Option<CommandReceipt>, Status> {
    let recorded = service
        .context
        .store
        .find_command(&call.key)
        .await
        .map_err(reply::case_append)?;
    Ok(recorded.map(|r| r.receipt()))
}

/// The fields of the concern commands that only name the concern.
pub(super) fn concern_id(request_id: &str, concern_id: &str) -> Result<(String, Uuid), Status> {
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, request_id);
    let id = parse::id(&mut v, "concern_id", concern_id);
    v.finish((request_id, id))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn raise_concern(
    service: &InspectionsService,
    request: Request<v1::RaiseConcernRequest>,
) -> Answer<v1::RaiseConcernResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let inspection_id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let channel = parse::category(&mut v, "channel", r.channel, ConcernChannel::from_proto);
    let topic = parse::category(&mut v, "topic", r.topic, ConcernTopic::from_proto);
    let detail = parse::text(&mut v, "detail", r.detail.clone(), parse::NARRATIVE_MAX);
    let accompanied = r.accompanied;
    v.into_result()?;
    let (request_id, inspection_id, channel, topic, detail) =
        all((request_id, inspection_id, channel, topic, detail))?;

    let call = Call::new(&request, "RaiseConcern", &request_id)?;
    check_provider(service, &call.principal, inspection_id).await?;
    if call.principal.role == Role::LeadInspector && channel != ConcernChannel::OnSiteLeadInspector
    {
        return Err(reply::permission_denied(
            "a lead inspector records only concerns raised to them on site",
        ));
    }
    let store = &service.context.store;
    let intake_id = intake_stream_id(inspection_id);
    if let Some(recorded) = store
        .find_command(&call.key)
        .await
        .map_err(reply::case_append)?
    {
        if recorded.stream_id == intake_id {
            return Err(recorded_refusal(service, intake_id, recorded.version).await?);
        }
        return Ok(Response::new(v1::RaiseConcernResponse {
            concern_id: recorded.stream_id.to_string(),
            receipt: Some(recorded.receipt()),
        }));
    }

    let (case, _) = store
        .load::<InspectionCase>(inspection_id)
        .await
        .map_err(reply::case)?;
    if case.inspection_id().is_none() {
        return Err(reply::not_found("inspection case"));
    }
    let stage = case.stage();
    let versions = match &stage {
        InspectionStage::Ended(window) if channel == ConcernChannel::DayAfterContact => Some((
            window.policy_version.clone(),
            window.calendar_version.clone(),
        )),
        _ => None,
    };
    let concern_id = Uuid::now_v7();
    let command = |detail_ref: String| Command::RaiseConcern {
        concern_id,
        inspection_id,
        channel,
        topic,
        raised_by_ref: call.principal.subject.clone(),
        detail_ref,
        accompanied,
        raised_at: now,
        inspection: stage.clone(),
    };
    // Check the rules before the narrative goes into the vault: a refusal keeps no personal
    // data, only the intake record.
    let probe = command(String::new());
    if let Err(rejection) = Concern::default().decide(probe.clone()) {
        if let Some(record) = concern::rejected_concern(&probe, &rejection) {
            record_refusal(service, &call, intake_id, record).await?;
        }
        return Err(reply::concern_rejected(&rejection));
    }
    let detail_ref = service
        .context
        .vault
        .put(inspection_id, "concern_detail", detail.as_bytes())
        .await
        .map_err(reply::vault)?;
    let mut metadata =
        platform::tail::Metadata::for_command(&call.principal.subject, call.correlation_id, None);
    if let Some((policy, calendar)) = versions {
        metadata.policy_version = Some(policy);
        metadata.calendar_version = Some(calendar);
    }
    let context = CommandContext {
        metadata,
        key: Some(call.key.clone()),
        ..CommandContext::default()
    };
    let appended = store
        .execute::<Concern>(concern_id, command(detail_ref.to_string()), &context)
        .await
        .map_err(reply::concern)?;
    Ok(Response::new(v1::RaiseConcernResponse {
        concern_id: concern_id.to_string(),
        receipt: Some(appended.receipt()),
    }))
}

/// Appends a refused raise to the inspection's intake log under the request's key, so a retry
/// finds it and gets the same refusal.
async fn record_refusal(
    service: &InspectionsService,
    call: &Call,
    intake_id: Uuid,
    record: intake::Command,
) -> Result<(), Status> {
    let mut metadata =
        platform::tail::Metadata::for_command(&call.principal.subject, call.correlation_id, None);
    if let intake::Command::RecordConcernRejected(r) = &record
        && !r.policy_version.is_empty()
    {
        metadata.policy_version = Some(r.policy_version.clone());
        metadata.calendar_version = Some(r.calendar_version.clone());
    }
    let context = CommandContext {
        metadata,
        key: Some(call.key.clone()),
        ..CommandContext::default()
    };
    service
        .context
        .store
        .execute::<IntakeLog>(intake_id, record, &context)
        .await
        .map_err(|e: ExecuteError<std::convert::Infallible>| reply::intake(e))?;
    Ok(())
}

/// The refusal a retried raise recorded at `version` of the intake stream.
async fn recorded_refusal(
    service: &InspectionsService,
    intake_id: Uuid,
    version: u32,
) -> Result<Status, Status> {
    let events = service
        .context
        .store
        .read_stream(intake_id, version.saturating_sub(1))
        .await
        .map_err(reply::internal)?;
    let event = events
        .first()
        .ok_or_else(|| reply::internal("a recorded refusal is missing from the intake log"))?;
    match intake::Event::decode(&event.event_type, &event.payload).map_err(reply::internal)? {
        intake::Event::ConcernRejected(record) => Ok(reply::recorded_refusal(&record)),
        intake::Event::ComplaintSubmissionRejected(_) => Err(reply::internal(
            "a concern's key points at a complaint refusal",
        )),
    }
}
