//! The report facts: draft, factual-accuracy points, final report, publication and its delay
//! explanation, and the wellbeing contact. Each handler parses, runs one `InspectionCase` command,
//! replies.

use std::sync::Arc;

use platform::aggregate::Aggregate as _;
use platform::grpc::parse::FieldViolations;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::case::{Built, case_policy, execute};
use super::{Answer, Call, InspectionsService, parse, reply};
use crate::domain::inspection::{Command, InspectionCase, VaultRef};
use crate::domain::{PublicationDelayReason, WellbeingContactKind, v1};

/// The fields of the three document-bearing facts.
fn document(
    service: &InspectionsService,
    request_id: &str,
    inspection_id: &str,
    doc_ref: &str,
    occurred_at: Option<&prost_types::Timestamp>,
) -> Result<(String, Uuid, String, jiff::Timestamp), Status> {
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, request_id);
    let id = parse::id(&mut v, "inspection_id", inspection_id);
    let doc = parse::text(&mut v, "doc_ref", doc_ref.to_owned(), parse::DOC_REF_MAX);
    let at = parse::occurred_at(
        &mut v,
        "occurred_at",
        occurred_at,
        service.context.clock.now(),
    );
    v.finish((request_id, id, doc, at))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn issue_draft_report(
    service: &InspectionsService,
    request: Request<v1::IssueDraftReportRequest>,
) -> Answer<v1::IssueDraftReportResponse> {
    let r = request.get_ref();
    let (request_id, id, doc, at) = document(
        service,
        &r.request_id,
        &r.inspection_id,
        &r.doc_ref,
        r.occurred_at.as_ref(),
    )?;
    let call = Call::new(&request, "IssueDraftReport", &request_id)?;
    let receipt = execute(service, &call, id, |case, context| {
        let policy = case_policy(context, case)?;
        Built::dated(
            Command::IssueDraftReport {
                doc_ref: doc,
                issued_at: at,
                policy: Arc::clone(&policy),
                calendar: context.calendar,
            },
            &policy,
            context,
        )
    })
    .await?;
    Ok(Response::new(v1::IssueDraftReportResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_factual_accuracy_points(
    service: &InspectionsService,
    request: Request<v1::RecordFactualAccuracyPointsRequest>,
) -> Answer<v1::RecordFactualAccuracyPointsResponse> {
    let r = request.get_ref();
    let (request_id, id, doc, at) = document(
        service,
        &r.request_id,
        &r.inspection_id,
        &r.doc_ref,
        r.occurred_at.as_ref(),
    )?;
    let call = Call::new(&request, "RecordFactualAccuracyPoints", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::RecordFactualAccuracyPoints {
            doc_ref: doc,
            submitted_at: at,
        })
    })
    .await?;
    Ok(Response::new(v1::RecordFactualAccuracyPointsResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn issue_final_report(
    service: &InspectionsService,
    request: Request<v1::IssueFinalReportRequest>,
) -> Answer<v1::IssueFinalReportResponse> {
    let r = request.get_ref();
    let (request_id, id, doc, at) = document(
        service,
        &r.request_id,
        &r.inspection_id,
        &r.doc_ref,
        r.occurred_at.as_ref(),
    )?;
    let call = Call::new(&request, "IssueFinalReport", &request_id)?;
    let receipt = execute(service, &call, id, |case, context| {
        let policy = case_policy(context, case)?;
        Built::dated(
            Command::IssueFinalReport {
                doc_ref: doc,
                issued_at: at,
                policy: Arc::clone(&policy),
                calendar: context.calendar,
            },
            &policy,
            context,
        )
    })
    .await?;
    Ok(Response::new(v1::IssueFinalReportResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn publish_report(
    service: &InspectionsService,
    request: Request<v1::PublishReportRequest>,
) -> Answer<v1::PublishReportResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, at) = v.finish((request_id, id, at))?;

    let call = Call::new(&request, "PublishReport", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::PublishReport { published_at: at })
    })
    .await?;
    Ok(Response::new(v1::PublishReportResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_publication_delay_explanation(
    service: &InspectionsService,
    request: Request<v1::RecordPublicationDelayExplanationRequest>,
) -> Answer<v1::RecordPublicationDelayExplanationResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let reason = parse::category(
        &mut v,
        "reason",
        r.reason,
        PublicationDelayReason::from_proto,
    );
    let text_ref = parse::text(&mut v, "text_ref", r.text_ref.clone(), parse::DOC_REF_MAX);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, reason, text_ref, at) =
        v.finish((request_id, id, reason, text_ref, at))?;

    let call = Call::new(&request, "RecordPublicationDelayExplanation", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::RecordPublicationDelayExplanation {
            reason,
            text_ref,
            explained_at: at,
        })
    })
    .await?;
    Ok(Response::new(
        v1::RecordPublicationDelayExplanationResponse {
            receipt: Some(receipt),
        },
    ))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_wellbeing_contact(
    service: &InspectionsService,
    request: Request<v1::RecordWellbeingContactRequest>,
) -> Answer<v1::RecordWellbeingContactResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let kind = parse::category(&mut v, "kind", r.kind, WellbeingContactKind::from_proto);
    let name = parse::text(&mut v, "name", r.name.clone(), 200);
    let phone = parse::text(&mut v, "phone", r.phone.clone(), 40);
    let email = parse::optional_text(&mut v, "email", r.email.clone(), 254);
    let (request_id, id, kind, name, phone, email) =
        v.finish((request_id, id, kind, name, phone, email))?;

    let call = Call::new(&request, "RecordWellbeingContact", &request_id)?;
    let store = &service.context.store;
    if let Some(recorded) = store
        .find_command(&call.key)
        .await
        .map_err(reply::case_append)?
    {
        return Ok(Response::new(v1::RecordWellbeingContactResponse {
            receipt: Some(recorded.receipt()),
        }));
    }
    // Check the rules with a placeholder before the contact goes into the vault, so a refused
    // request leaves no personal data behind.
    let (case, _) = store
        .load::<InspectionCase>(id)
        .await
        .map_err(reply::case)?;
    case.decide(Command::RecordWellbeingContact {
        vault_ref: VaultRef(Uuid::nil()),
        kind,
        recorded_at: now,
    })
    .map_err(reply::case_rejected)?;
    let contact = serde_json::json!({ "name": name, "phone": phone, "email": email });
    let vault_ref = service
        .context
        .vault
        .put(id, "wellbeing_contact", contact.to_string().as_bytes())
        .await
        .map_err(reply::vault)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::RecordWellbeingContact {
            vault_ref: VaultRef(vault_ref),
            kind,
            recorded_at: now,
        })
    })
    .await?;
    Ok(Response::new(v1::RecordWellbeingContactResponse {
        receipt: Some(receipt),
    }))
}
