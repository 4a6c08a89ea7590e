//! `LearningReviewsService`: the `redress.learning_reviews.v1.LearningReviews` handlers. Each
//! reads in three steps — parse (`parse`), execute (`commands` or a read-model query in
//! `queries`), reply — and every failure becomes a `Status` in one place,
//! `impl From<Error> for Status`.
//!
//! # Roles (domain research §5.2)
//! | RPC | Roles |
//! |---|---|
//! | ReportIncident | hmci, board_chair, family_liaison |
//! | AssessIncident, DecideNoReview | hmci, board_chair |
//! | ProposeLearningReview, ApproveCommission, CommissionLearningReview, AppointReviewer, PublishTermsOfReference, GrantRecordsAccess | hmci, board_chair |
//! | RecordInterview, RecordSpecialistAdvice, SubmitReport | independent_reviewer (the one appointed) |
//! | OfferFamilyEngagement, RecordFamilyEngagement | family_liaison, independent_reviewer (the one appointed) |
//! | PublishReport, PublishResponse, DisseminateLessons, CloseLearningReview | hmci, board_chair |
//! | RespondToRecommendation, PublishMonitoringReport, RecordActionImplemented, TransferAction | hmci, board_chair, recommendation_owner |
//! | GetIncident | hmci, board_chair, family_liaison, auditor |
//! | GetLearningReview | hmci, board_chair, recommendation_owner, family_liaison, independent_reviewer (own review), auditor |
//! | ListLearningReviews, ListRegister | hmci, board_chair, recommendation_owner, auditor |
//!
//! Every other role is denied. `ApproveCommission` approves as the caller's role: `hmci` as
//! HMCI, `board_chair` as the Chair. An independent reviewer acting on a review they are not
//! appointed to is refused `NOT_THE_REVIEWER`, and asking for it is `NOT_FOUND`. The
//! independent body has no access: nothing of this context reaches it.

mod commands;
mod error;
mod parse;
mod queries;

pub(crate) use error::Error;

use std::sync::Arc;

use platform::event_store::Appended;
use platform::grpc::{AccessPolicy, Role, ServerConfig, principal};
use proto::learning_reviews::v1::learning_reviews_server::{
    LearningReviews, LearningReviewsServer,
};
use tonic::{Request, Response, Status};

use crate::app::Context;
use crate::domain::review::Command;
use crate::domain::{incident, v1};
use crate::read_models::ReadModels;

const LEADERSHIP: [Role; 2] = [Role::Hmci, Role::BoardChair];
const RESPONDERS: [Role; 3] = [Role::Hmci, Role::BoardChair, Role::RecommendationOwner];
const REVIEWER: [Role; 1] = [Role::IndependentReviewer];
const FAMILY: [Role; 2] = [Role::FamilyLiaison, Role::IndependentReviewer];
const OVERSIGHT: [Role; 4] = [
    Role::Hmci,
    Role::BoardChair,
    Role::RecommendationOwner,
    Role::Auditor,
];

/// Adds an `allow` for every LearningReviews RPC to `policy` (deny by default otherwise).
pub fn access_policy(policy: AccessPolicy) -> AccessPolicy {
    let rpc = |name: &str| parse::method(name);
    let mut policy = policy.allow(
        &rpc("ReportIncident"),
        [Role::Hmci, Role::BoardChair, Role::FamilyLiaison],
    );
    for name in [
        "AssessIncident",
        "DecideNoReview",
        "ProposeLearningReview",
        "ApproveCommission",
        "CommissionLearningReview",
        "AppointReviewer",
        "PublishTermsOfReference",
        "GrantRecordsAccess",
        "PublishReport",
        "PublishResponse",
        "DisseminateLessons",
        "CloseLearningReview",
    ] {
        policy = policy.allow(&rpc(name), LEADERSHIP);
    }
    for name in ["RecordInterview", "RecordSpecialistAdvice", "SubmitReport"] {
        policy = policy.allow(&rpc(name), REVIEWER);
    }
    for name in ["OfferFamilyEngagement", "RecordFamilyEngagement"] {
        policy = policy.allow(&rpc(name), FAMILY);
    }
    for name in [
        "RespondToRecommendation",
        "PublishMonitoringReport",
        "RecordActionImplemented",
        "TransferAction",
    ] {
        policy = policy.allow(&rpc(name), RESPONDERS);
    }
    policy
        .allow(
            &rpc("GetIncident"),
            [
                Role::Hmci,
                Role::BoardChair,
                Role::FamilyLiaison,
                Role::Auditor,
            ],
        )
        .allow(
            &rpc("GetLearningReview"),
            OVERSIGHT
                .into_iter()
                .chain([Role::FamilyLiaison, Role::IndependentReviewer]),
        )
        .allow(&rpc("ListLearningReviews"), OVERSIGHT)
        .allow(&rpc("ListRegister"), OVERSIGHT)
}

