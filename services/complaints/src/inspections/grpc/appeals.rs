//! The tribunal-appeal facts the partner system reports: an appeal lodged against an enforcement
//! decision arising from the inspection, and its conclusion. Each handler parses, runs one
//! `InspectionCase` command, replies. While an appeal is pending the formal-complaints service
//! refuses submissions about the inspection (`TRIBUNAL_APPEAL_PENDING`).

use platform::grpc::parse::FieldViolations;
use tonic::{Request, Response};

use super::case::{Built, execute};
use super::{Answer, Call, InspectionsService, parse};
use crate::domain::inspection::Command;
use crate::domain::{TribunalAppealOutcome, v1};

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_tribunal_appeal_lodged(
    service: &InspectionsService,
    request: Request<v1::RecordTribunalAppealLodgedRequest>,
) -> Answer<v1::RecordTribunalAppealLodgedResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let appeal_ref = parse::text(&mut v, "appeal_ref", r.appeal_ref.clone(), parse::REF_MAX);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, appeal_ref, at) = v.finish((request_id, id, appeal_ref, at))?;

    let call = Call::new(&request, "RecordTribunalAppealLodged", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::RecordTribunalAppealLodged {
            appeal_ref,
            lodged_at: at,
        })
    })
    .await?;
    Ok(Response::new(v1::RecordTribunalAppealLodgedResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_tribunal_appeal_concluded(
    service: &InspectionsService,
    request: Request<v1::RecordTribunalAppealConcludedRequest>,
) -> Answer<v1::RecordTribunalAppealConcludedResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let appeal_ref = parse::text(&mut v, "appeal_ref", r.appeal_ref.clone(), parse::REF_MAX);
    let outcome = parse::category(
        &mut v,
        "outcome",
        r.outcome,
        TribunalAppealOutcome::from_proto,
    );
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, appeal_ref, outcome, at) =
        v.finish((request_id, id, appeal_ref, outcome, at))?;

    let call = Call::new(&request, "RecordTribunalAppealConcluded", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::RecordTribunalAppealConcluded {
            appeal_ref,
            outcome,
            concluded_at: at,
        })
    })
    .await?;
    Ok(Response::new(v1::RecordTribunalAppealConcludedResponse {
        receipt: Some(receipt),
    }))
}
