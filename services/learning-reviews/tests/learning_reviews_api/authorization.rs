//! The role rules, cell by cell: every LearningReviews RPC called by every role. A role outside
//! the RPC's rule gets PERMISSION_DENIED and writes nothing; a role inside it gets past
//! authorization; a call without a token is UNAUTHENTICATED.

use platform::grpc::Role;
use proto::learning_reviews::v1;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::helpers::*;

/// The roles allowed on each RPC (services/learning-reviews/src/grpc.rs, domain research §5.2).
fn allowed(rpc: &str) -> &'static [Role] {
    use Role::*;
    match rpc {
        "ReportIncident" => &[Hmci, BoardChair, FamilyLiaison],
        "AssessIncident"
        | "DecideNoReview"
        | "ProposeLearningReview"
        | "ApproveCommission"
        | "CommissionLearningReview"
        | "AppointReviewer"
        | "PublishTermsOfReference"
        | "GrantRecordsAccess"
        | "PublishReport"
        | "PublishResponse"
        | "DisseminateLessons"
        | "CloseLearningReview" => &[Hmci, BoardChair],
        "RecordInterview" | "RecordSpecialistAdvice" | "SubmitReport" => &[IndependentReviewer],
        "OfferFamilyEngagement" | "RecordFamilyEngagement" => &[FamilyLiaison, IndependentReviewer],
        "RespondToRecommendation"
        | "PublishMonitoringReport"
        | "RecordActionImplemented"
        | "TransferAction" => &[Hmci, BoardChair, RecommendationOwner],
        "GetIncident" => &[Hmci, BoardChair, FamilyLiaison, Auditor],
        "GetLearningReview" => &[
            Hmci,
            BoardChair,
            RecommendationOwner,
            FamilyLiaison,
            IndependentReviewer,
            Auditor,
        ],
        "ListLearningReviews" | "ListRegister" => &[Hmci, BoardChair, RecommendationOwner, Auditor],
        other => panic!("no rule for {other}"),
    }
}

const RPCS: [&str; 26] = [
    "ReportIncident",
    "AssessIncident",
    "DecideNoReview",
    "ProposeLearningReview",
    "ApproveCommission",
    "CommissionLearningReview",
    "AppointReviewer",
    "PublishTermsOfReference",
    "GrantRecordsAccess",
    "RecordInterview",
    "OfferFamilyEngagement",
    "RecordFamilyEngagement",
    "RecordSpecialistAdvice",
    "SubmitReport",
    "PublishReport",
    "RespondToRecommendation",
    "PublishResponse",
    "PublishMonitoringReport",
    "RecordActionImplemented",
    "TransferAction",
    "DisseminateLessons",
    "CloseLearningReview",
    "GetIncident",
    "GetLearningReview",
    "ListLearningReviews",
    "ListRegister",
];