/// The LearningReviews gRPC server, with the configured message limits.
pub fn service(
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
    config: &ServerConfig,
) -> LearningReviewsServer<LearningReviewsService> {
    platform::grpc::limited!(
        LearningReviewsServer::new(LearningReviewsService {
            context,
            read_models
        }),
        config
    )
}

/// The learning-reviews gRPC service.
#[derive(Debug)]
pub struct LearningReviewsService {
    context: Arc<Context>,
    read_models: Arc<ReadModels>,
}

/// Names the incident or review on the request's span.
fn record(field: &'static str, id: uuid::Uuid) {
    tracing::Span::current().record(field, tracing::field::display(id));
}

fn receipt(appended: &Appended) -> Option<proto::common::v1::CommandReceipt> {
    Some(appended.receipt())
}

#[tonic::async_trait]
impl LearningReviews for LearningReviewsService {
    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn report_incident(
        &self,
        request: Request<v1::ReportIncidentRequest>,
    ) -> Result<Response<v1::ReportIncidentResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::report(&caller, request.into_inner())?;
        let appended = self.report(&caller, parsed).await?;
        Ok(Response::new(v1::ReportIncidentResponse {
            incident_id: appended.stream_id.to_string(),
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn assess_incident(
        &self,
        request: Request<v1::AssessIncidentRequest>,
    ) -> Result<Response<v1::AssessIncidentResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::assess(&caller, request.into_inner())?;
        let appended = self
            .on_incident(&caller, parsed, true, |assessment_ref, by, now, policy| {
                incident::Command::Assess {
                    by,
                    assessment_ref,
                    policy,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::AssessIncidentResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(incident_id))]
    async fn decide_no_review(
        &self,
        request: Request<v1::DecideNoReviewRequest>,
    ) -> Result<Response<v1::DecideNoReviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::no_review(&caller, request.into_inner())?;
        let appended = self
            .on_incident(&caller, parsed, false, |reasons_ref, by, now, _| {
                incident::Command::DecideNoReview {
                    by,
                    reasons_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::DecideNoReviewResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(incident_id, review_id))]
    async fn propose_learning_review(
        &self,
        request: Request<v1::ProposeLearningReviewRequest>,
    ) -> Result<Response<v1::ProposeLearningReviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::propose(&caller, request.into_inner())?;
        let (appended, review) = self.propose(&caller, parsed).await?;
        Ok(Response::new(v1::ProposeLearningReviewResponse {
            review_id: appended.stream_id.to_string(),
            required_approvers: review
                .required_approvers()
                .iter()
                .map(|a| a.to_proto())
                .collect(),
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn approve_commission(
        &self,
        request: Request<v1::ApproveCommissionRequest>,
    ) -> Result<Response<v1::ApproveCommissionResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "ApproveCommission",
            &r.request_id,
            &r.review_id,
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |(), by, now, _| {
                Command::ApproveCommission { by, now }
            })
            .await?;
        Ok(Response::new(v1::ApproveCommissionResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(incident_id, review_id))]
    async fn commission_learning_review(
        &self,
        request: Request<v1::CommissionLearningReviewRequest>,
    ) -> Result<Response<v1::CommissionLearningReviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "CommissionLearningReview",
            &r.request_id,
            &r.review_id,
            &r,
        )?;
        let appended = self.commission(&caller, parsed).await?;
        Ok(Response::new(v1::CommissionLearningReviewResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn appoint_reviewer(
        &self,
        request: Request<v1::AppointReviewerRequest>,
    ) -> Result<Response<v1::AppointReviewerResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::appointment(&caller, request.into_inner())?;
        let appended = self.appoint(&caller, parsed).await?;
        Ok(Response::new(v1::AppointReviewerResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn publish_terms_of_reference(
        &self,
        request: Request<v1::PublishTermsOfReferenceRequest>,
    ) -> Result<Response<v1::PublishTermsOfReferenceResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "PublishTermsOfReference",
            &r.request_id,
            &r.review_id,
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |(), by, now, _| {
                Command::PublishTermsOfReference { by, now }
            })
            .await?;
        Ok(Response::new(v1::PublishTermsOfReferenceResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn grant_records_access(
        &self,
        request: Request<v1::GrantRecordsAccessRequest>,
    ) -> Result<Response<v1::GrantRecordsAccessResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "GrantRecordsAccess",
            &r.request_id,
            &r.review_id,
            "records_ref",
            r.records_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |records_ref, by, now, _| {
                Command::GrantRecordsAccess {
                    by,
                    records_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::GrantRecordsAccessResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn record_interview(
        &self,
        request: Request<v1::RecordInterviewRequest>,
    ) -> Result<Response<v1::RecordInterviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::interview(&caller, request.into_inner())?;
        let appended = self
            .on_review(
                &caller,
                parsed,
                false,
                |(interview_ref, consent_ref), by, now, _| Command::RecordInterview {
                    by,
                    interview_ref,
                    consent_ref,
                    now,
                },
            )
            .await?;
        Ok(Response::new(v1::RecordInterviewResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn offer_family_engagement(
        &self,
        request: Request<v1::OfferFamilyEngagementRequest>,
    ) -> Result<Response<v1::OfferFamilyEngagementResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "OfferFamilyEngagement",
            &r.request_id,
            &r.review_id,
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |(), by, now, _| {
                Command::OfferFamilyEngagement { by, now }
            })
            .await?;
        Ok(Response::new(v1::OfferFamilyEngagementResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn record_family_engagement(
        &self,
        request: Request<v1::RecordFamilyEngagementRequest>,
    ) -> Result<Response<v1::RecordFamilyEngagementResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "RecordFamilyEngagement",
            &r.request_id,
            &r.review_id,
            "notes_ref",
            r.notes_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |notes_ref, by, now, _| {
                Command::RecordFamilyEngagement { by, notes_ref, now }
            })
            .await?;
        Ok(Response::new(v1::RecordFamilyEngagementResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn record_specialist_advice(
        &self,
        request: Request<v1::RecordSpecialistAdviceRequest>,
    ) -> Result<Response<v1::RecordSpecialistAdviceResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "RecordSpecialistAdvice",
            &r.request_id,
            &r.review_id,
            "advice_ref",
            r.advice_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |advice_ref, by, now, _| {
                Command::RecordSpecialistAdvice {
                    by,
                    advice_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::RecordSpecialistAdviceResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn submit_report(
        &self,
        request: Request<v1::SubmitReportRequest>,
    ) -> Result<Response<v1::SubmitReportResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::submission(&caller, request.into_inner())?;
        let appended = self
            .on_review(&caller, parsed, false, |submission, by, now, _| {
                Command::SubmitReport {
                    by,
                    report_ref: submission.report_ref,
                    recommendations: submission.recommendations,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::SubmitReportResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn publish_report(
        &self,
        request: Request<v1::PublishReportRequest>,
    ) -> Result<Response<v1::PublishReportResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "PublishReport",
            &r.request_id,
            &r.review_id,
            "published_ref",
            r.published_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |published_ref, by, now, _| {
                Command::PublishReport {
                    by,
                    published_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::PublishReportResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn respond_to_recommendation(
        &self,
        request: Request<v1::RespondToRecommendationRequest>,
    ) -> Result<Response<v1::RespondToRecommendationResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::response(&caller, request.into_inner())?;
        let appended = self
            .on_review(&caller, parsed, false, |answer, by, now, _| {
                Command::RespondToRecommendation {
                    by,
                    recommendation_id: answer.recommendation_id,
                    response: answer.response,
                    reasons_ref: answer.reasons_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::RespondToRecommendationResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn publish_response(
        &self,
        request: Request<v1::PublishResponseRequest>,
    ) -> Result<Response<v1::PublishResponseResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "PublishResponse",
            &r.request_id,
            &r.review_id,
            "response_ref",
            r.response_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, false, |response_ref, by, now, _| {
                Command::PublishResponse {
                    by,
                    response_ref,
                    now,
                }
            })
            .await?;
        Ok(Response::new(v1::PublishResponseResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn publish_monitoring_report(
        &self,
        request: Request<v1::PublishMonitoringReportRequest>,
    ) -> Result<Response<v1::PublishMonitoringReportResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::with_reference(
            &caller,
            "PublishMonitoringReport",
            &r.request_id,
            &r.review_id,
            "monitoring_report_ref",
            r.monitoring_report_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(
                &caller,
                parsed,
                false,
                |monitoring_report_ref, by, now, _| Command::PublishMonitoringReport {
                    by,
                    monitoring_report_ref,
                    now,
                },
            )
            .await?;
        Ok(Response::new(v1::PublishMonitoringReportResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn record_action_implemented(
        &self,
        request: Request<v1::RecordActionImplementedRequest>,
    ) -> Result<Response<v1::RecordActionImplementedResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::action(
            &caller,
            "RecordActionImplemented",
            &r.request_id,
            &r.review_id,
            r.recommendation_id.clone(),
            "evidence_ref",
            r.evidence_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(
                &caller,
                parsed,
                true,
                |(recommendation_id, evidence_ref), by, now, policy| {
                    Command::RecordActionImplemented {
                        by,
                        recommendation_id,
                        evidence_ref,
                        policy,
                        now,
                    }
                },
            )
            .await?;
        Ok(Response::new(v1::RecordActionImplementedResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn transfer_action(
        &self,
        request: Request<v1::TransferActionRequest>,
    ) -> Result<Response<v1::TransferActionResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::action(
            &caller,
            "TransferAction",
            &r.request_id,
            &r.review_id,
            r.recommendation_id.clone(),
            "transferred_to_ref",
            r.transferred_to_ref.clone(),
            &r,
        )?;
        let appended = self
            .on_review(
                &caller,
                parsed,
                true,
                |(recommendation_id, transferred_to_ref), by, now, policy| {
                    Command::TransferAction {
                        by,
                        recommendation_id,
                        transferred_to_ref,
                        policy,
                        now,
                    }
                },
            )
            .await?;
        Ok(Response::new(v1::TransferActionResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn disseminate_lessons(
        &self,
        request: Request<v1::DisseminateLessonsRequest>,
    ) -> Result<Response<v1::DisseminateLessonsResponse>, Status> {
        let caller = principal(&request)?.clone();
        let parsed = parse::dissemination(&caller, request.into_inner())?;
        let appended = self
            .on_review(
                &caller,
                parsed,
                false,
                |(audiences, lessons_ref), by, now, _| Command::DisseminateLessons {
                    by,
                    audiences,
                    lessons_ref,
                    now,
                },
            )
            .await?;
        Ok(Response::new(v1::DisseminateLessonsResponse {
            receipt: receipt(&appended),
        }))
    }

    #[tracing::instrument(skip_all, fields(review_id))]
    async fn close_learning_review(
        &self,
        request: Request<v1::CloseLearningReviewRequest>,
    ) -> Result<Response<v1::CloseLearningReviewResponse>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let parsed = parse::plain(
            &caller,
            "CloseLearningReview",
            &r.request_id,
            &r.review_id,
            &r,
        )?;
        let appended = self
            .on_review(&caller, parsed, true, |(), by, now, policy| {
                Command::Close { by, policy, now }
            })
            .await?;
        Ok(Response::new(v1::CloseLearningReviewResponse {
            receipt: receipt(&appended),
        }))
    }

    async fn get_incident(
        &self,
        request: Request<v1::GetIncidentRequest>,
    ) -> Result<Response<v1::GetIncidentResponse>, Status> {
        self.get_incident_query(request).await
    }

    async fn get_learning_review(
        &self,
        request: Request<v1::GetLearningReviewRequest>,
    ) -> Result<Response<v1::GetLearningReviewResponse>, Status> {
        self.get_review_query(request).await
    }

    async fn list_learning_reviews(
        &self,
        request: Request<v1::ListLearningReviewsRequest>,
    ) -> Result<Response<v1::ListLearningReviewsResponse>, Status> {
        self.list_reviews_query(request).await
    }

    async fn list_register(
        &self,
        request: Request<v1::ListRegisterRequest>,
    ) -> Result<Response<v1::ListRegisterResponse>, Status> {
        self.list_register_query(request).await
    }
}
