//! The visit facts: notification, deferral, on-site work starting, pausing, resuming and ending.
//! Each handler parses, runs one `InspectionCase` command, replies.

use std::sync::Arc;

use platform::calendar::local_date;
use platform::grpc::parse::FieldViolations;
use tonic::{Request, Response};

use super::case::{Built, all, case_policy, execute, run};
use super::{Answer, Call, InspectionsService, parse, reply};
use crate::domain::inspection::{Command, InspectionCase};
use crate::domain::{DeferralReason, DutyDesk, PauseInitiator, PauseReason, Remit, v1};

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_inspection_notified(
    service: &InspectionsService,
    request: Request<v1::RecordInspectionNotifiedRequest>,
) -> Answer<v1::RecordInspectionNotifiedResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let provider = parse::text(&mut v, "provider_id", r.provider_id.clone(), parse::REF_MAX);
    let remit = parse::category(&mut v, "remit", r.remit, Remit::from_proto);
    let lead = parse::text(
        &mut v,
        "lead_inspector_ref",
        r.lead_inspector_ref.clone(),
        parse::REF_MAX,
    );
    if r.team_inspector_refs.len() > 50 {
        v.push("team_inspector_refs", "must have at most 50 entries");
    }
    let team: Vec<Option<String>> = r
        .team_inspector_refs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            parse::text(
                &mut v,
                &format!("team_inspector_refs[{i}]"),
                t.clone(),
                parse::REF_MAX,
            )
        })
        .collect();
    let starts = parse::date(&mut v, "on_site_starts_on", &r.on_site_starts_on);
    let notified_at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let policy = starts.and_then(|date| {
        let policy = service.context.policies.in_force_at(date);
        if policy.is_none() {
            v.push("on_site_starts_on", "no policy is in force on that date");
        }
        policy
    });
    v.into_result()?;
    let (request_id, id, provider, remit, lead) = all((request_id, id, provider, remit, lead))?;
    let (starts, notified_at, policy) = all((starts, notified_at, policy))?;
    let team: Vec<String> = team.into_iter().flatten().collect();

    let call = Call::new(&request, "RecordInspectionNotified", &request_id)?;
    // The notice begins the case's stream: a new case takes one statement, and a retry or a
    // second notice of the same inspection is answered from what is stored.
    let command = Command::RecordInspectionNotified {
        inspection_id: id,
        remit,
        lead_inspector_ref: lead,
        team_inspector_refs: team,
        notified_at,
        on_site_starts_on: starts,
        policy: Arc::clone(&policy),
        provider_id: provider,
    };
    let receipt = run(
        service,
        &call,
        id,
        Built::dated(command, &policy, &service.context)?,
    )
    .await?;
    Ok(Response::new(v1::RecordInspectionNotifiedResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_deferral(
    service: &InspectionsService,
    request: Request<v1::RecordDeferralRequest>,
) -> Answer<v1::RecordDeferralResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let reason = parse::category(&mut v, "reason", r.reason, DeferralReason::from_proto);
    let starts = parse::date(&mut v, "on_site_starts_on", &r.on_site_starts_on);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, reason, starts, at) = v.finish((request_id, id, reason, starts, at))?;

    let call = Call::new(&request, "RecordDeferral", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::RecordDeferral {
            reason,
            deferred_at: at,
            on_site_starts_on: starts,
        })
    })
    .await?;
    Ok(Response::new(v1::RecordDeferralResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_on_site_started(
    service: &InspectionsService,
    request: Request<v1::RecordOnSiteStartedRequest>,
) -> Answer<v1::RecordOnSiteStartedResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, at) = v.finish((request_id, id, at))?;

    let call = Call::new(&request, "RecordOnSiteStarted", &request_id)?;
    let receipt = execute(service, &call, id, |case, context| {
        // The first start fixes the policy in force that day; a return visit keeps the case's.
        let policy = match case {
            InspectionCase::Notified(_) | InspectionCase::Deferred(_) => context
                .policies
                .in_force_at(local_date(at))
                .ok_or_else(|| {
                    reply::invalid("occurred_at", "no policy is in force on that date")
                })?,
            _ => case_policy(context, case)?,
        };
        Built::dated(
            Command::RecordOnSiteStarted {
                started_at: at,
                policy: Arc::clone(&policy),
            },
            &policy,
            context,
        )
    })
    .await?;
    Ok(Response::new(v1::RecordOnSiteStartedResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn pause_inspection(
    service: &InspectionsService,
    request: Request<v1::PauseInspectionRequest>,
) -> Answer<v1::PauseInspectionResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let initiated_by = parse::category(
        &mut v,
        "initiated_by",
        r.initiated_by,
        PauseInitiator::from_proto,
    );
    let reason = parse::category(&mut v, "reason", r.reason, PauseReason::from_proto);
    let desk = parse::category(&mut v, "duty_desk", r.duty_desk, DutyDesk::from_proto);
    let consultation = parse::text(
        &mut v,
        "consultation_ref",
        r.consultation_ref.clone(),
        parse::REF_MAX,
    );
    let consulted_at = parse::occurred_at(&mut v, "consulted_at", r.consulted_at.as_ref(), now);
    let planned = parse::optional_date(&mut v, "planned_resume_on", &r.planned_resume_on);
    let paused_at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    if let (Some(consulted), Some(paused)) = (consulted_at, paused_at)
        && consulted > paused
    {
        v.push(
            "consulted_at",
            "must not be after occurred_at (consult before pausing)",
        );
    }
    v.into_result()?;
    let (request_id, id, initiated_by, reason, desk) =
        all((request_id, id, initiated_by, reason, desk))?;
    let (consultation, consulted_at, planned, paused_at) =
        all((consultation, consulted_at, planned, paused_at))?;

    let call = Call::new(&request, "PauseInspection", &request_id)?;
    let recorded_by = call.principal.subject.clone();
    let receipt = execute(service, &call, id, |case, context| {
        let policy = case_policy(context, case)?;
        Built::dated(
            Command::PauseInspection {
                paused_at,
                initiated_by,
                recorded_by_ref: recorded_by,
                reason,
                duty_desk: desk,
                consultation_ref: consultation,
                consulted_at,
                planned_resume_on: planned,
                policy: Arc::clone(&policy),
                calendar: context.calendar,
            },
            &policy,
            context,
        )
    })
    .await?;
    Ok(Response::new(v1::PauseInspectionResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn resume_inspection(
    service: &InspectionsService,
    request: Request<v1::ResumeInspectionRequest>,
) -> Answer<v1::ResumeInspectionResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    let (request_id, id, at) = v.finish((request_id, id, at))?;

    let call = Call::new(&request, "ResumeInspection", &request_id)?;
    let receipt = execute(service, &call, id, |_, _| {
        Built::plain(Command::ResumeInspection { resumed_at: at })
    })
    .await?;
    Ok(Response::new(v1::ResumeInspectionResponse {
        receipt: Some(receipt),
    }))
}

#[tracing::instrument(skip_all, fields(inspection_id = %request.get_ref().inspection_id))]
pub(super) async fn record_on_site_ended(
    service: &InspectionsService,
    request: Request<v1::RecordOnSiteEndedRequest>,
) -> Answer<v1::RecordOnSiteEndedResponse> {
    let now = service.context.clock.now();
    let r = request.get_ref();
    let mut v = FieldViolations::new();
    let request_id = parse::request_id(&mut v, &r.request_id);
    let id = parse::id(&mut v, "inspection_id", &r.inspection_id);
    let last = parse::date(&mut v, "last_onsite_date", &r.last_onsite_date);
    let at = parse::occurred_at(&mut v, "occurred_at", r.occurred_at.as_ref(), now);
    if let (Some(last), Some(at)) = (last, at)
        && last > local_date(at)
    {
        v.push("last_onsite_date", "must not be after occurred_at");
    }
    let (request_id, id, last, at) = v.finish((request_id, id, last, at))?;

    let call = Call::new(&request, "RecordOnSiteEnded", &request_id)?;
    let receipt = execute(service, &call, id, |case, context| {
        let policy = case_policy(context, case)?;
        Built::dated(
            Command::RecordOnSiteEnded {
                last_onsite_date: last,
                recorded_at: at,
                policy: Arc::clone(&policy),
                calendar: context.calendar,
            },
            &policy,
            context,
        )
    })
    .await?;
    Ok(Response::new(v1::RecordOnSiteEndedResponse {
        receipt: Some(receipt),
    }))
}
