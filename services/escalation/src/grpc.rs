//! `EscalationsService`: the `redress.escalation.v1.Escalations` handlers. Each reads in three
//! steps — parse (`parse`), execute (`commands` or a read-model query), reply — and every
//! failure becomes a `Status` in one place, `impl From<Error> for Status`.
//!
//! # Roles (domain research §5.2)
//! | RPC | Roles |
//! |---|---|
//! | RequestEscalation, WithdrawEscalation | provider_representative, responsible_body (own provider) |
//! | AcceptReferral, DeclineReferral, AppointAdjudicator | independent_body |
//! | RequestCaseFile, IssueFindings | independent_body, adjudicator (the one appointed) |
//! | AcceptRecommendation, DeclineRecommendation, RecordImplementation, CloseEscalation | recommendation_owner |
//! | GetEscalation | provider roles (own provider), recommendation_owner, complaints_decision_maker, auditor |
//! | ListEscalationQueue | independent_body, adjudicator (own cases), auditor |
//! | ListRecommendations | recommendation_owner, independent_body, adjudicator, hmci, board_chair, auditor |
//!
//! Every other role is denied. A provider caller asking about another provider's escalation, and
//! the independent body asking about a request that was refused (never referred to it), get
//! `NOT_FOUND`.

mod commands;
mod error;
mod parse;
mod queries;

pub(crate) use error::Error;

use std::sync::Arc;

use platform::event_store::Appended;
use platform::grpc::{AccessPolicy, Role, ServerConfig, principal};
use proto::escalation::v1::escalations_server::{Escalations, EscalationsServer};
use tonic::{Request, Response, Status};

use crate::app::Context;
use crate::domain::escalation::Command;
use crate::domain::{Ground, document_id, v1};
use crate::read_models::ReadModels;
use commands::actor;

const PROVIDER: [Role; 2] = [Role::ProviderRepresentative, Role::ResponsibleBody];
const BODY: [Role; 2] = [Role::IndependentBody, Role::Adjudicator];

/// Adds an `allow` for every Escalations RPC to `policy` (deny by default otherwise).
pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
    let rpc = |name: &str| parse::method(name);
    let owner = [Role::RecommendationOwner];
    policy
        .allow(&rpc("RequestEscalation"), PROVIDER)
        .allow(&rpc("WithdrawEscalation"), PROVIDER)
        .allow(&rpc("AcceptReferral"), [Role::IndependentBody])
        .allow(&rpc("DeclineReferral"), [Role::IndependentBody])
        .allow(&rpc("AppointAdjudicator"), [Role::IndependentBody])
        .allow(&rpc("RequestCaseFile"), BODY)
        .allow(&rpc("IssueFindings"), BODY)
        .allow(&rpc("AcceptRecommendation"), owner)
        .allow(&rpc("DeclineRecommendation"), owner)
        .allow(&rpc("RecordImplementation"), owner)
        .allow(&rpc("CloseEscalation"), owner)
        .allow(
            &rpc("GetEscalation"),
            [
                Role::ProviderRepresentative,
                Role::ResponsibleBody,
                Role::RecommendationOwner,
                Role::ComplaintsDecisionMaker,
                Role::Auditor,
            ],
        )
        .allow(
            &rpc("ListEscalationQueue"),
            [Role::IndependentBody, Role::Adjudicator, Role::Auditor],
        )
        .allow(
            &rpc("ListRecommendations"),
            [
                Role::RecommendationOwner,
                Role::IndependentBody,
                Role::Adjudicator,
                Role::Hmci,
                Role::BoardChair,
                Role::Auditor,
            ],
        )
}

/// The Escalations gRPC server, with the configured message limits.
pub fn service(
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
    config: &ServerConfig,
) -> EscalationsServer<EscalationsService> {
    platform::grpc::limited!(
        EscalationsServer::new(EscalationsService {
            context,
            read_models
        }),
        config
    )
}

/// The escalation gRPC service.
#[derive(Debug)]
pub struct EscalationsService {
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
}

