//! `ComplaintsService`: the `redress.complaints.v1.Complaints` handlers. Each reads in three
//! steps — parse (`parse`), execute (`commands` or a read-model query), reply — and every
//! failure becomes a `Status` in one place, `impl From<Error> for Status`.
//!
//! Scoping: a caller acting for a provider acts on and sees only its own provider's complaints;
//! another provider's complaint is `NOT_FOUND`, never `PERMISSION_DENIED`. Which roles may call
//! which RPC is [`super::access_policy`].

mod commands;
mod error;
mod parse;
mod queries;

pub(crate) use error::Error;

use std::sync::Arc;

use platform::event_store::Appended;
use platform::grpc::principal;
use tonic::{Request, Response, Status};

use super::ReadModels;
use crate::app::Context;
use crate::domain::complaint::{Command, Event};
use crate::domain::{HoldReleaseReason, v1};
use proto::complaints::v1::complaints_server::Complaints;

/// The formal-complaints gRPC service.
#[derive(Debug)]
pub struct ComplaintsService {
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
}

impl ComplaintsService {
    pub(crate) fn new(context: Arc<Context>, read_models: Arc<ReadModels>) -> Self {
        ComplaintsService {
            context,
            read_models,
        }
    }
}

/// Names the complaint on the request's span.
fn record(complaint_id: uuid::Uuid) {
    tracing::Span::current().record("complaint_id", tracing::field::display(complaint_id));
}

fn receipt(appended: &Appended) -> Option<proto::common::v1::CommandReceipt> {
    Some(appended.receipt())
}

