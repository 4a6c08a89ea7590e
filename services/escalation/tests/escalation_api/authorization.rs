//! The role rules, cell by cell: every Escalations RPC called by every role. A role outside the
//! RPC's rule gets PERMISSION_DENIED and writes nothing; a role inside it gets past
//! authorization; a call without a token is UNAUTHENTICATED.

use platform::grpc::Role;
use proto::escalation::v1;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::helpers::*;

/// The roles allowed on each RPC (services/escalation/src/grpc.rs, domain research §5.2).
fn allowed(rpc: &str) -> &'static [Role] {
    use Role::*;
    match rpc {
        "RequestEscalation" | "WithdrawEscalation" => &[ProviderRepresentative, ResponsibleBody],
        "AcceptReferral" | "DeclineReferral" | "AppointAdjudicator" => &[IndependentBody],
        "RequestCaseFile" | "IssueFindings" => &[IndependentBody, Adjudicator],
        "AcceptRecommendation"
        | "DeclineRecommendation"
        | "RecordImplementation"
        | "CloseEscalation" => &[RecommendationOwner],
        "GetEscalation" => &[
            ProviderRepresentative,
            ResponsibleBody,
            RecommendationOwner,
            ComplaintsDecisionMaker,
            Auditor,
        ],
        "ListEscalationQueue" => &[IndependentBody, Adjudicator, Auditor],
        "ListRecommendations" => &[
            RecommendationOwner,
            IndependentBody,
            Adjudicator,
            Hmci,
            BoardChair,
            Auditor,
        ],
        other => panic!("no rule for {other}"),
    }
}

const RPCS: [&str; 14] = [
    "RequestEscalation",
    "WithdrawEscalation",
    "AcceptReferral",
    "DeclineReferral",
    "AppointAdjudicator",
    "RequestCaseFile",
    "IssueFindings",
    "AcceptRecommendation",
    "DeclineRecommendation",
    "RecordImplementation",
    "CloseEscalation",
    "GetEscalation",
    "ListEscalationQueue",
    "ListRecommendations",
];

/// Calls `rpc` with a well-formed request about an escalation that does not exist.
async fn call(h: &mut Harness, rpc: &str, token: Option<&str>) -> Result<(), Status> {
    fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
        match token {
            Some(token) => with_token(message, token),
            None => tonic::Request::new(message),
        }
    }
    let id = Uuid::now_v7().to_string();
    let key = Uuid::now_v7().to_string();
    let c = &mut h.client;
    match rpc {
        "RequestEscalation" => c
            .request_escalation(request(
                v1::RequestEscalationRequest {
                    request_id: key,
                    complaint_id: id,
                    grounds: vec![1],
                    out_of_remit_asks: vec![],
                },
                token,
            ))
            .await
            .map(drop),
        "WithdrawEscalation" => c
            .withdraw_escalation(request(
                v1::WithdrawEscalationRequest {
                    request_id: key,
                    escalation_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "AcceptReferral" => c
            .accept_referral(request(
                v1::AcceptReferralRequest {
                    request_id: key,
                    escalation_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "DeclineReferral" => c
            .decline_referral(request(
                v1::DeclineReferralRequest {
                    request_id: key,
                    escalation_id: id,
                    reason_ref: "r".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "AppointAdjudicator" => c
            .appoint_adjudicator(request(
                v1::AppointAdjudicatorRequest {
                    request_id: key,
                    escalation_id: id,
                    adjudicator_ref: "a".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "RequestCaseFile" => c
            .request_case_file(request(
                v1::RequestCaseFileRequest {
                    request_id: key,
                    escalation_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "IssueFindings" => c
            .issue_findings(request(
                v1::IssueFindingsRequest {
                    request_id: key,
                    escalation_id: id,
                    findings_ref: "f".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "AcceptRecommendation" => c
            .accept_recommendation(request(
                v1::AcceptRecommendationRequest {
                    request_id: key,
                    escalation_id: id,
                    recommendation_id: "R1".into(),
                    planned_action_ref: "p".into(),
                    due_on: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "DeclineRecommendation" => c
            .decline_recommendation(request(
                v1::DeclineRecommendationRequest {
                    request_id: key,
                    escalation_id: id,
                    recommendation_id: "R1".into(),
                    public_reason_ref: "r".into(),
                    statement_ref: "s".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "RecordImplementation" => c
            .record_implementation(request(
                v1::RecordImplementationRequest {
                    request_id: key,
                    escalation_id: id,
                    recommendation_id: "R1".into(),
                    evidence_ref: "e".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "CloseEscalation" => c
            .close_escalation(request(
                v1::CloseEscalationRequest {
                    request_id: key,
                    escalation_id: id,
                },
                token,
            ))
            .await
            .map(drop),
        "GetEscalation" => c
            .get_escalation(request(
                v1::GetEscalationRequest {
                    escalation_id: id,
                    consistency: None,
                },
                token,
            ))
            .await
            .map(drop),
        "ListEscalationQueue" => c
            .list_escalation_queue(request(v1::ListEscalationQueueRequest::default(), token))
            .await
            .map(drop),
        "ListRecommendations" => c
            .list_recommendations(request(v1::ListRecommendationsRequest::default(), token))
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
async fn only_the_appointed_adjudicator_may_issue_findings() {
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    let other = h
        .app
        .token_for("icaso:adjudicator-9", Role::Adjudicator, None);
    let status = h
        .client
        .issue_findings(with_token(
            v1::IssueFindingsRequest {
                request_id: "f-1".into(),
                escalation_id: id,
                findings_ref: "icaso:findings".into(),
                ..Default::default()
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "NOT_THE_ADJUDICATOR");
}