/// Calls `rpc` with a request about an incident or review that does not exist (and, for
/// `ReportIncident`, without its account, so an admitted call writes nothing either).
#[allow(clippy::too_many_lines)]
async fn call(h: &mut Harness, rpc: &str, token: Option<&str>) -> Result<(), Status> {
    fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
        match token {
            Some(token) => with_token(message, token),
            None => tonic::Request::new(message),
        }
    }
    let id = Uuid::now_v7().to_string();
    let request_id = key();
    let c = &mut h.client;
    match rpc {
        "ReportIncident" => c
            .report_incident(request(
                v1::ReportIncidentRequest {
                    request_id,
                    source: 1,
                    category: 1,
                    related_inspection_ids: vec![],
                    account_ref: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "AssessIncident" => c
            .assess_incident(request(
                v1::AssessIncidentRequest {
                    request_id,
                    incident_id: id,
                    assessment_ref: "a".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "DecideNoReview" => c
            .decide_no_review(request(
                v1::DecideNoReviewRequest {
                    request_id,
                    incident_id: id,
                    reasons_ref: "r".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "ProposeLearningReview" => c
            .propose_learning_review(request(
                v1::ProposeLearningReviewRequest {
                    request_id,
                    incident_id: id,
                    terms_of_reference_ref: "t".into(),
                    scope_in: vec![1],
                    scope_out: vec![6],
                },
                token,
            ))
            .await
            .map(drop),
        "ApproveCommission" => c
            .approve_commission(request(
                v1::ApproveCommissionRequest {
                    request_id,
                    review_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "CommissionLearningReview" => c
            .commission_learning_review(request(
                v1::CommissionLearningReviewRequest {
                    request_id,
                    review_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "AppointReviewer" => c
            .appoint_reviewer(request(
                v1::AppointReviewerRequest {
                    request_id,
                    review_id: id,
                    reviewer_ref: "x".into(),
                    independence_declaration_ref: "d".into(),
                    prior_roles: vec![1],
                },
                token,
            ))
            .await
            .map(drop),
        "PublishTermsOfReference" => c
            .publish_terms_of_reference(request(
                v1::PublishTermsOfReferenceRequest {
                    request_id,
                    review_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "GrantRecordsAccess" => c
            .grant_records_access(request(
                v1::GrantRecordsAccessRequest {
                    request_id,
                    review_id: id,
                    records_ref: "r".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "RecordInterview" => c
            .record_interview(request(
                v1::RecordInterviewRequest {
                    request_id,
                    review_id: id,
                    interview_ref: "i".into(),
                    named_with_consent_ref: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "OfferFamilyEngagement" => c
            .offer_family_engagement(request(
                v1::OfferFamilyEngagementRequest {
                    request_id,
                    review_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "RecordFamilyEngagement" => c
            .record_family_engagement(request(
                v1::RecordFamilyEngagementRequest {
                    request_id,
                    review_id: id,
                    notes_ref: "n".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "RecordSpecialistAdvice" => c
            .record_specialist_advice(request(
                v1::RecordSpecialistAdviceRequest {
                    request_id,
                    review_id: id,
                    advice_ref: "a".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "SubmitReport" => c
            .submit_report(request(
                v1::SubmitReportRequest {
                    request_id,
                    review_id: id,
                    report_ref: "r".into(),
                    recommendations: vec![],
                },
                token,
            ))
            .await
            .map(drop),
        "PublishReport" => c
            .publish_report(request(
                v1::PublishReportRequest {
                    request_id,
                    review_id: id,
                    published_ref: "p".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "RespondToRecommendation" => c
            .respond_to_recommendation(request(
                v1::RespondToRecommendationRequest {
                    request_id,
                    review_id: id,
                    recommendation_id: "R1".into(),
                    response: 1,
                    reasons_ref: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "PublishResponse" => c
            .publish_response(request(
                v1::PublishResponseRequest {
                    request_id,
                    review_id: id,
                    response_ref: "r".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "PublishMonitoringReport" => c
            .publish_monitoring_report(request(
                v1::PublishMonitoringReportRequest {
                    request_id,
                    review_id: id,
                    monitoring_report_ref: "m".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "RecordActionImplemented" => c
            .record_action_implemented(request(
                v1::RecordActionImplementedRequest {
                    request_id,
                    review_id: id,
                    recommendation_id: "R1".into(),
                    evidence_ref: "e".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "TransferAction" => c
            .transfer_action(request(
                v1::TransferActionRequest {
                    request_id,
                    review_id: id,
                    recommendation_id: "R1".into(),
                    transferred_to_ref: "t".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "DisseminateLessons" => c
            .disseminate_lessons(request(
                v1::DisseminateLessonsRequest {
                    request_id,
                    review_id: id,
                    audiences: vec![1],
                    lessons_ref: "l".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "CloseLearningReview" => c
            .close_learning_review(request(
                v1::CloseLearningReviewRequest {
                    request_id,
                    review_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "GetIncident" => c
            .get_incident(request(
                v1::GetIncidentRequest {
                    incident_id: id,
                    consistency: None,
                },
                token,
            ))
            .await
            .map(drop),
        "GetLearningReview" => c
            .get_learning_review(request(
                v1::GetLearningReviewRequest {
                    review_id: id,
                    consistency: None,
                },
                token,
            ))
            .await
            .map(drop),
        "ListLearningReviews" => c
            .list_learning_reviews(request(v1::ListLearningReviewsRequest::default(), token))
            .await
            .map(drop),
        "ListRegister" => c
            .list_register(request(v1::ListRegisterRequest::default(), token))
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

#[tokio::test]
async fn every_rpc_admits_exactly_its_roles() {
    let mut h = Harness::start().await;
    let mut cells = 0;
    for rpc in RPCS {
        for role in Role::ALL {
            let token = h.token(role);
            let result = call(&mut h, rpc, Some(&token)).await;
            let code = result.as_ref().err().map(Status::code);
            if allowed(rpc).contains(&role) {
                assert!(
                    !matches!(code, Some(Code::PermissionDenied | Code::Unauthenticated)),
                    "{rpc} should admit {role}: {result:?}"
                );
            } else {
                assert_eq!(
                    code,
                    Some(Code::PermissionDenied),
                    "{rpc} should deny {role}"
                );
            }
            cells += 1;
        }
    }
    assert_eq!(cells, RPCS.len() * Role::ALL.len());
    assert_eq!(
        h.event_count().await,
        0,
        "no call about nothing wrote anything"
    );
}

#[tokio::test]
async fn every_rpc_refuses_a_call_without_a_token() {
    let mut h = Harness::start().await;
    for rpc in RPCS {
        let status = call(&mut h, rpc, None).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{rpc}");
    }
}

#[tokio::test]
async fn the_independent_body_and_its_adjudicators_see_nothing_of_this_context() {
    let mut h = Harness::start().await;
    for role in [Role::IndependentBody, Role::Adjudicator] {
        let token = h.token(role);
        for rpc in RPCS {
            let status = call(&mut h, rpc, Some(&token)).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{rpc} for {role}");
        }
    }
}