#[tonic::async_trait]
impl Complaints for ComplaintsService {
    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn submit_formal_complaint(
        &self,
        request: Request<v1::SubmitFormalComplaintRequest>,
    ) -> Result<Response<v1::SubmitFormalComplaintResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::submit(&caller, request.into_inner())?;
        let appended = self
            .admit(
                &caller,
                parsed.key,
                parsed.submission,
                parsed.route_override_reason_ref,
                None,
            )
            .await?;
        record(appended.stream_id);
        Ok(Response::new(v1::SubmitFormalComplaintResponse {
            complaint_id: appended.stream_id.to_string(),
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn accept_out_of_time_complaint(
        &self,
        request: Request<v1::AcceptOutOfTimeComplaintRequest>,
    ) -> Result<Response<v1::AcceptOutOfTimeComplaintResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::accept_out_of_time(&caller, request.into_inner())?;
        let appended = self
            .admit(
                &caller,
                parsed.key,
                parsed.submission,
                None,
                Some(parsed.justification_ref),
            )
            .await?;
        record(appended.stream_id);
        Ok(Response::new(v1::AcceptOutOfTimeComplaintResponse {
            complaint_id: appended.stream_id.to_string(),
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn acknowledge_complaint(
        &self,
        request: Request<v1::AcknowledgeComplaintRequest>,
    ) -> Result<Response<v1::AcknowledgeComplaintResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::acknowledge(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let command = Command::AcknowledgeComplaint {
            acknowledged_at: self.context.clock.now(),
            policy: Arc::clone(&header.policy),
            calendar: self.context.calendar,
        };
        let appended = self
            .execute(&caller, parsed.key, &header, command, true)
            .await?;
        let response_due_at = self
            .events_of(&appended)
            .await?
            .into_iter()
            .find_map(|e| match e {
                Event::ComplaintAcknowledged(e) => e.response_due_at,
                _ => None,
            });
        Ok(Response::new(v1::AcknowledgeComplaintResponse {
            receipt: receipt(&appended),
            response_due_at,
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn add_complaint_information(
        &self,
        request: Request<v1::AddComplaintInformationRequest>,
    ) -> Result<Response<v1::AddComplaintInformationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::add_information(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let command = Command::AddComplaintInformation {
            doc_ref: parsed.args,
            added_by_ref: caller.subject.clone(),
            added_at: self.context.clock.now(),
        };
        let appended = self
            .execute(&caller, parsed.key, &header, command, false)
            .await?;
        Ok(Response::new(v1::AddComplaintInformationResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn assign_investigator(
        &self,
        request: Request<v1::AssignInvestigatorRequest>,
    ) -> Result<Response<v1::AssignInvestigatorResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::assign_investigator(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let command = Command::AssignInvestigator {
            investigator: crate::domain::Actor::new(caller.subject.clone(), caller.role),
            assigned_at: self.context.clock.now(),
            team: self.team(header.inspection_id).await?,
        };
        let appended = self
            .execute(&caller, parsed.key, &header, command, false)
            .await?;
        Ok(Response::new(v1::AssignInvestigatorResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn record_investigation_call(
        &self,
        request: Request<v1::RecordInvestigationCallRequest>,
    ) -> Result<Response<v1::RecordInvestigationCallResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::record_call(&caller, request.into_inner(), self.context.clock.now())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let command = Command::RecordInvestigationCall {
            notes_ref: parsed.args.notes_ref,
            accompanied: parsed.args.accompanied,
            held_at: parsed.args.held_at,
        };
        let appended = self
            .execute(&caller, parsed.key, &header, command, false)
            .await?;
        Ok(Response::new(v1::RecordInvestigationCallResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn extend_response_deadline(
        &self,
        request: Request<v1::ExtendResponseDeadlineRequest>,
    ) -> Result<Response<v1::ExtendResponseDeadlineResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::extend(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let command = Command::ExtendResponseDeadline {
            additional_working_days: parsed.args.days,
            reason: parsed.args.reason,
            reason_ref: parsed.args.reason_ref,
            decided_by: crate::domain::Actor::new(caller.subject.clone(), caller.role),
            decided_at: self.context.clock.now(),
            policy: Arc::clone(&header.policy),
            calendar: self.context.calendar,
        };
        let appended = self
            .execute(&caller, parsed.key, &header, command, true)
            .await?;
        let response_due_at = self
            .events_of(&appended)
            .await?
            .into_iter()
            .find_map(|e| match e {
                Event::ResponseDeadlineExtended(e) => e.new_due_at,
                _ => None,
            });
        Ok(Response::new(v1::ExtendResponseDeadlineResponse {
            receipt: receipt(&appended),
            response_due_at,
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn issue_complaint_response(
        &self,
        request: Request<v1::IssueComplaintResponseRequest>,
    ) -> Result<Response<v1::IssueComplaintResponseResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::issue_response(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let response = parsed.args;
        let decided_by = crate::domain::Actor::new(caller.subject.clone(), caller.role);
        let (policy, calendar) = (Arc::clone(&header.policy), self.context.calendar);
        let command = |now| Command::IssueComplaintResponse {
            outcome: response.outcome,
            remedies: response.remedies.clone(),
            response_doc_ref: response.response_doc_ref.clone(),
            decided_by: decided_by.clone(),
            responded_at: now,
            policy: Arc::clone(&policy),
            calendar,
        };
        let appended = self
            .end_hold(
                &caller,
                parsed.key,
                &header,
                command,
                HoldReleaseReason::ResponseIssued,
            )
            .await?;
        let escalation_window_closes_at =
            self.events_of(&appended)
                .await?
                .into_iter()
                .find_map(|e| match e {
                    Event::EscalationRightsNotified(e) => e.window_closes_at,
                    _ => None,
                });
        Ok(Response::new(v1::IssueComplaintResponseResponse {
            receipt: receipt(&appended),
            escalation_window_closes_at,
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn withdraw_complaint(
        &self,
        request: Request<v1::WithdrawComplaintRequest>,
    ) -> Result<Response<v1::WithdrawComplaintResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::withdraw(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let reason = parsed.args;
        let subject = caller.subject.clone();
        let command = |now| Command::WithdrawComplaint {
            reason,
            withdrawn_by_ref: subject.clone(),
            withdrawn_at: now,
        };
        let appended = self
            .end_hold(
                &caller,
                parsed.key,
                &header,
                command,
                HoldReleaseReason::Withdrawn,
            )
            .await?;
        Ok(Response::new(v1::WithdrawComplaintResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(complaint_id))]
    async fn select_for_periodic_review(
        &self,
        request: Request<v1::SelectForPeriodicReviewRequest>,
    ) -> Result<Response<v1::SelectForPeriodicReviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::select_for_review(&caller, request.into_inner())?;
        record(parsed.complaint_id);
        let header = self.header(&caller, parsed.complaint_id).await?;
        let command = Command::SelectForPeriodicReview {
            panel_id: parsed.args,
            sampled_at: self.context.clock.now(),
        };
        let appended = self
            .execute(&caller, parsed.key, &header, command, false)
            .await?;
        Ok(Response::new(v1::SelectForPeriodicReviewResponse {
            receipt: receipt(&appended),
        }))
    }

    async fn get_complaint(
        &self,
        request: Request<v1::GetComplaintRequest>,
    ) -> Result<Response<v1::GetComplaintResponse>, Status> {
        self.get(request).await
    }

    async fn list_complaints(
        &self,
        request: Request<v1::ListComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        self.list(request).await
    }

    async fn get_complaint_deadlines(
        &self,
        request: Request<v1::GetComplaintDeadlinesRequest>,
    ) -> Result<Response<v1::GetComplaintDeadlinesResponse>, Status> {
        self.deadlines(request).await
    }

    async fn list_closed_complaint_samples(
        &self,
        request: Request<v1::ListClosedComplaintSamplesRequest>,
    ) -> Result<Response<v1::ListClosedComplaintSamplesResponse>, Status> {
        self.samples(request).await
    }
}