/// Names the escalation on the request's span.
fn record(escalation_id: uuid::Uuid) {
    tracing::Span::current().record("escalation_id", tracing::field::display(escalation_id));
}

fn receipt(appended: &Appended) -> Option<proto::common::v1::CommandReceipt> {
    Some(appended.receipt())
}

#[tonic::async_trait]
impl Escalations for EscalationsService {
    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn request_escalation(
        &self,
        request: Request<v1::RequestEscalationRequest>,
    ) -> Result<Response<v1::RequestEscalationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::request(&caller, request.into_inner())?;
        let requested = self
            .request(
                &caller,
                parsed.key,
                parsed.complaint_id,
                parsed.grounds.into_iter().collect(),
                parsed.asks.into_iter().collect(),
            )
            .await?;
        record(requested.appended.stream_id);
        Ok(Response::new(v1::RequestEscalationResponse {
            escalation_id: requested.appended.stream_id.to_string(),
            case_ref: requested.case_ref,
            grounds: requested.grounds,
            out_of_remit_asks: requested.asks,
            receipt: receipt(&requested.appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn withdraw_escalation(
        &self,
        request: Request<v1::WithdrawEscalationRequest>,
    ) -> Result<Response<v1::WithdrawEscalationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "WithdrawEscalation",
            &r.request_id,
            &r.escalation_id,
            &r,
        )?;
        let appended = self
            .run(&caller, parsed, false, |(), by, now, _| Command::Withdraw {
                by,
                now,
            })
            .await?;
        Ok(Response::new(v1::WithdrawEscalationResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn accept_referral(
        &self,
        request: Request<v1::AcceptReferralRequest>,
    ) -> Result<Response<v1::AcceptReferralResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "AcceptReferral",
            &r.request_id,
            &r.escalation_id,
            &r,
        )?;
        let appended = self
            .run(&caller, parsed, false, |(), by, now, _| {
                Command::AcceptReferral { by, now }
            })
            .await?;
        Ok(Response::new(v1::AcceptReferralResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn decline_referral(
        &self,
        request: Request<v1::DeclineReferralRequest>,
    ) -> Result<Response<v1::DeclineReferralResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "DeclineReferral",
            &r.request_id,
            &r.escalation_id,
            "reason_ref",
            r.reason_ref.clone(),
            &r,
        )?;
        let appended = self
            .run(&caller, parsed, false, |reason_ref, by, now, _| {
                Command::DeclineReferral {
                    by,
                    reason_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::DeclineReferralResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn appoint_adjudicator(
        &self,
        request: Request<v1::AppointAdjudicatorRequest>,
    ) -> Result<Response<v1::AppointAdjudicatorResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "AppointAdjudicator",
            &r.request_id,
            &r.escalation_id,
            "adjudicator_ref",
            r.adjudicator_ref.clone(),
            &r,
        )?;
        let appended = self
            .run(&caller, parsed, false, |adjudicator_ref, by, now, _| {
                Command::AppointAdjudicator {
                    by,
                    adjudicator_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::AppointAdjudicatorResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn request_case_file(
        &self,
        request: Request<v1::RequestCaseFileRequest>,
    ) -> Result<Response<v1::RequestCaseFileResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "RequestCaseFile",
            &r.request_id,
            &r.escalation_id,
            &r,
        )?;
        record(parsed.escalation_id);
        let header = self.header(&caller, parsed.escalation_id).await?;
        let documents = header.record.documents();
        let command = Command::RequestCaseFile {
            by: actor(&caller),
            doc_refs: documents.iter().map(|d| d.doc_ref.clone()).collect(),
            now: self.context.clock.now(),
        };
        let appended = self
            .execute(&caller, parsed.key, parsed.escalation_id, command, None)
            .await?;
        let submission = header.record.submission();
        let outcome = header
            .record
            .facts()
            .and_then(|f| f.response.as_ref())
            .and_then(|r| r.outcome);
        Ok(Response::new(v1::RequestCaseFileResponse {
            escalation_id: parsed.escalation_id.to_string(),
            case_ref: header.escalation.case_ref().to_owned(),
            complaint_id: header.escalation.complaint_id().to_string(),
            inspection_id: submission
                .map(|s| s.inspection_id.to_string())
                .unwrap_or_default(),
            provider_id: submission
                .map(|s| s.provider_id.clone())
                .unwrap_or_default(),
            remit: submission.and_then(|s| s.remit).map_or(0, |r| r.to_proto()),
            complaint_outcome: outcome.map_or(0, |o| o.to_proto()),
            documents: documents
                .into_iter()
                .map(|d| v1::CaseDocument {
                    document_id: document_id(parsed.escalation_id, &d.doc_ref),
                    kind: d.kind.to_proto(),
                    doc_ref: d.doc_ref,
                })
                .collect(),
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn issue_findings(
        &self,
        request: Request<v1::IssueFindingsRequest>,
    ) -> Result<Response<v1::IssueFindingsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::findings(&caller, r)?;
        let appended = self
            .run(&caller, parsed, false, |findings, by, now, _| {
                Command::IssueFindings {
                    by,
                    findings_ref: findings.findings_ref,
                    upheld_grounds: findings.upheld_grounds.into_iter().collect::<Vec<Ground>>(),
                    recommendations: findings.recommendations,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::IssueFindingsResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn accept_recommendation(
        &self,
        request: Request<v1::AcceptRecommendationRequest>,
    ) -> Result<Response<v1::AcceptRecommendationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::accept(&caller, r)?;
        let appended = self
            .run(&caller, parsed, true, |acceptance, by, now, policy| {
                Command::AcceptRecommendation {
                    by,
                    recommendation_id: acceptance.recommendation_id,
                    planned_action_ref: acceptance.planned_action_ref,
                    due_on: acceptance.due_on,
                    policy,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::AcceptRecommendationResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn decline_recommendation(
        &self,
        request: Request<v1::DeclineRecommendationRequest>,
    ) -> Result<Response<v1::DeclineRecommendationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::decline(&caller, r)?;
        let appended = self
            .run(&caller, parsed, false, |decline, by, now, _| {
                Command::DeclineRecommendation {
                    by,
                    recommendation_id: decline.recommendation_id,
                    public_reason_ref: decline.public_reason_ref,
                    statement_ref: decline.statement_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::DeclineRecommendationResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn record_implementation(
        &self,
        request: Request<v1::RecordImplementationRequest>,
    ) -> Result<Response<v1::RecordImplementationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::implementation(&caller, r)?;
        let appended = self
            .run(&caller, parsed, false, |implementation, by, now, _| {
                Command::RecordImplemented {
                    by,
                    recommendation_id: implementation.recommendation_id,
                    evidence_ref: implementation.evidence_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::RecordImplementationResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(escalation_id))]
    async fn close_escalation(
        &self,
        request: Request<v1::CloseEscalationRequest>,
    ) -> Result<Response<v1::CloseEscalationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "CloseEscalation",
            &r.request_id,
            &r.escalation_id,
            &r,
        )?;
        let appended = self
            .run(&caller, parsed, true, |(), by, now, policy| {
                Command::Close { by, policy, now }
            })
            .await?;
        Ok(Response::new(v1::CloseEscalationResponse {
            receipt: receipt(&appended),
        }))
    }

    async fn get_escalation(
        &self,
        request: Request<v1::GetEscalationRequest>,
    ) -> Result<Response<v1::GetEscalationResponse>, Status> {
        self.get(request).await
    }

    async fn list_escalation_queue(
        &self,
        request: Request<v1::ListEscalationQueueRequest>,
    ) -> Result<Response<v1::ListEscalationQueueResponse>, Status> {
        self.queue(request).await
    }

    async fn list_recommendations(
        &self,
        request: Request<v1::ListRecommendationsRequest>,
    ) -> Result<Response<v1::ListRecommendationsResponse>, Status> {
        self.register(request).await
    }
}
