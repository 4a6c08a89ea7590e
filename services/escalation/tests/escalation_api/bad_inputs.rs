//! Malformed requests: INVALID_ARGUMENT with a field violation for each bad field, no event
//! written.

use proto::escalation::v1;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::helpers::*;

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_request_with_bad_fields_names_each_and_writes_nothing() {
    let mut h = Harness::start().await;
    let token = h.provider();
    let cases: Vec<(v1::RequestEscalationRequest, Vec<&str>)> = vec![
        (
            v1::RequestEscalationRequest {
                request_id: String::new(),
                complaint_id: "not-a-uuid".into(),
                grounds: vec![0],
                out_of_remit_asks: vec![9999],
            },
            vec![
                "request_id",
                "complaint_id",
                "grounds[0]",
                "out_of_remit_asks[0]",
            ],
        ),
        (
            v1::RequestEscalationRequest {
                request_id: "r".into(),
                complaint_id: Uuid::nil().to_string(),
                grounds: vec![],
                out_of_remit_asks: vec![],
            },
            vec!["complaint_id", "grounds"],
        ),
        (
            v1::RequestEscalationRequest {
                request_id: "r r".into(),
                complaint_id: Uuid::now_v7().to_string(),
                grounds: vec![1, 1],
                out_of_remit_asks: vec![],
            },
            vec!["request_id", "grounds[1]"],
        ),
        (
            v1::RequestEscalationRequest {
                request_id: "x".repeat(129),
                complaint_id: Uuid::now_v7().to_string(),
                grounds: vec![1; 51],
                out_of_remit_asks: vec![],
            },
            vec!["request_id", "grounds"],
        ),
    ];
    for (request, expected) in cases {
        let status = h
            .client
            .request_escalation(with_token(request, &token))
            .await
            .unwrap_err();
        assert_eq!(fields(&status), expected);
    }
    assert_eq!(h.event_count().await, 0);
}

#[tokio::test]
async fn findings_and_decisions_with_bad_fields_are_invalid_arguments() {
    let mut h = Harness::start().await;
    let id = h.appointed().await;
    let events = h.event_count().await;
    let adjudicator = h.adjudicator();
    let status = h
        .client
        .issue_findings(with_token(
            v1::IssueFindingsRequest {
                request_id: "f".into(),
                escalation_id: id.clone(),
                findings_ref: "ref\0with-nul".into(),
                upheld_grounds: vec![0],
                recommendations: vec![
                    v1::FindingsRecommendation {
                        recommendation_id: String::new(),
                        kind: 0,
                        text_ref: "t".repeat(201),
                    };
                    1
                ],
            },
            &adjudicator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "findings_ref",
            "upheld_grounds[0]",
            "recommendations[0].recommendation_id",
            "recommendations[0].kind",
            "recommendations[0].text_ref"
        ]
    );
    let owner = h.owner();
    let status = h
        .client
        .accept_recommendation(with_token(
            v1::AcceptRecommendationRequest {
                request_id: "a".into(),
                escalation_id: id.clone(),
                recommendation_id: "R1".into(),
                planned_action_ref: "   ".into(),
                due_on: "31/01/2026".into(),
            },
            &owner,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["planned_action_ref", "due_on"]);
    let status = h
        .client
        .decline_recommendation(with_token(
            v1::DeclineRecommendationRequest {
                request_id: "d".into(),
                escalation_id: id,
                recommendation_id: "R1".into(),
                public_reason_ref: "\u{202e}reversed".into(),
                statement_ref: String::new(),
            },
            &owner,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["public_reason_ref"]);
    assert_eq!(h.event_count().await, events);
}

#[tokio::test]
async fn queries_with_bad_fields_are_invalid_arguments() {
    let mut h = Harness::start().await;
    let body = h.body();
    let status = h
        .client
        .list_escalation_queue(with_token(
            v1::ListEscalationQueueRequest {
                status: v1::EscalationStatus::Refused as i32,
                page_size: 101,
                page_token: "nope".into(),
                consistency: None,
            },
            &body,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["status", "page_size", "page_token"]);
    let status = h
        .client
        .list_recommendations(with_token(
            v1::ListRecommendationsRequest {
                escalation_id: "x".into(),
                decision: 42,
                page_size: 0,
                page_token: "a/b/c".into(),
                consistency: None,
            },
            &body,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["escalation_id", "decision", "page_token"]);
    let owner = h.owner();
    let status = h
        .client
        .get_escalation(with_token(
            v1::GetEscalationRequest {
                escalation_id: "00000000-0000-0000-0000-000000000000".into(),
                consistency: None,
            },
            &owner,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["escalation_id"]);
}
